#include "lifecycle/app_launch.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lifecycle/app_env.h"
#include "lifecycle/app_process.h"
#include "lifecycle/cnb.h"
#include "lifecycle/go_path.h"
#include "lifecycle/launch.h"

namespace hatch::lifecycle {
namespace {

constexpr char kDefaultLayersDir[] = "/home/vcap/layers";
constexpr char kDefaultCnbAppDir[] = "/home/vcap/workspace";
constexpr char kDefaultProcessType[] = "web";

absl::Status CheckDirectory(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(dir, ": ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) return absl::NotFoundError(absl::StrCat(dir, ": not a directory"));
  return absl::OkStatus();
}

std::string FirstOf(const std::string& a, const std::string& b, const char* fallback) {
  if (!a.empty()) return a;
  if (!b.empty()) return b;
  return fallback;
}

// The shell of a droplet launch: bash, or sh in an image without /bin/bash (launch.h).
void SetShell(AppLaunch& launch, Shell shell) {
  launch.interpreter = ShellPath(shell);
  launch.default_command = ShellName(shell);
}

absl::StatusOr<AppLaunch> PrepareCnb(Environment env, const AppLaunchOptions& options,
                                     const std::string& layers_dir, const ReportFn& report) {
  AppLaunch launch;
  launch.kind = AppKind::kCnb;
  launch.app_dir = FirstOf(options.app_dir, env.Get("CNB_APP_DIR"), kDefaultCnbAppDir);
  // Relative dirs (`shell workspace`) are the working directory's, as for classic droplets.
  if (auto abs = GoAbsPath(launch.app_dir, env.Get("PWD")); abs.ok()) launch.app_dir = *abs;
  if (absl::Status s = CheckDirectory(launch.app_dir); !s.ok()) {
    return absl::NotFoundError(absl::StrCat("CNB app directory does not exist: ", s.message()));
  }
  CnbOptions cnb;
  cnb.layers_dir = layers_dir;
  if (auto abs = GoAbsPath(layers_dir, env.Get("PWD")); abs.ok()) cnb.layers_dir = *abs;
  cnb.app_dir = launch.app_dir;
  cnb.process_type =
      FirstOf(options.process_type, env.Get("CNB_PROCESS_TYPE"), kDefaultProcessType);
  auto scripts = ApplyCnbLaunchEnvironment(env, cnb);
  if (!scripts.ok()) return scripts.status();
  if (absl::Status s = BuildServiceEnvironment(env, options.credhub, report); !s.ok()) return s;
  launch.env = std::move(env);
  const Shell shell = AvailableShell(options.bash);
  SetShell(launch, shell);
  launch.script = SourceListScript(*scripts, shell);
  return launch;
}

absl::StatusOr<AppLaunch> PrepareBuildpack(Environment env, const AppLaunchOptions& options,
                                           const ReportFn& report) {
  AppLaunch launch;
  launch.kind = AppKind::kBuildpack;
  std::string dir = options.app_dir.empty() ? GoJoinPath({env.Get("HOME"), "app"})
                                            : options.app_dir;
  if (auto abs = GoAbsPath(dir, env.Get("PWD")); abs.ok()) dir = *abs;
  if (absl::Status s = BuildAppEnvironment(env, dir, options.credhub, report); !s.ok()) return s;
  launch.env = std::move(env);
  launch.app_dir = dir;
  const Shell shell = AvailableShell(options.bash);
  SetShell(launch, shell);
  launch.script = ShellScript(shell);
  return launch;
}

absl::StatusOr<AppLaunch> PrepareProcess(const AppLaunchOptions& options) {
  pid_t pid = options.app_pid;
  if (pid <= 0) {
    auto found = FindAppProcess(options.uid);
    if (!found.ok()) return found.status();
    pid = *found;
  }
  auto app = ReadAppProcess(pid);
  if (!app.ok()) return app.status();
  AppLaunch launch;
  launch.kind = AppKind::kProcess;
  launch.env = Environment(app->environ);
  // A process started with an empty environment still needs a way to find programs.
  if (!launch.env.Lookup("PATH").has_value()) (void)launch.env.Set("PATH", "/bin:/usr/bin");
  launch.app_dir = options.app_dir.empty() ? app->cwd : options.app_dir;
  // No profile scripts to source, so no notice: images without bash are common here.
  launch.interpreter = ShellPath(AvailableShell(options.bash));
  launch.script = absl::StrCat("cd \"$1\" || exit 1\nshift\nexec ", launch.interpreter,
                               " -c \"$1\"\n");
  launch.default_command = launch.interpreter;
  return launch;
}

}  // namespace

const char* AppKindName(AppKind kind) {
  switch (kind) {
    case AppKind::kCnb:
      return "cnb";
    case AppKind::kBuildpack:
      return "buildpack";
    case AppKind::kProcess:
      return "process";
  }
  return "unknown";
}

absl::StatusOr<AppLaunch> PrepareAppLaunch(Environment env, const AppLaunchOptions& options,
                                           const ReportFn& report) {
  const std::string layers_dir =
      FirstOf(options.layers_dir, env.Get("CNB_LAYERS_DIR"), kDefaultLayersDir);
  if (IsCnbDroplet(layers_dir)) return PrepareCnb(std::move(env), options, layers_dir, report);
  if (options.app_pid > 0) return PrepareProcess(options);

  if (!options.app_dir.empty()) {
    if (absl::Status s = CheckDirectory(options.app_dir); !s.ok()) {
      return absl::NotFoundError(
          absl::StrCat("Provided app directory does not exist: ", s.message()));
    }
    return PrepareBuildpack(std::move(env), options, report);
  }
  if (CheckDirectory(GoJoinPath({env.Get("HOME"), "app"})).ok()) {
    return PrepareBuildpack(std::move(env), options, report);
  }
  auto launch = PrepareProcess(options);
  if (!launch.ok()) {
    // Nothing to go on: say every place that was looked at.
    return absl::NotFoundError(absl::StrCat(
        "Could not infer app directory, please provide one (",
        CheckDirectory(GoJoinPath({env.Get("HOME"), "app"})).message(), "; no CNB metadata at ",
        layers_dir, "/config/metadata.toml; ", launch.status().message(), ")"));
  }
  return launch;
}

std::vector<std::string> AppLaunchArgv(const AppLaunch& launch, const std::string& argv0,
                                       const std::string& command) {
  return {launch.interpreter, "-c", launch.script, argv0, launch.app_dir,
          command.empty() ? launch.default_command : command};
}

absl::Status ExecAppLaunch(const AppLaunch& launch, const std::string& argv0,
                           const std::string& command) {
  const std::vector<std::string> args = AppLaunchArgv(launch, argv0, command);
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : launch.env.entries()) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  ::execve(launch.interpreter.c_str(), argv.data(), envp.data());
  return absl::FailedPreconditionError(
      absl::StrCat("exec ", launch.interpreter, ": ", std::strerror(errno)));
}

}  // namespace hatch::lifecycle
