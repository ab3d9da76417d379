#include "lifecycle/go_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hatch::lifecycle {
namespace {

using nlohmann::ordered_json;

constexpr int kMaxNestingDepth = 10000;  // Go's encoding/json maxNestingDepth.
constexpr char32_t kReplacement = 0xFFFD;

void AppendUtf8(char32_t r, std::string* out) {
  if (r < 0x80) {
    out->push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (r >> 6)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (r >> 12)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (r >> 18)));
    out->push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

// Length of the valid UTF-8 sequence starting at s[0] (s non-empty, s[0] >= 0x80), or 0 when
// it is not valid (Go's utf8.DecodeRune then yields RuneError of width 1).
size_t ValidUtf8Length(absl::string_view s) {
  auto at = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = at(0);
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || at(1) < lo || at(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (at(i) < 0x80 || at(i) > 0xBF) return 0;
  }
  return n;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads \uXXXX at s[0..6); returns -1 when s does not start with one.
int32_t ReadU4(absl::string_view s) {
  if (s.size() < 6 || s[0] != '\\' || s[1] != 'u') return -1;
  int32_t r = 0;
  for (size_t i = 2; i < 6; ++i) {
    const int h = HexValue(s[i]);
    if (h < 0) return -1;
    r = r * 16 + h;
  }
  return r;
}

class Parser {
 public:
  explicit Parser(absl::string_view in) : in_(in) {}

  absl::StatusOr<ordered_json> ParseDocument() {
    ordered_json value;
    if (!ParseValue(0, &value)) return status_;
    SkipSpace();
    if (pos_ != in_.size()) {
      Unexpected("after top-level value");
      return status_;
    }
    return value;
  }

 private:
  // The error paths and the leaf parsers stay out of line, so that the frames of the
  // recursion (ParseValue -> ParseObject/ParseArray -> ParseValue) are small: 10000 levels must
  // fit the 8 MiB main-thread stack with room to spare.
  [[gnu::noinline, gnu::cold]] bool Unexpected(const char* context) {
    if (pos_ >= in_.size()) return FailEnd();
    return Fail(absl::StrCat("invalid character ", Describe(in_[pos_]), " ", context));
  }
  [[gnu::noinline, gnu::cold]] bool Fail(absl::string_view what) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(absl::StrCat(what, " (at byte ", pos_, ")"));
    }
    return false;
  }
  [[gnu::noinline, gnu::cold]] bool FailEnd() {
    status_ = absl::InvalidArgumentError("unexpected end of JSON input");
    return false;
  }
  static std::string Describe(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return absl::StrCat("'", std::string(1, c), "'");
    return absl::StrCat("byte 0x", absl::Hex(u));
  }

  void SkipSpace() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool ParseValue(int depth, ordered_json* out) {
    SkipSpace();
    if (pos_ >= in_.size()) return FailEnd();
    const char c = in_[pos_];
    switch (c) {
      case '{':
        return ParseObject(depth + 1, out);
      case '[':
        return ParseArray(depth + 1, out);
      case '"':
        return ParseStringValue(out);
      case 't':
        return ParseLiteral("true", true, out);
      case 'f':
        return ParseLiteral("false", false, out);
      case 'n':
        return ParseLiteral("null", nullptr, out);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
        return Unexpected("looking for beginning of value");
    }
  }

  [[gnu::noinline]] bool ParseLiteral(absl::string_view word, ordered_json value, ordered_json* out) {
    for (char w : word) {
      if (pos_ >= in_.size()) return FailEnd();
      if (in_[pos_] != w) {
        return Unexpected("in literal");
      }
      ++pos_;
    }
    *out = std::move(value);
    return true;
  }

