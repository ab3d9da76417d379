#include "lifecycle/vcap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hatch::lifecycle {
namespace {

using ::testing::HasSubstr;

// VCAP_APPLICATION as Cloud Controller gives it to a running instance (Diego's shape).
constexpr char kVcapApplication[] =
    R"({"cf_api":"https://api.sys.example.com","limits":{"fds":16384,"mem":1024,"disk":1024},)"
    R"("application_name":"my-app","application_uris":["my-app.apps.example.com"],)"
    R"("name":"my-app","space_name":"dev","space_id":"06450c72-4669-4dc6-8096-45f9777db68a",)"
    R"("organization_id":"c0fd4f6e-3cb6-4c8e-8d2e-2e9f4e7f7c6e","organization_name":"acme",)"
    R"("uris":["my-app.apps.example.com"],"users":null,)"
    R"("process_id":"b7e6e9b2-1b1a-4c3e-9f0e-0d9d2c2b6b0a","process_type":"web",)"
    R"("application_id":"b7e6e9b2-1b1a-4c3e-9f0e-0d9d2c2b6b0a",)"
    R"("version":"2ab560c3-3f21-45e0-9452-6d7d1b0e4d4c",)"
    R"("application_version":"2ab560c3-3f21-45e0-9452-6d7d1b0e4d4c"})";

TEST(VcapApplication, AddsInstanceFieldsAndWritesItAsGoDoes) {
  const auto out = RewriteVcapApplication(kVcapApplication, "5e3a2a6c-4c1f-4b9f-6f8e-3a2b", "8080", "2");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out,
            R"({"application_id":"b7e6e9b2-1b1a-4c3e-9f0e-0d9d2c2b6b0a","application_name":"my-app",)"
            R"("application_uris":["my-app.apps.example.com"],)"
            R"("application_version":"2ab560c3-3f21-45e0-9452-6d7d1b0e4d4c",)"
            R"("cf_api":"https://api.sys.example.com","host":"0.0.0.0",)"
            R"("instance_id":"5e3a2a6c-4c1f-4b9f-6f8e-3a2b","instance_index":2,)"
            R"("limits":{"disk":1024,"fds":16384,"mem":1024},"name":"my-app",)"
            R"("organization_id":"c0fd4f6e-3cb6-4c8e-8d2e-2e9f4e7f7c6e","organization_name":"acme",)"
            R"("port":8080,"process_id":"b7e6e9b2-1b1a-4c3e-9f0e-0d9d2c2b6b0a","process_type":"web",)"
            R"("space_id":"06450c72-4669-4dc6-8096-45f9777db68a","space_name":"dev",)"
            R"("uris":["my-app.apps.example.com"],"users":null,)"
            R"("version":"2ab560c3-3f21-45e0-9452-6d7d1b0e4d4c"})");
}

TEST(VcapApplication, KeepsPortAndIndexWhenTheirVariablesAreNotIntegers) {
  EXPECT_EQ(*RewriteVcapApplication(R"({"port":1,"instance_index":"x"})", "", "80a", ""),
            R"({"host":"0.0.0.0","instance_id":"","instance_index":"x","port":1})");
  EXPECT_EQ(*RewriteVcapApplication("{}", "g", "+8080", "-1"),
            R"({"host":"0.0.0.0","instance_id":"g","instance_index":-1,"port":8080})");
}

TEST(VcapApplication, EscapesTheInstanceGuidAsGoDoes) {
  EXPECT_EQ(*RewriteVcapApplication("{}", "a<b>&\"\xFF", "", ""),
            R"({"host":"0.0.0.0","instance_id":"a\u003cb\u003e\u0026\"\ufffd"})");
}

TEST(VcapApplication, LeavesAnythingButAnObjectAlone) {
  for (const char* value : {"", "null", "[]", "[{}]", "\"{}\"", "1", "true", "{", "{\"a\":1}x",
                            "{'a':1}"}) {
    EXPECT_EQ(RewriteVcapApplication(value, "g", "8080", "0"), std::nullopt) << value;
  }
}

TEST(GoAtoi, ParsesDecimalIntegersOnly) {
  EXPECT_EQ(GoAtoi("8080"), 8080);
  EXPECT_EQ(GoAtoi("-3"), -3);
  EXPECT_EQ(GoAtoi("+3"), 3);
  EXPECT_EQ(GoAtoi("007"), 7);
  EXPECT_EQ(GoAtoi("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", "+", "0x10", "1_000", " 1", "1 ", "9223372036854775808", "1.0"}) {
    EXPECT_EQ(GoAtoi(bad), std::nullopt) << bad;
  }
}

