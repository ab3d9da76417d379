#include "lifecycle/credhub_flags.h"

#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace hatch::lifecycle {
namespace {

constexpr absl::string_view kAttemptsFlag = "credhubConnectAttempts";
constexpr absl::string_view kDelayFlag = "credhubRetryDelay";
constexpr absl::string_view kAppPidFlag = "appPid";
constexpr absl::string_view kProcessTypeFlag = "processType";

absl::Status ParseError() { return absl::InvalidArgumentError("parse error"); }
absl::Status RangeError() { return absl::OutOfRangeError("value out of range"); }

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// strconv's underscoreOK: '_' only between digits, or between a base prefix and a digit.
bool UnderscoreOk(absl::string_view s) {
  char saw = '^';
  size_t i = 0;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  bool hex = false;
  if (s.size() >= 2 && s[0] == '0' &&
      (Lower(s[1]) == 'b' || Lower(s[1]) == 'o' || Lower(s[1]) == 'x')) {
    i = 2;
    saw = '0';
    hex = Lower(s[1]) == 'x';
  }
  for (; i < s.size(); ++i) {
    const char c = Lower(s[i]);
    if ((c >= '0' && c <= '9') || (hex && c >= 'a' && c <= 'f')) {
      saw = '0';
      continue;
    }
    if (c == '_') {
      if (saw != '0') return false;
      saw = '_';
      continue;
    }
    if (saw == '_') return false;
    saw = '!';
  }
  return saw != '_';
}

std::string GoQuote(absl::string_view s) { return absl::StrCat("\"", absl::CHexEscape(s), "\""); }

}  // namespace

absl::StatusOr<int64_t> ParseGoInt(absl::string_view s0) {
  absl::string_view s = s0;
  if (s.empty()) return ParseError();
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    s.remove_prefix(1);
    if (s.empty()) return ParseError();
  }
  uint64_t base = 10;
  if (s[0] == '0') {
    if (s.size() >= 3 && Lower(s[1]) == 'b') {
      base = 2;
      s.remove_prefix(2);
    } else if (s.size() >= 3 && Lower(s[1]) == 'o') {
      base = 8;
      s.remove_prefix(2);
    } else if (s.size() >= 3 && Lower(s[1]) == 'x') {
      base = 16;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
    }
  }
  uint64_t n = 0;
  bool underscores = false;
  for (char ch : s) {
    const char c = Lower(ch);
    uint64_t d;
    if (c == '_') {
      underscores = true;
      continue;
    } else if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'z') {
      d = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return ParseError();
    }
    if (d >= base) return ParseError();
    if (n > (std::numeric_limits<uint64_t>::max() - d) / base) return RangeError();
    n = n * base + d;
  }
  if (underscores && !UnderscoreOk(s0)) return ParseError();
  const uint64_t limit = uint64_t{1} << 63;
  if (!negative && n >= limit) return RangeError();
  if (negative && n > limit) return RangeError();
  return negative ? static_cast<int64_t>(0 - n) : static_cast<int64_t>(n);
}

absl::StatusOr<absl::Duration> ParseGoDuration(absl::string_view s) {
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return absl::ZeroDuration();
  if (s.empty()) return ParseError();
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) return ParseError();
    // Whole part.
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (v > kLimit / 10) return ParseError();
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return ParseError();
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    // Fraction: digits beyond what fits are read and dropped.
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      bool overflow = false;
      for (i = 0; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
        if (overflow) continue;
        if (f > (kLimit - 1) / 10) {
          overflow = true;
          continue;
        }
        const uint64_t y = f * 10 + static_cast<uint64_t>(s[i] - '0');
        if (y > kLimit) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = i > 0;
      s.remove_prefix(i);
    }
    if (!pre && !post) return ParseError();
    // Unit: everything up to the next digit or '.'.
    for (i = 0; i < s.size() && s[i] != '.' && !(s[i] >= '0' && s[i] <= '9'); ++i) {
    }
    if (i == 0) return ParseError();
    const absl::string_view unit_name = s.substr(0, i);
    s.remove_prefix(i);
    uint64_t unit;
    if (unit_name == "ns") {
      unit = 1;
    } else if (unit_name == "us" || unit_name == "\xC2\xB5s" || unit_name == "\xCE\xBCs") {
      unit = 1000;
    } else if (unit_name == "ms") {
      unit = 1000 * 1000;
    } else if (unit_name == "s") {
      unit = 1000 * 1000 * 1000;
    } else if (unit_name == "m") {
      unit = uint64_t{60} * 1000 * 1000 * 1000;
    } else if (unit_name == "h") {
      unit = uint64_t{3600} * 1000 * 1000 * 1000;
    } else {
      return ParseError();
    }
    if (v > kLimit / unit) return ParseError();
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kLimit) return ParseError();
    }
    total += v;
    if (total > kLimit) return ParseError();
  }
  if (negative) return absl::Nanoseconds(-static_cast<int64_t>(total - 1) - 1);
  if (total > kLimit - 1) return ParseError();
  return absl::Nanoseconds(static_cast<int64_t>(total));
}