  bool ParseObject(int depth, ordered_json* out) {
    if (depth > kMaxNestingDepth) return Fail("exceeded max depth");
    ++pos_;  // '{'
    *out = ordered_json::object();
    SkipSpace();
    if (pos_ < in_.size() && in_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      if (pos_ >= in_.size()) return FailEnd();
      if (in_[pos_] != '"') {
        return Unexpected("looking for beginning of object key string");
      }
      std::string key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (pos_ >= in_.size()) return FailEnd();
      if (in_[pos_] != ':') {
        return Unexpected("after object key");
      }
      ++pos_;
      ordered_json value;
      if (!ParseValue(depth, &value)) return false;
      (*out)[key] = std::move(value);  // a repeated key: first position, last value
      SkipSpace();
      if (pos_ >= in_.size()) return FailEnd();
      if (in_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (in_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return Unexpected("after object key:value pair");
    }
  }

  bool ParseArray(int depth, ordered_json* out) {
    if (depth > kMaxNestingDepth) return Fail("exceeded max depth");
    ++pos_;  // '['
    *out = ordered_json::array();
    SkipSpace();
    if (pos_ < in_.size() && in_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      ordered_json value;
      if (!ParseValue(depth, &value)) return false;
      out->push_back(std::move(value));
      SkipSpace();
      if (pos_ >= in_.size()) return FailEnd();
      if (in_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (in_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return Unexpected("after array element");
    }
  }

  [[gnu::noinline]] bool Digits() {
    const size_t start = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
    if (pos_ == start) {
      if (pos_ >= in_.size()) return FailEnd();
      return Unexpected("in numeric literal");
    }
    return true;
  }

  [[gnu::noinline]] bool ParseStringValue(ordered_json* out) {
    std::string s;
    if (!ParseString(&s)) return false;
    *out = std::move(s);
    return true;
  }

  [[gnu::noinline]] bool ParseNumber(ordered_json* out) {
    const size_t start = pos_;
    if (in_[pos_] == '-') ++pos_;
    if (pos_ >= in_.size()) return FailEnd();
    if (in_[pos_] == '0') {
      ++pos_;
    } else if (!Digits()) {
      return false;
    }
    if (pos_ < in_.size() && in_[pos_] == '.') {
      ++pos_;
      if (!Digits()) return false;
    }
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
      if (!Digits()) return false;
    }
    const std::string text(in_.substr(start, pos_ - start));
    // strtod rounds correctly; the program never calls setlocale, so '.' is the separator.
    const double value = std::strtod(text.c_str(), nullptr);
    if (std::isinf(value)) {
      return Fail(absl::StrCat("cannot unmarshal number ", text, " into Go value of type float64"));
    }
    *out = value;
    return true;
  }

  [[gnu::noinline]] bool ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= in_.size()) return FailEnd();
      const auto c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("invalid character in string literal");
      if (c == '\\') {
        if (!ParseEscape(out)) return false;
        continue;
      }
      if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      const size_t n = ValidUtf8Length(in_.substr(pos_));
      if (n == 0) {
        AppendUtf8(kReplacement, out);
        ++pos_;
      } else {
        absl::StrAppend(out, in_.substr(pos_, n));
        pos_ += n;
      }
    }
  }

  [[gnu::noinline]] bool ParseEscape(std::string* out) {
    if (pos_ + 1 >= in_.size()) return FailEnd();
    const char e = in_[pos_ + 1];
    const char* simple = nullptr;
    switch (e) {
      case '"': simple = "\""; break;
      case '\\': simple = "\\"; break;
      case '/': simple = "/"; break;
      case 'b': simple = "\b"; break;
      case 'f': simple = "\f"; break;
      case 'n': simple = "\n"; break;
      case 'r': simple = "\r"; break;
      case 't': simple = "\t"; break;
      case 'u': break;
      default:
        ++pos_;
        return Unexpected("in string escape code");
    }
    if (simple != nullptr) {
      out->append(simple);
      pos_ += 2;
      return true;
    }
    int32_t r = ReadU4(in_.substr(pos_));
    if (r < 0) {
      if (in_.size() - pos_ < 6) return FailEnd();
      return Fail("invalid character in \\u hexadecimal character escape");
    }
    pos_ += 6;
    if (r >= 0xD800 && r < 0xE000) {
      // Go pairs a high surrogate with an immediately following low one; anything else is
      // U+FFFD, and the following escape is read on its own.
      const int32_t r2 = ReadU4(in_.substr(pos_));
      if (r < 0xDC00 && r2 >= 0xDC00 && r2 < 0xE000) {
        r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
        pos_ += 6;
      } else {
        r = kReplacement;
      }
    }
    AppendUtf8(static_cast<char32_t>(r), out);
    return true;
  }

  absl::string_view in_;
  size_t pos_ = 0;
  absl::Status status_;
};

