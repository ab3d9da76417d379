#include "lifecycle/go_json.h"

#include <pthread.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hatch::lifecycle {
namespace {

using ::testing::HasSubstr;

// Decode then encode, as the original does with VCAP_APPLICATION.
std::string RoundTrip(const std::string& json) {
  auto doc = ParseGoJson(json);
  if (!doc.ok()) return "error: " + std::string(doc.status().message());
  return GoMarshal(*doc);
}

TEST(GoJson, SortsObjectKeysBytewiseLikeAGoMap) {
  EXPECT_EQ(RoundTrip(R"({"b":1,"a":{"z":true,"Z":false,"_":null},"B":[]})"),
            R"({"B":[],"a":{"Z":false,"_":null,"z":true},"b":1})");
  // UTF-8 keys sort after ASCII ones (bytes, not code units or locale).
  EXPECT_EQ(RoundTrip("{\"\xC3\xA9\":1,\"z\":2}"), "{\"z\":2,\"\xC3\xA9\":1}");
}

TEST(GoJson, DropsWhitespace) {
  EXPECT_EQ(RoundTrip(" {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\":{ } } "), R"({"a":[1,2],"b":{}})");
}

TEST(GoJson, EscapesHtmlCharactersAndLineSeparatorsAsGoDoes) {
  EXPECT_EQ(RoundTrip(R"({"u":"https://x/?a=1&b=<2>"})"),
            R"({"u":"https://x/?a=1\u0026b=\u003c2\u003e"})");
  EXPECT_EQ(RoundTrip(R"(["\u2028\u2029"])"), R"(["\u2028\u2029"])");
}

TEST(GoJson, EscapesControlCharactersAsGoDoes) {
  // Go 1.22+ writes \b and \f in short form; the rest of C0 as \u00XX (lowercase hex).
  EXPECT_EQ(RoundTrip(R"(["\b\f\n\r\t\u0001\u001f\"\\\/"])"),
            R"(["\b\f\n\r\t\u0001\u001f\"\\/"])");
}

TEST(GoJson, KeepsNonAsciiTextAsUtf8) {
  EXPECT_EQ(RoundTrip(R"(["\u00e9\ud83d\ude00"])"), "[\"\xC3\xA9\xF0\x9F\x98\x80\"]");
  EXPECT_EQ(RoundTrip("[\"\xE6\x97\xA5\xE6\x9C\xAC\"]"), "[\"\xE6\x97\xA5\xE6\x9C\xAC\"]");
}

TEST(GoJson, ReplacesInvalidUtf8AndLoneSurrogatesWithReplacementCharacter) {
  // Decoding turns each bad byte into U+FFFD (written raw when encoded again).
  EXPECT_EQ(RoundTrip("[\"a\xFF\xC3z\"]"), "[\"a\xEF\xBF\xBD\xEF\xBF\xBDz\"]");
  EXPECT_EQ(RoundTrip("[\"\xED\xA0\x80\"]"), "[\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"]");
  EXPECT_EQ(RoundTrip(R"(["\ud800x"])"), "[\"\xEF\xBF\xBDx\"]");
  EXPECT_EQ(RoundTrip(R"(["\udc00"])"), "[\"\xEF\xBF\xBD\"]");
  EXPECT_EQ(RoundTrip(R"(["\ud800\ud800\udc00"])"), "[\"\xEF\xBF\xBD\xF0\x90\x80\x80\"]");
  // Encoding a string that code put in (an env var) writes the \ufffd escape instead.
  EXPECT_EQ(GoMarshal(nlohmann::ordered_json("a\xFFz")), R"("a\ufffdz")");
  // Outside strings a bad byte is a syntax error.
  EXPECT_FALSE(ParseGoJson("[1,\xFF]").ok());
}

TEST(GoJson, WritesNumbersAsGoWritesFloat64) {
  EXPECT_EQ(RoundTrip("[1, 1.0, -0, 0.5, 100, 1e2, 1E+2, 2.50]"), "[1,1,-0,0.5,100,100,100,2.5]");
  EXPECT_EQ(RoundTrip("[12345678901234567890]"), "[12345678901234567000]");
  EXPECT_EQ(RoundTrip("[1e20, 1e21, 123456789e20]"), "[100000000000000000000,1e+21,1.23456789e+28]");
  EXPECT_EQ(RoundTrip("[0.000001, 0.0000001, 1.5e-7, -2e-10]"), "[0.000001,1e-7,1.5e-7,-2e-10]");
  EXPECT_EQ(RoundTrip("[0.1, 0.30000000000000004, 1e-400]"), "[0.1,0.30000000000000004,0]");
  EXPECT_EQ(RoundTrip("[1.7976931348623157e308]"), "[1.7976931348623157e+308]");
}

TEST(GoJson, WritesIntegersFromCodeInFull) {
  nlohmann::ordered_json v = nlohmann::ordered_json::object();
  v["port"] = int64_t{9223372036854775807};
  EXPECT_EQ(GoMarshal(v), R"({"port":9223372036854775807})");
}

TEST(GoJson, RepeatedKeyKeepsLastValue) {
  EXPECT_EQ(RoundTrip(R"({"a":1,"b":2,"a":3})"), R"({"a":3,"b":2})");
}

TEST(GoJson, RefusesWhatGoRefuses) {
  for (const char* bad : {"", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "+1", "1e",
                          "NaN", "Infinity", "'a'", "[\"a\nb\"]", "{a:1}", "[1] [2]", "nul",
                          "[\"\\x\"]", "[\"\\u12\"]", "1e400", "-1e400", "{\"a\" 1}", "[1 2]"}) {
    EXPECT_FALSE(ParseGoJson(bad).ok()) << "accepted: " << bad;
  }
  EXPECT_THAT(std::string(ParseGoJson("{\"a\":").status().message()),
              HasSubstr("unexpected end of JSON input"));
  EXPECT_THAT(std::string(ParseGoJson("[1] x").status().message()),
              HasSubstr("after top-level value"));
}

TEST(GoJson, AcceptsScalarsAndNullAtTopLevel) {
  EXPECT_EQ(RoundTrip("null"), "null");
  EXPECT_EQ(RoundTrip("\"s\""), "\"s\"");
  EXPECT_EQ(RoundTrip("true"), "true");
  EXPECT_EQ(RoundTrip(" 7 "), "7");
}

// Runs fn on a thread whose stack is half the usual 8 MiB main-thread stack (AddressSanitizer
// makes frames several times larger: it gets more).
void OnSmallStack(void (*fn)()) {
#if defined(__SANITIZE_ADDRESS__)
  constexpr size_t kStack = 64 << 20;
#else
  constexpr size_t kStack = 4 << 20;
#endif
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStack);
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, &attr, [](void* f) -> void* {
    reinterpret_cast<void (*)()>(f)();
    return nullptr;
  }, reinterpret_cast<void*>(fn)), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

TEST(GoJson, NestsUpToGosLimitOf10000) {
  OnSmallStack([] {
    const std::string arrays = std::string(10000, '[') + std::string(10000, ']');
    auto doc = ParseGoJson(arrays);
    ASSERT_TRUE(doc.ok());
    EXPECT_EQ(GoMarshal(*doc), arrays);
    std::string objects;
    for (int i = 0; i < 10000; ++i) objects += "{\"k\":";
    objects += "1" + std::string(10000, '}');
    doc = ParseGoJson(objects);
    ASSERT_TRUE(doc.ok());
    EXPECT_EQ(GoMarshal(*doc), objects);
    const std::string deep = std::string(10001, '[') + std::string(10001, ']');
    EXPECT_THAT(std::string(ParseGoJson(deep).status().message()), HasSubstr("exceeded max depth"));
    // Far deeper than any stack could recurse: refused, not a crash.
    const std::string huge(200000, '[');
    EXPECT_FALSE(ParseGoJson(huge).ok());
  });
}

TEST(GoJson, KeepsDocumentOrderInTheParsedValue) {
  auto doc = ParseGoJson(R"({"z":1,"a":2})");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->begin().key(), "z");
}

}  // namespace
}  // namespace hatch::lifecycle
