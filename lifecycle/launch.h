// The last step of `shell` and `launcher`: a shell, in the app dir, sources the profile scripts
// into its own environment and then execs the command, so the command sees what the scripts
// exported. As in buildpackapplifecycle:
//   bash -c <script> <argv0> <app_dir> <command>
// where the script does `cd "$1"`, sources ../profile.d/* then .profile.d/* (each glob sorted
// by the shell; names that do not exist, e.g. an empty dir's unexpanded glob, are skipped; a
// script that cannot be read makes the shell print an error naming it, and the rest still run),
// and for the launcher also .profile when it is a regular file, then `exec bash -c "$command"`
// (the launcher: `exec <entrypoint_prefix> "$command"` when staging_info.yml names a prefix).
// The shell's error messages name argv0, as the original's do. The exit status is the
// command's. The launcher prints "Invoking pre-start scripts." before the profile scripts and
// "Invoking start command." before the exec, on stdout, as the original does.
//
// Without /bin/bash (a busybox or distroless-with-sh image) the same runs with /bin/sh, and
// `sh` takes bash's place everywhere (the interactive default, `exec sh -c`). The sh program
// first says so on stderr, once. It sources with `command .` (POSIX `.` would end the shell
// on a script's syntax or expansion error; `command` keeps it going), and checks each script
// with `/bin/sh -n` first: a script sh cannot parse (bash-only syntax: arrays, `function f {`,
// `<(...)` in dash) is not sourced, and a line names it and says it needs bash. Bash-only
// commands that parse (`shopt`, `[[` in dash) fail when run, with sh's own message naming the
// script. With bash present the program is exactly buildpackapplifecycle's (`source`).
#ifndef HATCH_LIFECYCLE_LAUNCH_H_
#define HATCH_LIFECYCLE_LAUNCH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lifecycle/environment.h"

namespace hatch::lifecycle {

enum class Shell {
  kBash,  // /bin/bash, as buildpackapplifecycle
  kSh,    // /bin/sh, for an image without /bin/bash
};

// kBash when `bash` (normally /bin/bash) is an executable, else kSh. Tests name a bash that
// does not exist to get the fallback on a machine that has one.
Shell AvailableShell(const std::string& bash = "/bin/bash");

// "/bin/bash" or "/bin/sh": what is exec'd.
const char* ShellPath(Shell shell);
// "bash" or "sh": the interactive default command and the command's own `exec <name> -c`
// (found on PATH, as the original runs `bash -c`).
const char* ShellName(Shell shell);

// The programs (for `<ShellPath> -c <program> <argv0> <app_dir> <command>`) of `shell` with a
// classic droplet, of `launcher`, and of a droplet whose profile scripts are a list of absolute
// paths (CNB): cd to the app dir, source `scripts` in order, exec the command.
std::string ShellScript(Shell shell);
std::string LauncherScript(absl::string_view entrypoint_prefix, Shell shell);
std::string SourceListScript(const std::vector<std::string>& scripts, Shell shell);

// Replaces this process with ShellPath(shell) running script (see above), with exactly env's
// entries as its environment. Returns only when exec fails, with the reason.
absl::Status ExecShell(Shell shell, const std::string& script, const std::string& argv0,
                       const std::string& app_dir, const std::string& command,
                       const Environment& env);

// A shell word (bash and POSIX sh) that expands to exactly `s` (single quotes; ' as '\'').
std::string ShellQuote(const std::string& s);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_LAUNCH_H_
