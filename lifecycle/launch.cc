#include "lifecycle/launch.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

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

// sh only: said once, first, on stderr.
constexpr absl::string_view kShNotice =
    "echo 'hatch: no /bin/bash in this image: profile scripts and the command run with /bin/sh'"
    " >&2\n";

// sh only: sources the script that `word` names (a path with a '/': `.` searches PATH for a
// bare name). A directory is named and skipped (sh would silently read nothing); an unreadable
// script goes to `command .` for sh's own "can't open" message; one that /bin/sh cannot parse
// is named as needing bash and skipped, so none of it runs half-way.
std::string ShSource(absl::string_view word) {
  return absl::StrReplaceAll(
      "if [ -d @W@ ]; then\n"
      "  printf 'hatch: %s not sourced: it is a directory\\n' @W@ >&2\n"
      "elif [ ! -r @W@ ] || hatch_sh_error=$(/bin/sh -n @W@ 2>&1); then\n"
      "  command . @W@\n"
      "else\n"
      "  printf 'hatch: %s not sourced: it needs bash, and /bin/sh cannot parse it: %s\\n' "
      "@W@ \"$hatch_sh_error\" >&2\n"
      "fi\n",
      {{"@W@", word}});
}

// Indents every line of `text` (each ending in '\n') by `indent`.
std::string Indent(absl::string_view text, absl::string_view indent) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    absl::StrAppend(&out, indent, text.substr(start, end - start + 1));
    start = end + 1;
  }
  return out;
}

std::string SourceProfileDirs(Shell shell) {
  if (shell == Shell::kBash) return std::string(kSourceProfileDirs);
  return absl::StrCat("for hatch_profile_script in ../profile.d/* .profile.d/*; do\n",
                      "  if [ -e \"$hatch_profile_script\" ]; then\n",
                      Indent(ShSource("\"$hatch_profile_script\""), "    "), "  fi\n",
                      "done\n");
}

std::string SourceDotProfile(Shell shell) {
  if (shell == Shell::kBash) return std::string(kSourceDotProfile);
  return absl::StrCat("if [ -f .profile ]; then\n", Indent(ShSource("./.profile"), "  "),
                      "fi\n");
}

std::string Preamble(Shell shell) {
  return shell == Shell::kBash ? std::string(kChangeDir) : absl::StrCat(kShNotice, kChangeDir);
}

}  // namespace

Shell AvailableShell(const std::string& bash) {
  return ::access(bash.c_str(), X_OK) == 0 ? Shell::kBash : Shell::kSh;
}

const char* ShellPath(Shell shell) { return shell == Shell::kBash ? "/bin/bash" : "/bin/sh"; }

const char* ShellName(Shell shell) { return shell == Shell::kBash ? "bash" : "sh"; }

std::string ShellScript(Shell shell) {
  return absl::StrCat(Preamble(shell), SourceProfileDirs(shell), "shift\n", "exec ",
                      ShellName(shell), " -c \"$@\"\n");
}

std::string LauncherScript(absl::string_view entrypoint_prefix, Shell shell) {
  // The prefix is shell text from the buildpack (e.g. a wrapper and its flags), used as is.
  const std::string entrypoint = entrypoint_prefix.empty()
                                     ? absl::StrCat(ShellName(shell), " -c")
                                     : std::string(entrypoint_prefix);
  return absl::StrCat(Preamble(shell), "echo 'Invoking pre-start scripts.'\n",
                      SourceProfileDirs(shell), SourceDotProfile(shell), "shift\n",
                      "echo 'Invoking start command.'\n", "exec ", entrypoint, " \"$@\"\n");
}

std::string SourceListScript(const std::vector<std::string>& scripts, Shell shell) {
  // bash: a failing script is reported by bash, and the rest still run.
  std::string script = Preamble(shell);
  for (const std::string& path : scripts) {
    if (shell == Shell::kBash) {
      absl::StrAppend(&script, "source ", ShellQuote(path), "\n");
    } else {
      absl::StrAppend(&script, ShSource(ShellQuote(path)));
    }
  }
  absl::StrAppend(&script, "shift\nexec ", ShellName(shell), " -c \"$@\"\n");
  return script;
}

absl::Status ExecShell(Shell shell, const std::string& script, const std::string& argv0,
                       const std::string& app_dir, const std::string& command,
                       const Environment& env) {
  const std::string name = ShellName(shell);
  const std::string dash_c = "-c";
  std::vector<char*> argv;
  for (const std::string* arg : {&name, &dash_c, &script, &argv0, &app_dir, &command}) {
    argv.push_back(const_cast<char*>(arg->c_str()));
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& entry : env.entries()) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  ::execve(ShellPath(shell), argv.data(), envp.data());
  return absl::FailedPreconditionError(
      absl::StrCat("exec ", ShellPath(shell), ": ", std::strerror(errno)));
}

std::string ShellQuote(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

}  // namespace hatch::lifecycle
