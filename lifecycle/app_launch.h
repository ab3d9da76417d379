// How to run a command in the app's environment, for each kind of app:
//
//   kCnb        a Cloud Native Buildpacks droplet: <layers>/config/metadata.toml exists
//               (layers: options.layers_dir, else $CNB_LAYERS_DIR, else /home/vcap/layers).
//               App dir: options.app_dir, else $CNB_APP_DIR, else /home/vcap/workspace.
//               The layers' launch environment (cnb.h), then credhub interpolation and
//               DATABASE_URL as for classic apps; bash sources the layers' profile scripts
//               and the app's .profile (launch.h's SourceListScript).
//   kBuildpack  a classic droplet: options.app_dir, else $HOME/app, is a directory. The
//               environment of app_env.h; bash sources ../profile.d/* and .profile.d/*
//               (launch.h's ShellScript), in buildpackapplifecycle's order (paths quoted,
//               no `ls` check: lifecycle/README.md).
//               For both kinds, without /bin/bash /bin/sh does it all, says so on stderr
//               and names the profile scripts it cannot parse (launch.h).
//   kProcess    options.app_pid names a process, or no droplet of either kind is there (a
//               Docker image): the environment and working directory (unless options.app_dir
//               names one) of the app process (app_process.h), named or found automatically.
//               No profile scripts; the command runs with /bin/bash, or /bin/sh without bash.
//
// The kinds are tried in that order. PrepareAppLaunch does all the work that may be slow or
// fail (credhub, reading metadata); AppLaunchArgv only builds an argv, so a caller can
// prepare once and start many commands from the result (the daemon's -appEnvironment does,
// once per connection).
#ifndef HATCH_LIFECYCLE_APP_LAUNCH_H_
#define HATCH_LIFECYCLE_APP_LAUNCH_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lifecycle/credhub.h"
#include "lifecycle/credhub_flags.h"
#include "lifecycle/environment.h"
#include "lifecycle/launch.h"

namespace hatch::lifecycle {

enum class AppKind { kCnb, kBuildpack, kProcess };

// "cnb", "buildpack", "process": for logs and messages.
const char* AppKindName(AppKind kind);

struct AppLaunchOptions {
  std::string app_dir;       // "" = per kind, see above
  std::string layers_dir;    // CNB; "" = $CNB_LAYERS_DIR or /home/vcap/layers
  std::string process_type;  // CNB; "" = $CNB_PROCESS_TYPE or "web"
  pid_t app_pid = 0;         // kProcess; 0 = find the app process
  uid_t uid = 0;             // kProcess: whose processes may be the app (normally getuid())
  std::string bash = "/bin/bash";  // when not executable, /bin/sh runs everything instead
  CredhubFlags credhub;
};

struct AppLaunch {
  AppKind kind = AppKind::kBuildpack;
  Environment env;             // the whole environment the command runs with
  std::string app_dir;         // absolute; the command's working directory
  std::string interpreter;     // "/bin/bash", or "/bin/sh" without bash
  std::string script;          // the interpreter's program: cd, source, exec the command
  std::string default_command; // what an interactive session runs: "bash" or "sh" (kProcess:
                               // the interpreter's path)
};

// `env` is the environment to start from (for kProcess it is replaced by the app process's).
// Errors are one line fit for a user: the app dir that is missing, the corrupt metadata.toml,
// the unreadable process, the credhub failure. Credhub retries are reported through `report`.
absl::StatusOr<AppLaunch> PrepareAppLaunch(Environment env, const AppLaunchOptions& options,
                                           const ReportFn& report);

// {interpreter, "-c", script, argv0, app_dir, command}: cd to the app dir, source the profile
// scripts, then `exec bash -c command` (sh without bash). An empty command runs
// default_command. argv0 names the program in the interpreter's error messages.
std::vector<std::string> AppLaunchArgv(const AppLaunch& launch, const std::string& argv0,
                                       const std::string& command);

// Replaces this process with AppLaunchArgv's command line and exactly launch.env. Returns only
// when exec fails, with the reason.
absl::Status ExecAppLaunch(const AppLaunch& launch, const std::string& argv0,
                           const std::string& command);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_APP_LAUNCH_H_