absl::StatusOr<CredhubFlags> ParseCredhubFlags(const std::vector<std::string>& args,
                                               AppFlags* app, size_t* consumed,
                                               const CredhubFlags& base) {
  CredhubFlags flags = base;
  for (size_t i = 0; i < args.size();) {
    const std::string& s = args[i];
    if (s.size() < 2 || s[0] != '-') {  // the first non-flag stops parsing
      if (consumed != nullptr) *consumed = i;
      return flags;
    }
    size_t minuses = 1;
    if (s[1] == '-') {
      minuses = 2;
      if (s.size() == 2) {  // "--" ends the flags
        if (consumed != nullptr) *consumed = i + 1;
        return flags;
      }
    }
    absl::string_view name = absl::string_view(s).substr(minuses);
    if (name.empty() || name[0] == '-' || name[0] == '=') {
      return absl::InvalidArgumentError(absl::StrCat("bad flag syntax: ", s));
    }
    ++i;
    bool has_value = false;
    std::string value;
    if (const size_t eq = name.find('='); eq != absl::string_view::npos) {
      value = std::string(name.substr(eq + 1));
      name = name.substr(0, eq);
      has_value = true;
    }
    const bool app_flag = app != nullptr && (name == kAppPidFlag || name == kProcessTypeFlag);
    if (name != kAttemptsFlag && name != kDelayFlag && !app_flag) {
      if (name == "help" || name == "h") return absl::CancelledError("help requested");
      return absl::InvalidArgumentError(absl::StrCat("flag provided but not defined: -", name));
    }
    if (!has_value && i < args.size()) {
      value = args[i++];
      has_value = true;
    }
    if (!has_value) {
      return absl::InvalidArgumentError(absl::StrCat("flag needs an argument: -", name));
    }
    absl::Status bad;
    if (name == kAppPidFlag) {
      auto n = ParseGoInt(value);
      if (n.ok() && *n >= 0 && *n <= INT32_MAX) {
        app->app_pid = *n;
      } else {
        bad = n.ok() ? RangeError() : n.status();
      }
    } else if (name == kProcessTypeFlag) {
      app->process_type = value;
    } else if (name == kAttemptsFlag) {
      auto n = ParseGoInt(value);
      if (n.ok()) {
        flags.connect_attempts = *n;
      } else {
        bad = n.status();
      }
    } else {
      auto d = ParseGoDuration(value);
      if (d.ok()) {
        flags.retry_delay = *d;
      } else {
        bad = ParseError();  // Go's flag package reports every duration error this way
      }
    }
    if (!bad.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid value ", GoQuote(value), " for flag -", name, ": ", bad.message()));
    }
  }
  if (consumed != nullptr) *consumed = args.size();
  return flags;
}

std::string CredhubFlagsUsage(absl::string_view program, bool with_app_flags) {
  // Go lists flags sorted by name.
  const std::string app_pid = with_app_flags
      ? absl::StrCat("  -", kAppPidFlag, " int\n",
                     "    \tthe app process whose environment to take (apps without droplet "
                     "metadata; default: found)\n")
      : "";
  const std::string process_type = with_app_flags
      ? absl::StrCat("  -", kProcessTypeFlag, " string\n",
                     "    \tthe Cloud Native Buildpacks process type (default $CNB_PROCESS_TYPE "
                     "or web)\n")
      : "";
  return absl::StrCat("Usage of ", program, ":\n", app_pid,
                      "  -", kAttemptsFlag, " int\n",
                      "    \thow many times to try the credhub interpolation request (default 3)\n",
                      "  -", kDelayFlag, " duration\n",
                      "    \thow long to wait between credhub attempts (default 1s)\n",
                      process_type);
}

}  // namespace hatch::lifecycle
