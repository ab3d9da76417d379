// URLs parsed and printed as Go's net/url does it (url.Parse, then URL.String()).
//
// buildpackapplifecycle builds DATABASE_URL by parsing a service's credentials.uri with
// url.Parse, changing the scheme, and printing it with String(); so whether a uri is accepted,
// and the exact bytes of DATABASE_URL (the scheme lowercased, userinfo re-escaped, e.g. a '!' in
// a password becomes %21), come from Go's rules. GoUrl reproduces them for absolute URLs (those
// with a scheme), which is all the lifecycle needs; a URL without a scheme is an error here.
#ifndef HATCH_LIFECYCLE_GO_URL_H_
#define HATCH_LIFECYCLE_GO_URL_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace hatch::lifecycle {

struct GoUserinfo {
  std::string username;
  std::string password;
  bool has_password = false;
};

// The fields of Go's url.URL, with the same meaning.
struct GoUrl {
  std::string scheme;  // lowercased
  std::string opaque;
  std::optional<GoUserinfo> user;
  std::string host;  // unescaped, with ":port"
  std::string path;  // unescaped
  std::string raw_path;
  bool omit_host = false;
  bool force_query = false;
  std::string raw_query;
  std::string fragment;
  std::string raw_fragment;

  // url.Parse(raw) for a raw URL with a scheme.
  static absl::StatusOr<GoUrl> Parse(absl::string_view raw);

  // URL.String().
  std::string String() const;

  // URL.Hostname() and URL.Port(): host without port (and without IPv6 brackets), and the port.
  std::string Hostname() const;
  std::string Port() const;
};

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_GO_URL_H_