void MarshalString(absl::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out->append("\\\""); break;
        case '\\': out->append("\\\\"); break;
        case '\b': out->append("\\b"); break;
        case '\f': out->append("\\f"); break;
        case '\n': out->append("\\n"); break;
        case '\r': out->append("\\r"); break;
        case '\t': out->append("\\t"); break;
        default:
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            out->append("\\u00");
            out->push_back(kHex[c >> 4]);
            out->push_back(kHex[c & 0xF]);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const size_t n = ValidUtf8Length(s.substr(i));
    if (n == 0) {
      out->append("\\ufffd");  // Go's encoder writes the escape, not the raw rune
      ++i;
      continue;
    }
    const absl::string_view seq = s.substr(i, n);
    if (seq == "\xE2\x80\xA8") {
      out->append("\\u2028");
    } else if (seq == "\xE2\x80\xA9") {
      out->append("\\u2029");
    } else {
      absl::StrAppend(out, seq);
    }
    i += n;
  }
  out->push_back('"');
}

void Marshal(const ordered_json& v, std::string* out) {
  switch (v.type()) {
    case ordered_json::value_t::null:
    case ordered_json::value_t::discarded:
    case ordered_json::value_t::binary:
      out->append("null");
      return;
    case ordered_json::value_t::boolean:
      out->append(v.get<bool>() ? "true" : "false");
      return;
    case ordered_json::value_t::number_integer:
      out->append(std::to_string(v.get<int64_t>()));  // a Go int, not a float64
      return;
    case ordered_json::value_t::number_unsigned:
      out->append(std::to_string(v.get<uint64_t>()));
      return;
    case ordered_json::value_t::number_float:
      out->append(GoFormatFloat(v.get<double>()));
      return;
    case ordered_json::value_t::string:
      MarshalString(v.get_ref<const std::string&>(), out);
      return;
    case ordered_json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : v) {
        if (!first) out->push_back(',');
        first = false;
        Marshal(e, out);
      }
      out->push_back(']');
      return;
    }
    case ordered_json::value_t::object: {
      std::vector<std::pair<const std::string*, const ordered_json*>> items;
      items.reserve(v.size());
      for (auto it = v.begin(); it != v.end(); ++it) items.emplace_back(&it.key(), &it.value());
      std::sort(items.begin(), items.end(),
                [](const auto& a, const auto& b) { return *a.first < *b.first; });
      out->push_back('{');
      bool first = true;
      for (const auto& [key, value] : items) {
        if (!first) out->push_back(',');
        first = false;
        MarshalString(*key, out);
        out->push_back(':');
        Marshal(*value, out);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

absl::StatusOr<ordered_json> ParseGoJson(absl::string_view text) {
  return Parser(text).ParseDocument();
}

std::string GoMarshal(const ordered_json& value) {
  std::string out;
  Marshal(value, &out);
  return out;
}

std::string GoFormatFloat(double value) {
  // Go's strconv.FormatFloat(v, 'f' or 'e', -1, 64): the shortest digits that read back as v,
  // laid out in plain or exponent notation. std::to_chars in scientific form gives the digits;
  // its fixed form would print every digit of a large integer's exact value instead.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);  // [-]d[.ddd]e(+|-)XX
  const size_t e_pos = sci.find('e');
  const bool negative = sci[0] == '-';
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e_pos; ++i) {
    if (sci[i] != '.') digits.push_back(sci[i]);
  }
  const int exp10 = std::atoi(sci.c_str() + e_pos + 1);
  const double abs = std::fabs(value);
  if (abs != 0 && (abs < 1e-6 || abs >= 1e21)) {
    // d[.ddd]e±XX with at least two exponent digits, as Go writes; then e-07 -> e-7.
    std::string s = sci;
    const size_t n = s.size();
    if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
    return s;
  }
  std::string out = negative ? "-" : "";
  const int n = static_cast<int>(digits.size());
  if (exp10 >= n - 1) {
    out += digits + std::string(static_cast<size_t>(exp10 - (n - 1)), '0');
  } else if (exp10 >= 0) {
    out += digits.substr(0, static_cast<size_t>(exp10) + 1) + "." +
           digits.substr(static_cast<size_t>(exp10) + 1);
  } else {
    out += "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
  }
  return out;
}

}  // namespace hatch::lifecycle
