#include "lifecycle/launch.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hatch::lifecycle {
namespace {

// $1 is the app dir, $2 the command. Sourcing happens before `shift`, so a profile script
// sees the same positional parameters as under the original.
constexpr absl::string_view kChangeDir = "cd \"$1\"\n";
constexpr absl::string_view kSourceProfileDirs =
    "for hatch_profile_script in ../profile.d/* .profile.d/*; do\n"
    "  if [ -e \"$hatch_profile_script\" ]; then\n"
    "    source \"$hatch_profile_script\"\n"
    "  fi\n"
    "done\n";
constexpr absl::string_view kSourceDotProfile =
    "if [ -f .profile ]; then\n"
    "  source .profile\n"
    "fi\n";

}  // namespace

std::string ShellScript() {
  return absl::StrCat(kChangeDir, kSourceProfileDirs, "shift\n", "exec bash -c \"$@\"\n");
}

std::string LauncherScript(absl::string_view entrypoint_prefix) {
  // The prefix is shell text from the buildpack (e.g. a wrapper and its flags), used as is.
  const absl::string_view entrypoint = entrypoint_prefix.empty() ? "bash -c" : entrypoint_prefix;
  return absl::StrCat(kChangeDir, "echo 'Invoking pre-start scripts.'\n", kSourceProfileDirs,
                      kSourceDotProfile, "shift\n", "echo 'Invoking start command.'\n", "exec ",
                      entrypoint, " \"$@\"\n");
}

absl::Status ExecBash(const std::string& script, const std::string& argv0,
                      const std::string& app_dir, const std::string& command,
                      const Environment& env) {
  const std::string bash = "bash";
  const std::string dash_c = "-c";
  std::vector<char*> argv;
  for (const std::string* arg : {&bash, &dash_c, &script, &argv0, &app_dir, &command}) {
    argv.push_back(const_cast<char*>(arg->c_str()));
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& entry : env.entries()) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  ::execve("/bin/bash", argv.data(), envp.data());
  return absl::FailedPreconditionError(absl::StrCat("exec /bin/bash: ", std::strerror(errno)));
}

}  // namespace hatch::lifecycle
