#include "lifecycle/go_url.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hatch::lifecycle {
namespace {

// Go's net/url encoding modes: which characters a part of the URL may hold unescaped.
enum class Mode { kPath, kPathSegment, kHost, kZone, kUserPassword, kQueryComponent, kFragment };

bool IsAlnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// net/url shouldEscape (RFC 3986 with Go's documented exceptions).
bool ShouldEscape(unsigned char c, Mode mode) {
  if (IsAlnum(c)) return false;
  if (mode == Mode::kHost || mode == Mode::kZone) {
    switch (c) {
      case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+':
      case ',': case ';': case '=': case ':': case '[': case ']': case '<': case '>': case '"':
        return false;
    }
  }
  switch (c) {
    case '-': case '_': case '.': case '~':
      return false;
    case '$': case '&': case '+': case ',': case '/': case ':': case ';': case '=': case '?':
    case '@':
      switch (mode) {
        case Mode::kPath: return c == '?';
        case Mode::kPathSegment: return c == '/' || c == ';' || c == ',' || c == '?';
        case Mode::kUserPassword: return c == '@' || c == '/' || c == '?' || c == ':';
        case Mode::kQueryComponent: return true;
        case Mode::kFragment: return false;
        default: break;
      }
  }
  if (mode == Mode::kFragment) {
    switch (c) {
      case '!': case '(': case ')': case '*':
        return false;
    }
  }
  return true;
}

int Unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> Unescape(absl::string_view s, Mode mode) {
  bool has_escape = false;
  bool has_plus = false;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '%') {
      has_escape = true;
      if (i + 2 >= s.size() || Unhex(s[i + 1]) < 0 || Unhex(s[i + 2]) < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid URL escape \"", s.substr(i, 3), "\""));
      }
      const absl::string_view esc = s.substr(i, 3);
      // RFC 3986 lets a host %-encode only non-ASCII bytes; RFC 6874 adds %25 for zones.
      if (mode == Mode::kHost && Unhex(s[i + 1]) < 8 && esc != "%25") {
        return absl::InvalidArgumentError(absl::StrCat("invalid URL escape \"", esc, "\""));
      }
      if (mode == Mode::kZone) {
        const auto v = static_cast<unsigned char>(Unhex(s[i + 1]) << 4 | Unhex(s[i + 2]));
        if (esc != "%25" && v != ' ' && ShouldEscape(v, Mode::kHost)) {
          return absl::InvalidArgumentError(absl::StrCat("invalid URL escape \"", esc, "\""));
        }
      }
      i += 3;
    } else if (c == '+') {
      has_plus = mode == Mode::kQueryComponent;
      ++i;
    } else {
      if ((mode == Mode::kHost || mode == Mode::kZone) && c < 0x80 && ShouldEscape(c, mode)) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid character \"", s.substr(i, 1), "\" in host name"));
      }
      ++i;
    }
  }
  if (!has_escape && !has_plus) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      out.push_back(static_cast<char>(Unhex(s[i + 1]) << 4 | Unhex(s[i + 2])));
      i += 2;
    } else if (s[i] == '+' && mode == Mode::kQueryComponent) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string Escape(absl::string_view s, Mode mode) {
  static constexpr char kUpperHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' && mode == Mode::kQueryComponent) {
      out.push_back('+');
    } else if (ShouldEscape(c, mode)) {
      out.push_back('%');
      out.push_back(kUpperHex[c >> 4]);
      out.push_back(kUpperHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

// net/url validEncoded: s may be used as it is in the given part.
bool ValidEncoded(absl::string_view s, Mode mode) {
  for (char ch : s) {
    switch (ch) {
      case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+': case ',':
      case ';': case '=': case ':': case '@': case '[': case ']': case '%':
        break;
      default:
        if (ShouldEscape(static_cast<unsigned char>(ch), mode)) return false;
    }
  }
  return true;
}

bool ValidOptionalPort(absl::string_view port) {
  if (port.empty()) return true;
  if (port[0] != ':') return false;
  for (char c : port.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// net/url validUserinfo works on runes: any non-ASCII rune (or invalid UTF-8) is refused.
bool ValidUserinfo(absl::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsAlnum(c)) continue;
    switch (c) {
      case '-': case '.': case '_': case ':': case '~': case '!': case '$': case '&': case '\'':
      case '(': case ')': case '*': case '+': case ',': case ';': case '=': case '%': case '@':
        continue;
      default:
        return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> ParseHost(absl::string_view host) {
  if (absl::StartsWith(host, "[")) {
    const size_t i = host.rfind(']');
    if (i == absl::string_view::npos) return absl::InvalidArgumentError("missing ']' in host");
    const absl::string_view colon_port = host.substr(i + 1);
    if (!ValidOptionalPort(colon_port)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid port \"", colon_port, "\" after host"));
    }
    const size_t zone = host.substr(0, i).find("%25");
    if (zone != absl::string_view::npos) {
      auto h1 = Unescape(host.substr(0, zone), Mode::kHost);
      if (!h1.ok()) return h1.status();
      auto h2 = Unescape(host.substr(zone, i - zone), Mode::kZone);
      if (!h2.ok()) return h2.status();
      auto h3 = Unescape(host.substr(i), Mode::kHost);
      if (!h3.ok()) return h3.status();
      return absl::StrCat(*h1, *h2, *h3);
    }
  } else if (const size_t i = host.rfind(':'); i != absl::string_view::npos) {
    const absl::string_view colon_port = host.substr(i);
    if (!ValidOptionalPort(colon_port)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid port \"", colon_port, "\" after host"));
    }
  }
  return Unescape(host, Mode::kHost);
}

absl::Status ParseAuthority(absl::string_view authority, GoUrl* url) {
  const size_t at = authority.rfind('@');
  auto host = ParseHost(at == absl::string_view::npos ? authority : authority.substr(at + 1));
  if (!host.ok()) return host.status();
  url->host = *std::move(host);
  if (at == absl::string_view::npos) return absl::OkStatus();
  const absl::string_view userinfo = authority.substr(0, at);
  if (!ValidUserinfo(userinfo)) return absl::InvalidArgumentError("net/url: invalid userinfo");
  GoUserinfo user;
  const size_t colon = userinfo.find(':');
  auto name = Unescape(userinfo.substr(0, colon), Mode::kUserPassword);
  if (!name.ok()) return name.status();
  user.username = *std::move(name);
  if (colon != absl::string_view::npos) {
    auto password = Unescape(userinfo.substr(colon + 1), Mode::kUserPassword);
    if (!password.ok()) return password.status();
    user.password = *std::move(password);
    user.has_password = true;
  }
  url->user = std::move(user);
  return absl::OkStatus();
}

std::string EscapedPath(const GoUrl& u) {
  if (!u.raw_path.empty() && ValidEncoded(u.raw_path, Mode::kPath)) {
    auto p = Unescape(u.raw_path, Mode::kPath);
    if (p.ok() && *p == u.path) return u.raw_path;
  }
  if (u.path == "*") return "*";
  return Escape(u.path, Mode::kPath);
}

std::string EscapedFragment(const GoUrl& u) {
  if (!u.raw_fragment.empty() && ValidEncoded(u.raw_fragment, Mode::kFragment)) {
    auto f = Unescape(u.raw_fragment, Mode::kFragment);
    if (f.ok() && *f == u.fragment) return u.raw_fragment;
  }
  return Escape(u.fragment, Mode::kFragment);
}

void SplitHostPort(absl::string_view host_port, absl::string_view* host, absl::string_view* port) {
  *host = host_port;
  *port = {};
  const size_t colon = host_port.rfind(':');
  if (colon != absl::string_view::npos && ValidOptionalPort(host_port.substr(colon))) {
    *host = host_port.substr(0, colon);
    *port = host_port.substr(colon + 1);
  }
  if (absl::StartsWith(*host, "[") && absl::EndsWith(*host, "]")) {
    *host = host->substr(1, host->size() - 2);
  }
}

}  // namespace

