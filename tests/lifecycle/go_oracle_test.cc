// Differential tests: lifecycle's re-implementations of Go library behaviour against Go itself
// (go_oracle/main.go, built with Debian's Go when it is installed). The corpus avoids the two
// places where Go changed after Debian 12's Go 1.19 (\b and \f escapes in 1.22, URL.OmitHost in
// 1.20); the unit tests pin those to current Go.
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/credhub_flags.h"
#include "lifecycle/go_json.h"
#include "lifecycle/go_url.h"
#include "lifecycle/vcap.h"
#include "tests/lifecycle/test_util.h"

namespace hatch::lifecycle {
namespace {

struct Case {
  std::string kind, input;
};

// "err", or "ok <result>": the oracle's answer in clear.
std::string Ours(const Case& c) {
  auto ok = [](const std::string& s) { return "ok " + s; };
  if (c.kind == "json") {
    auto doc = ParseGoJson(c.input);
    return doc.ok() ? ok(GoMarshal(*doc)) : "err";
  }
  if (c.kind == "url") {
    auto url = GoUrl::Parse(c.input);
    return url.ok() ? ok(url->String()) : "err";
  }
  if (c.kind == "duration") {
    auto d = ParseGoDuration(c.input);
    return d.ok() ? ok(std::to_string(absl::ToInt64Nanoseconds(*d))) : "err";
  }
  if (c.kind == "int") {
    auto n = ParseGoInt(c.input);
    return n.ok() ? ok(std::to_string(*n)) : "err";
  }
  if (c.kind == "atoi") {
    auto n = GoAtoi(c.input);
    return n.has_value() ? ok(std::to_string(*n)) : "err";
  }
  auto uri = CredhubUriFromPlatformOptions(c.input);
  return uri.ok() ? ok(*uri) : "err";
}

std::vector<std::string> Oracle(const std::vector<Case>& cases) {
  testing::TempDir dir;
  std::string input;
  for (const Case& c : cases) absl::StrAppend(&input, c.kind, " ", absl::BytesToHexString(c.input), "\n");
  testing::WriteFile(dir / "in", input);
  const testing::RunResult r =
      testing::Run({"/bin/sh", "-c", std::string(HATCH_GO_ORACLE) + " < in"}, {}, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> answers;
  size_t start = 0;
  for (size_t nl; (nl = r.out.find('\n', start)) != std::string::npos; start = nl + 1) {
    const std::string line = r.out.substr(start, nl - start);
    answers.push_back(line == "err" ? line : "ok " + absl::HexStringToBytes(line.substr(3)));
  }
  return answers;
}

std::vector<Case> Corpus() {
  std::vector<Case> cases;
  auto add = [&](const char* kind, const std::vector<std::string>& inputs) {
    for (const auto& in : inputs) cases.push_back({kind, in});
  };
  add("json", {R"({"b":1,"a":{"z":true,"Z":false,"_":null},"B":[]})", "{}", "[]", "null", "0",
               R"({"application_name":"dora","limits":{"mem":256,"disk":1024},"uris":["a.b"]})",
               R"({"u":"https://x/?a=1&b=<2>"})", R"(["\u2028\u2029\u00e9\ud83d\ude00"])",
               R"(["\ud800","\udc00","\ud800\ud800\udc00","\ud800x","\uDBFF\uDFFF"])",
               "[\"a\xFF\xC3z\"]", "[\"\xED\xA0\x80\"]", "[\"\xF4\x90\x80\x80\"]", "[\"\xC0\xAF\"]",
               "[\"\xE0\x80\xAF\"]", "[\"\xF0\x9F\x98\"]", "[\"\xEF\xBF\xBF\"]",
               "[1, 1.0, -0, 0.5, 100, 1e2, 1E+2, 2.50, -0.0, 0e10]", "[12345678901234567890]",
               "[1e20, 1e21, 123456789e20, 999999999999999999999]", "[0.000001, 0.0000001, 1.5e-7]",
               "[0.1, 0.30000000000000004, 1e-400, 5e-324, 2.2250738585072014e-308]",
               "[1.7976931348623157e308, 1.7976931348623159e308, 9007199254740993]",
               "[123.456e-5, 1e-6, 9.999999999999999e-7, 1e+21, 9.99999999999999e20]",
               R"({"a":1,"b":2,"a":3})", R"({"a":{"x":1},"a":[2]})", " {\n\t\"a\" : [ 1 , 2 ] } ",
               "", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "+1", "1e", "NaN",
               "'a'", "[\"a\nb\"]", "{a:1}", "[1] [2]", "nul", "[\"\\x\"]", "[\"\\u12\"]", "1e400",
               "[\"\\u00zz\"]", "\"\\", "[\"\\", "[1,\xFF]", "\xEF\xBB\xBF{}", "{\"a\"\x00:1}",
               "[\"\\/\\\"\\\\\\n\\r\\t\"]", "[\"<>&'\"]", "[\"\x7F\"]", "\"\\u0000\""});
  std::string all_bytes = "[\"";
  for (int b = 0x20; b < 0x100; ++b) {
    if (b != '"' && b != '\\') all_bytes.push_back(static_cast<char>(b));
  }
  add("json", {all_bytes + "\"]"});
  add("url", {"postgres://username:password@host/db", "mysql://u:p!w@h:5432/db",
              "postgresql://invalid:password@host/%a", "MYSQL://U:P@Host/DB?reconnect=true&x=%zz#frag",
              "postgres://u:p%40ss@[::1]:5432/d%20b", "mysql:opaque", "mysql://", "mysql:///db",
              "postgres://h/a b", "postgres://u@h/db?", "postgres://h:abc/db", "postgres://h/db#a%20b!",
              "postgres://us%2Fer:p%3Aw@h/db", "postgres://h%41/db", "postgres://h\xC3\xA9/db",
              "postgres://u:p@w@h/db", "postgres://[fe80::1%25en0]:5432/db", "postgres://h/%2Fdb",
              "postgres://u:it's@h/db", "postgres://h/d;b,c", "postgres://h/db\n", "postgres://[::1/db",
              "://x", "postgres://u\xC3\xA9:p@h/db", "postgres://h/%zz", "postgres://h/?a?b",
              "postgres://h/#", "postgres://h/a#b#c", "postgres://h/a%2fb%2Fc", "postgres://%25@h/",
              "postgres://u:@h/", "postgres://:p@h/", "postgres://@h/", "postgres://h:/db",
              "postgres://h:5432:1/db", "postgres://[::1]x/db", "postgres://h/a\x80" "b",
              "postgres://h/!$&'()*+,;=:@", "postgres://h/a?b=c d", "postgres://h/%E2%82%AC",
              "postgres://h/\xE2\x82\xAC", "p+s-q.l://h/", "postgres://h/a#%zz",
              "postgres://h/a#b c", "postgres://u%zz@h/", "postgres://[fe80::1%25%65n0]/",
              "postgres://[fe80::1%en0]/", "postgres://h h/", "postgres://h\"/", "postgres://<h>/"});
  add("duration", {"1s", "1.5s", ".5s", "1h2m3s4ms5us6ns", "3\xC2\xB5s", "3\xCE\xBCs", "0", "-0", "+0",
                   "-1.5h", "+2m", "2562047h47m16.854775807s", "", "1", "s", "1x", ".s", "1.2.3s",
                   "-", "1s2", "2562047h47m16.854775808s", "9999999999999999999h", " 1s", "1.s",
                   "0.0000000001s", "1.0000000000000000000000001h", "100ms", "1m0.5s", "-2562047h47m16.854775808s"});
  add("int", {"10", "-10", "+7", "0x1F", "0X1f", "0o17", "017", "0b101", "1_000", "0", "00",
              "-9223372036854775808", "9223372036854775807", "9223372036854775808", "", "-", "x",
              "08", "0x", "_1", "1_", "1__0", "1e3", " 1", "0x_", "0_1", "0x_1", "-0x10", "0b",
              "0o", "99999999999999999999", "0B11", "0O7"});
  add("atoi", {"8080", "-3", "+3", "007", "9223372036854775807", "", "+", "0x10", "1_000", " 1",
               "1 ", "9223372036854775808", "1.0", "-9223372036854775808", "-9223372036854775809"});
  add("platform", {"{}", "null", R"({"credhub-uri":"https://c:8844"})", R"({"Credhub-URI":"u"})",
                   R"({"CREDHUB-URI":"u","credhub-uri":"v"})", R"({"credhub-uri":null})",
                   R"({"credhub-uri":7})", R"({"credhub-uri":{"a":1}})", R"({"credhub-uri":["a"]})",
                   R"({"credhub-uri":true})", "[]", "\"x\"", "7", "true", R"({"other":[1,{"x":2}]})",
                   R"({"credhub-uri":"missing quote and brace)", R"('{"credhub-uri":"x"}')",
                   R"({"credhub_uri":"x"})", R"({"credhuburi":"x"})", R"({"credhub-uri":"a","x":})"});
  return cases;
}

TEST(GoOracle, LifecycleAgreesWithGo) {
  if (std::string(HATCH_GO_ORACLE).empty()) GTEST_SKIP() << "no Go toolchain at build time";
  const std::vector<Case> cases = Corpus();
  const std::vector<std::string> go = Oracle(cases);
  ASSERT_EQ(go.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(Ours(cases[i]), go[i]) << cases[i].kind << " input: \"" << absl::CHexEscape(cases[i].input) << "\"";
  }
}

}  // namespace
}  // namespace hatch::lifecycle
