// The VCAP_* steps of the app environment, each a pure function of strings, matching
// buildpackapplifecycle's env, platformoptions and databaseuri packages.
#ifndef HATCH_LIFECYCLE_VCAP_H_
#define HATCH_LIFECYCLE_VCAP_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace hatch::lifecycle {

// VCAP_APPLICATION with host "0.0.0.0", instance_id = instance_guid, and port / instance_index
// set from port / instance_index when those are Go integers (strconv.Atoi), else left as they
// were. Written as Go's json.Marshal writes a map (keys sorted, HTML-safe escaping, numbers as
// float64: see go_json.h), because that is the string the original puts in the environment.
// nullopt, and VCAP_APPLICATION stays as it is, when it is not a JSON object (unset, invalid,
// an array, a string...). `null` too: the original crashes on it (a nil Go map), we leave it.
std::optional<std::string> RewriteVcapApplication(absl::string_view vcap_application,
                                                  absl::string_view instance_guid,
                                                  absl::string_view port,
                                                  absl::string_view instance_index);

// strconv.Atoi: optional sign, decimal digits, int64 range. Exposed for tests.
std::optional<int64_t> GoAtoi(absl::string_view s);

// The credhub-uri of VCAP_PLATFORM_OPTIONS, decoded as Go decodes it into
// struct{ CredhubURI string `json:"credhub-uri"` }: "" when the variable is empty, when it is
// `null`, or when the key is absent or null; the key matches case-insensitively; other keys are
// ignored. An error (-> "Invalid platform options") for invalid JSON, for a value that is not an
// object, or for a credhub-uri that is not a string.
absl::StatusOr<std::string> CredhubUriFromPlatformOptions(absl::string_view platform_options);

// DATABASE_URL from VCAP_SERVICES: the first credentials.uri whose scheme (Go's url.Parse, so
// case-insensitive) is mysql, mysql2, postgres or postgresql, with mysql -> mysql2 and
// postgresql -> postgres, printed as Go's URL.String() prints it; "" when there is none.
// Services are taken in the order VCAP_SERVICES lists them (the original walks a Go map, so it
// picks at random when two services qualify), instances in array order.
// Like the original, nothing at all when VCAP_SERVICES does not decode into
// map[string][]struct{Credentials struct{Uri string}} (e.g. a uri that is a number), and uris
// that url.Parse refuses are skipped.
std::string DatabaseUrlFromServices(absl::string_view vcap_services);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_VCAP_H_
