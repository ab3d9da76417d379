// The credhub flags of `shell` and `launcher`, parsed as Go's flag package parses them in
// buildpackapplifecycle (credhub_flags.NewCredhubFlags):
//   -credhubConnectAttempts=N   int, default 3 (strconv.ParseInt base 0: 10, 0x1f, 0o17, 1_000)
//   -credhubRetryDelay=D        Go duration, default 1s ("500ms", "1m30s", "1.5s", "0")
// Forms: -flag=value, --flag=value, -flag value. Parsing stops at the first argument that is not
// a flag ("-" counts as one) and after "--"; the rest is ignored, as in the original, which
// parses only the arguments after COMMAND (shell) or from METADATA on (launcher).
// Absl flags are not used here: these flags sit after positional arguments and must stop where
// Go's parser stops.
#ifndef HATCH_LIFECYCLE_CREDHUB_FLAGS_H_
#define HATCH_LIFECYCLE_CREDHUB_FLAGS_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hatch::lifecycle {

struct CredhubFlags {
  int64_t connect_attempts = 3;  // Go's int
  absl::Duration retry_delay = absl::Seconds(1);
};

// hatch's own flags of `shell` (app_launch.h), accepted only where the caller passes a place
// for them:
//   -appPid=N         the app process whose environment to take (apps without droplet metadata)
//   -processType=T    the CNB process type whose env.launch/<T> and profile.d/<T> apply
struct AppFlags {
  int64_t app_pid = 0;
  std::string process_type;
};

// Parses args (the arguments after the positional ones). -h / -help yield a status whose code
// is kCancelled: the caller prints CredhubFlagsUsage() and exits 0, as Go does. Any other error
// is kInvalidArgument with Go's message ("flag provided but not defined: -x", "invalid value
// \"x\" for flag -credhubConnectAttempts: parse error"); Go exits 2 after printing it and the
// usage.
// With `app`, the AppFlags are accepted too. `consumed`, when given, is set to how many
// arguments were flags (and their values). The result starts from `base`: flags parsed
// earlier (shell's leading flags) keep their values unless these args set them again.
absl::StatusOr<CredhubFlags> ParseCredhubFlags(const std::vector<std::string>& args,
                                               AppFlags* app = nullptr,
                                               size_t* consumed = nullptr,
                                               const CredhubFlags& base = CredhubFlags());

// Go's usage text for a flag set named program ("Usage of shell:\n  -credhubConnectAttempts...");
// with_app_flags adds the AppFlags.
std::string CredhubFlagsUsage(absl::string_view program, bool with_app_flags = false);

// time.ParseDuration; exposed for tests.
absl::StatusOr<absl::Duration> ParseGoDuration(absl::string_view s);

// strconv.ParseInt(s, 0, 64); exposed for tests.
absl::StatusOr<int64_t> ParseGoInt(absl::string_view s);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_CREDHUB_FLAGS_H_
