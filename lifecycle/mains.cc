#include "lifecycle/mains.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "lifecycle/app_env.h"
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

// The credhub retry reports, on stdout as in the original; flushed before bash replaces us.
void ReportOnStdout(absl::string_view line) {
  std::fprintf(stdout, "%.*s\n", static_cast<int>(line.size()), line.data());
  std::fflush(stdout);
}

// Go's flag package with ExitOnError: usage and 0 for -h, the error, usage and 2 otherwise.
// nullopt when the flags parsed.
std::optional<int> ParseFlagsOrExit(const std::vector<std::string>& args, absl::string_view program,
                                    CredhubFlags* flags) {
  auto parsed = ParseCredhubFlags(args);
  if (parsed.ok()) {
    *flags = *parsed;
    return std::nullopt;
  }
  if (absl::IsCancelled(parsed.status())) {
    std::fputs(CredhubFlagsUsage(program).c_str(), stderr);
    return 0;
  }
  PrintError(parsed.status().message());
  std::fputs(CredhubFlagsUsage(program).c_str(), stderr);
  return 2;
}

// A directory that stat(2) can see; the error says what is wrong with it.
absl::Status CheckAppDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(dir, ": ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) return absl::NotFoundError(absl::StrCat(dir, ": not a directory"));
  return absl::OkStatus();
}

}  // namespace

int ShellMain(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  const std::string program = args.empty() ? "shell" : args[0];
  Environment env = Environment::FromProcess();

  std::string dir;
  if (args.size() >= 2) {
    dir = args[1];
    if (absl::Status s = CheckAppDir(dir); !s.ok()) {
      PrintError(absl::StrCat("Provided app directory does not exist: ", s.message()));
      return 1;
    }
  } else {
    dir = GoJoinPath({env.Get("HOME"), "app"});
    if (absl::Status s = CheckAppDir(dir); !s.ok()) {
      PrintError(absl::StrCat("Could not infer app directory, please provide one (", s.message(), ")"));
      return 1;
    }
  }
  if (auto abs = GoAbsPath(dir, env.Get("PWD")); abs.ok()) dir = *abs;

  std::string command = "bash";
  std::vector<std::string> flag_args;
  if (args.size() >= 3) {
    command = args[2];
    flag_args.assign(args.begin() + 3, args.end());
  }
  CredhubFlags flags;
  if (auto exit_code = ParseFlagsOrExit(flag_args, "shell", &flags)) return *exit_code;

  if (absl::Status s = BuildAppEnvironment(env, dir, flags, ReportOnStdout); !s.ok()) {
    PrintError(s.message());
    return 1;
  }
  std::fflush(nullptr);
  const absl::Status s = ExecBash(ShellScript(), program, dir, command, env);
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
  const absl::Status s =
      ExecBash(LauncherScript(staging_info->entrypoint_prefix), program, dir, command, env);
  PrintError(s.message());
  return 4;
}

}  // namespace hatch::lifecycle