absl::StatusOr<GoUrl> GoUrl::Parse(absl::string_view raw) {
  GoUrl url;
  const size_t hash = raw.find('#');
  absl::string_view rest = raw.substr(0, hash);
  for (char c : rest) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      return absl::InvalidArgumentError("net/url: invalid control character in URL");
    }
  }
  // The scheme: a letter, then letters, digits, '+', '-', '.', up to the first ':'.
  size_t colon = absl::string_view::npos;
  for (size_t i = 0; i < rest.size(); ++i) {
    const char c = rest[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) continue;
    if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') {
      if (i == 0) break;
      continue;
    }
    if (c == ':') {
      if (i == 0) return absl::InvalidArgumentError("missing protocol scheme");
      colon = i;
    }
    break;
  }
  if (colon == absl::string_view::npos) return absl::InvalidArgumentError("no scheme in URL");
  for (char c : rest.substr(0, colon)) {
    url.scheme.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  rest = rest.substr(colon + 1);

  const size_t question = rest.find('?');
  if (question != absl::string_view::npos && question == rest.size() - 1) {
    url.force_query = true;
    rest = rest.substr(0, question);
  } else if (question != absl::string_view::npos) {
    url.raw_query = std::string(rest.substr(question + 1));
    rest = rest.substr(0, question);
  }

  if (!absl::StartsWith(rest, "/")) {
    url.opaque = std::string(rest);  // a rootless path after a scheme is opaque
  } else {
    if (absl::StartsWith(rest, "//")) {
      absl::string_view authority = rest.substr(2);
      rest = {};
      if (const size_t slash = authority.find('/'); slash != absl::string_view::npos) {
        rest = authority.substr(slash);
        authority = authority.substr(0, slash);
      }
      if (absl::Status s = ParseAuthority(authority, &url); !s.ok()) return s;
    } else {
      url.omit_host = true;
    }
    auto path = Unescape(rest, Mode::kPath);
    if (!path.ok()) return path.status();
    url.path = *std::move(path);
    // RawPath is kept only when the default escaping of Path would differ from the input.
    if (Escape(url.path, Mode::kPath) != rest) url.raw_path = std::string(rest);
  }

  if (hash != absl::string_view::npos) {
    const absl::string_view frag = raw.substr(hash + 1);
    auto fragment = Unescape(frag, Mode::kFragment);
    if (!fragment.ok()) return fragment.status();
    url.fragment = *std::move(fragment);
    if (Escape(url.fragment, Mode::kFragment) != frag) url.raw_fragment = std::string(frag);
  }
  return url;
}

