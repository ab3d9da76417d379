// The last step of `shell` and `launcher`: /bin/bash, in the app dir, sources the profile
// scripts into its own environment and then execs the command, so the command sees what the
// scripts exported. As in buildpackapplifecycle:
//   bash -c <script> <argv0> <app_dir> <command>
// where the script does `cd "$1"`, sources ../profile.d/* then .profile.d/* (each glob sorted
// by bash; names that do not exist, e.g. an empty dir's unexpanded glob, are skipped; a script
// that cannot be read makes bash print an error naming it, and the rest still run), and for the
// launcher also .profile when it is a regular file, then `exec bash -c "$command"` (the launcher:
// `exec <entrypoint_prefix> "$command"` when staging_info.yml names a prefix). bash's error
// messages name argv0, as the original's do. The exit status is the command's.
// The launcher prints "Invoking pre-start scripts." before the profile scripts and "Invoking
// start command." before the exec, on stdout, as the original does.
#ifndef HATCH_LIFECYCLE_LAUNCH_H_
#define HATCH_LIFECYCLE_LAUNCH_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "lifecycle/environment.h"

namespace hatch::lifecycle {

// The bash program of `shell` and of `launcher`.
std::string ShellScript();
std::string LauncherScript(absl::string_view entrypoint_prefix);

// Replaces this process with /bin/bash running script (see above), with exactly env's entries
// as its environment. Returns only when exec fails, with the reason.
absl::Status ExecBash(const std::string& script, const std::string& argv0,
                      const std::string& app_dir, const std::string& command,
                      const Environment& env);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_LAUNCH_H_
