#include "lifecycle/mains.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/app_env.h"
#include "lifecycle/app_launch.h"
#include "lifecycle/credhub_flags.h"
#include "lifecycle/environment.h"
#include "lifecycle/go_path.h"
#include "lifecycle/launch.h"
#include "lifecycle/staging_info.h"

namespace hatch::lifecycle {
namespace {

void PrintError(absl::string_view message) {
  std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
}

// The credhub retry reports, on stdout as in the original; flushed before the shell replaces us.
void ReportOnStdout(absl::string_view line) {
  std::fprintf(stdout, "%.*s\n", static_cast<int>(line.size()), line.data());
  std::fflush(stdout);
}

// Go's flag package with ExitOnError: usage and 0 for -h, the error, usage and 2 otherwise.
// nullopt when the flags parsed.
// `app` (shell only) accepts hatch's app flags too; `consumed` counts the flag arguments.
std::optional<int> ParseFlagsOrExit(const std::vector<std::string>& args, absl::string_view program,
                                    CredhubFlags* flags, AppFlags* app = nullptr,
                                    size_t* consumed = nullptr) {
  auto parsed = ParseCredhubFlags(args, app, consumed, *flags);  // on top of earlier flags
  if (parsed.ok()) {
    *flags = *parsed;
    return std::nullopt;
  }
  const std::string usage = CredhubFlagsUsage(program, app != nullptr);
  if (absl::IsCancelled(parsed.status())) {
    std::fputs(usage.c_str(), stderr);
    return 0;
  }
  PrintError(parsed.status().message());
  std::fputs(usage.c_str(), stderr);
  return 2;
}

}  // namespace

int ShellMain(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  const std::string program = args.empty() ? "shell" : args[0];
  const Environment env = Environment::FromProcess();

  // hatch: shell [FLAGS] [APP_DIR [COMMAND [FLAGS]]]. The original takes flags only after
  // COMMAND; leading flags make `shell -appPid=N` possible without naming a dir.
  CredhubFlags flags;
  AppFlags app_flags;
  size_t first = 1;
  if (args.size() >= 2 && args[1].size() >= 2 && args[1][0] == '-') {
    size_t consumed = 0;
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (auto exit_code = ParseFlagsOrExit(rest, "shell", &flags, &app_flags, &consumed)) {
      return *exit_code;
    }
    first += consumed;
  }
  const std::vector<std::string> positional(args.begin() + first, args.end());
  AppLaunchOptions options;
  if (!positional.empty()) options.app_dir = positional[0];
  std::string command;
  if (positional.size() >= 2) command = positional[1];
  if (positional.size() >= 3) {
    const std::vector<std::string> trailing(positional.begin() + 2, positional.end());
    if (auto exit_code = ParseFlagsOrExit(trailing, "shell", &flags, &app_flags, nullptr)) {
      return *exit_code;
    }
  }
  if (positional.size() >= 1 && options.app_dir.empty()) {
    PrintError("Provided app directory does not exist: : No such file or directory");
    return 1;
  }
  options.app_pid = static_cast<pid_t>(app_flags.app_pid);
  options.process_type = app_flags.process_type;
  options.uid = ::getuid();
  options.credhub = flags;

  auto launch = PrepareAppLaunch(env, options, ReportOnStdout);
  if (!launch.ok()) {
    PrintError(launch.status().message());
    return 1;
  }
  // The app process's environment has no terminal type; the caller's terminal is this one.
  if (launch->kind == AppKind::kProcess) {
    if (auto term = env.Lookup("TERM")) (void)launch->env.Set("TERM", *term);
  }
  std::fflush(nullptr);
  const absl::Status s = ExecAppLaunch(*launch, program, command);
  PrintError(s.message());
  return 1;
}

int LauncherMain(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  const std::string program = args.empty() ? "launcher" : args[0];
  if (args.size() < 4) {
    PrintError(absl::StrCat(program, ": received only ", args.empty() ? 0 : args.size() - 1,
                            " arguments"));
    PrintError(absl::StrCat("Usage: ", program, " <app-directory> <start-command> <metadata>"));
    return 1;
  }
  Environment env = Environment::FromProcess();
  std::string dir = args[1];
  if (auto abs = GoAbsPath(dir, env.Get("PWD")); abs.ok()) dir = *abs;

  auto staging_info = ReadStagingInfo("staging_info.yml");
  if (!staging_info.ok()) {
    PrintError(absl::StrCat("Invalid staging info - ", staging_info.status().message()));
    return 1;
  }
  const std::string command = !args[2].empty() ? args[2] : staging_info->start_command;
  if (command.empty()) {
    PrintError(absl::StrCat(program, ": no start command specified or detected in droplet"));
    return 1;
  }
  CredhubFlags flags;
  const std::vector<std::string> flag_args(args.begin() + 3, args.end());
  if (auto exit_code = ParseFlagsOrExit(flag_args, "launcher", &flags)) return *exit_code;

  if (absl::Status s = BuildAppEnvironment(env, dir, flags, ReportOnStdout); !s.ok()) {
    PrintError(s.message());
    return 3;
  }
  std::fflush(nullptr);
  // The start command runs with sh in an image without bash too (saying so on stderr, in the
  // app's log): a POSIX start command then works, where the original fails to exec bash.
  const Shell shell = AvailableShell();
  const absl::Status s = ExecShell(shell, LauncherScript(staging_info->entrypoint_prefix, shell),
                                   program, dir, command, env);
  PrintError(s.message());
  return 4;
}

}  // namespace hatch::lifecycle