TEST(PlatformOptions, CredhubUriWhenPresent) {
  EXPECT_EQ(*CredhubUriFromPlatformOptions(R"({"credhub-uri":"https://credhub.service.cf.internal:8844"})"),
            "https://credhub.service.cf.internal:8844");
  EXPECT_EQ(*CredhubUriFromPlatformOptions(R"({"Credhub-URI":"https://c"})"), "https://c");
  EXPECT_EQ(*CredhubUriFromPlatformOptions(R"({"other":[1,{"x":2}],"credhub-uri":"u"})"), "u");
}

TEST(PlatformOptions, NoCredhubUriIsNotAnError) {
  for (const char* value : {"", "{}", "null", R"({"credhub-uri":null})", R"({"credhub-uri":""})"}) {
    auto uri = CredhubUriFromPlatformOptions(value);
    ASSERT_TRUE(uri.ok()) << value;
    EXPECT_EQ(*uri, "") << value;
  }
}

TEST(PlatformOptions, InvalidOnesAreErrors) {
  for (const char* value : {R"({"credhub-uri":"missing quote and brace)",
                            R"('{"credhub-uri":"x"}')", "[]", "\"x\"", "7",
                            R"({"credhub-uri":7})", R"({"credhub-uri":{"a":1}})"}) {
    EXPECT_FALSE(CredhubUriFromPlatformOptions(value).ok()) << value;
  }
  EXPECT_THAT(std::string(CredhubUriFromPlatformOptions(R"({"credhub-uri":7})").status().message()),
              HasSubstr("cannot unmarshal number into Go value of type string"));
}

TEST(DatabaseUrl, MapsSchemesAsTheOriginal) {
  auto url = [](const std::string& uri) {
    return DatabaseUrlFromServices(R"({"db":[{"credentials":{"uri":")" + uri + R"("}}]})");
  };
  EXPECT_EQ(url("mysql://username:password@host/db"), "mysql2://username:password@host/db");
  EXPECT_EQ(url("mysql2://username:password@host/db"), "mysql2://username:password@host/db");
  EXPECT_EQ(url("postgres://username:password@host/db"), "postgres://username:password@host/db");
  EXPECT_EQ(url("postgresql://username:password@host/db"), "postgres://username:password@host/db");
  EXPECT_EQ(url("PostgreSQL://u:p@host:5432/db?sslmode=verify-full"),
            "postgres://u:p@host:5432/db?sslmode=verify-full");
  EXPECT_EQ(url("mysql://u:p!ss@host/db"), "mysql2://u:p%21ss@host/db");
  EXPECT_EQ(url("sendgrid://foo:bar@host/db"), "");
  EXPECT_EQ(url("postgresql://invalid:password@host/%a"), "");
}

TEST(DatabaseUrl, PicksTheFirstDatabaseInDocumentOrder) {
  // The original walks a Go map here, so with two databases it picks either one.
  const char* services =
      R"({"redis":[{"credentials":{"uri":"redis://r:6379"}}],)"
      R"("elephantsql":[{"name":"a","credentials":{"uri":"not a url %zz"}},)"
      R"({"name":"b","credentials":{"uri":"postgres://b/db"}}],)"
      R"("cleardb":[{"credentials":{"uri":"mysql://c/db"}}]})";
  EXPECT_EQ(DatabaseUrlFromServices(services), "postgres://b/db");
  const char* swapped =
      R"({"cleardb":[{"credentials":{"uri":"mysql://c/db"}}],)"
      R"("elephantsql":[{"credentials":{"uri":"postgres://b/db"}}]})";
  EXPECT_EQ(DatabaseUrlFromServices(swapped), "mysql2://c/db");
}

TEST(DatabaseUrl, DecodesLikeGoIntoTheOriginalsStruct) {
  // Case-insensitive field names, nulls ignored, other fields of any type ignored.
  EXPECT_EQ(DatabaseUrlFromServices(
                R"({"a":null,"b":[null,{"Credentials":{"URI":"postgres://h/d","port":5432}}]})"),
            "postgres://h/d");
  EXPECT_EQ(DatabaseUrlFromServices("null"), "");
  EXPECT_EQ(DatabaseUrlFromServices(R"({"eg":[{}]})"), "");
  // A type mismatch anywhere makes Go's Unmarshal fail: no DATABASE_URL at all.
  for (const char* bad : {R"({"a":[{"credentials":{"uri":"postgres://h/d"}}],"b":{}})",
                          R"({"a":[{"credentials":{"uri":"postgres://h/d"}}],"b":[{"credentials":{"uri":1}}]})",
                          R"({"a":[{"credentials":{"uri":"postgres://h/d"}}],"b":[{"credentials":"x"}]})",
                          R"({"a":[{"credentials":{"uri":"postgres://h/d"}}],"b":[7]})",
                          R"([{"credentials":{"uri":"postgres://h/d"}}])", "not json"}) {
    EXPECT_EQ(DatabaseUrlFromServices(bad), "") << bad;
  }
}

}  // namespace
}  // namespace hatch::lifecycle