std::string GoUrl::String() const {
  std::string out;
  if (!scheme.empty()) absl::StrAppend(&out, scheme, ":");
  if (!opaque.empty()) {
    out += opaque;
  } else {
    if (!scheme.empty() || !host.empty() || user.has_value()) {
      if (!(omit_host && host.empty() && !user.has_value())) {
        if (!host.empty() || !path.empty() || user.has_value()) out += "//";
        if (user.has_value()) {
          out += Escape(user->username, Mode::kUserPassword);
          if (user->has_password) absl::StrAppend(&out, ":", Escape(user->password, Mode::kUserPassword));
          out += "@";
        }
        if (!host.empty()) out += Escape(host, Mode::kHost);
      }
    }
    const std::string p = EscapedPath(*this);
    if (!p.empty() && p[0] != '/' && !host.empty()) out += "/";
    out += p;
  }
  if (force_query || !raw_query.empty()) absl::StrAppend(&out, "?", raw_query);
  if (!fragment.empty()) absl::StrAppend(&out, "#", EscapedFragment(*this));
  return out;
}

std::string GoUrl::Hostname() const {
  absl::string_view h, p;
  SplitHostPort(host, &h, &p);
  return std::string(h);
}

std::string GoUrl::Port() const {
  absl::string_view h, p;
  SplitHostPort(host, &h, &p);
  return std::string(p);
}

}  // namespace hatch::lifecycle
