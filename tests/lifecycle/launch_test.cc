// The programs of launch.h: bash's exactly as buildpackapplifecycle's, and the /bin/sh
// fallback for images without bash, run for real by this machine's /bin/sh on droplet layouts
// in temp dirs (the release test runs them with busybox's sh in a rootfs without bash).
#include "lifecycle/launch.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/lifecycle/test_util.h"

namespace hatch::lifecycle {
namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing::MakeDirs;
using testing::RunResult;
using testing::TempDir;
using testing::WriteFile;

constexpr char kShNotice[] =
    "hatch: no /bin/bash in this image: profile scripts and the command run with /bin/sh\n";

// Runs `<shell> -c script argv0 app command` as shell and launcher do.
RunResult RunProgram(Shell shell, const std::string& script, const std::string& app,
                     const std::string& command, const std::string& cwd = "/") {
  return testing::Run({ShellPath(shell), "-c", script, "shell", app, command},
                      {"PATH=/usr/bin:/bin", "LANG=C"}, cwd);
}

// A classic droplet: <root>/app with .profile.d, <root>/profile.d.
class ClassicDroplet {
 public:
  ClassicDroplet() { MakeDirs(app()); }
  std::string app() const { return dir_ / "app"; }
  void Write(const std::string& rel, const std::string& content) { WriteFile(dir_ / rel, content); }
  std::string root() const { return dir_.path(); }

 private:
  TempDir dir_;
};

TEST(Launch, BashProgramsAreBuildpackapplifecyclesAsBefore) {
  // The exact text (with `source`), so images with bash run what they always ran.
  const std::string source_dirs =
      "for hatch_profile_script in ../profile.d/* .profile.d/*; do\n"
      "  if [ -e \"$hatch_profile_script\" ]; then\n"
      "    source \"$hatch_profile_script\"\n"
      "  fi\n"
      "done\n";
  EXPECT_EQ(ShellScript(Shell::kBash),
            "cd \"$1\"\n" + source_dirs + "shift\nexec bash -c \"$@\"\n");
  const std::string launcher_head = "cd \"$1\"\necho 'Invoking pre-start scripts.'\n" +
                                    source_dirs +
                                    "if [ -f .profile ]; then\n  source .profile\nfi\n"
                                    "shift\necho 'Invoking start command.'\n";
  EXPECT_EQ(LauncherScript("", Shell::kBash), launcher_head + "exec bash -c \"$@\"\n");
  EXPECT_EQ(LauncherScript("/usr/bin/env -u X", Shell::kBash),
            launcher_head + "exec /usr/bin/env -u X \"$@\"\n");
  EXPECT_EQ(SourceListScript({"/l/a b.sh", "/w/it's"}, Shell::kBash),
            "cd \"$1\"\nsource '/l/a b.sh'\nsource '/w/it'\\''s'\nshift\nexec bash -c \"$@\"\n");
}

TEST(Launch, ShIsTheFallbackWhenBashIsMissingOrNotExecutable) {
  EXPECT_EQ(AvailableShell("/bin/bash"), Shell::kBash);  // Debian has it
  EXPECT_EQ(AvailableShell("/nonexistent/bash"), Shell::kSh);
  TempDir dir;
  WriteFile(dir / "bash", "#!/bin/sh\n", 0644);
  EXPECT_EQ(AvailableShell(dir / "bash"), Shell::kSh);
  EXPECT_STREQ(ShellPath(Shell::kSh), "/bin/sh");
  EXPECT_STREQ(ShellName(Shell::kSh), "sh");
  EXPECT_STREQ(ShellPath(Shell::kBash), "/bin/bash");
  EXPECT_STREQ(ShellName(Shell::kBash), "bash");
}

TEST(Launch, ShProgramsUseNoBashBuiltin) {
  for (const std::string& script :
       {ShellScript(Shell::kSh), LauncherScript("", Shell::kSh),
        SourceListScript({"/a.sh"}, Shell::kSh)}) {
    // `source` is bash's (and busybox's, but not dash's); every line's first word counts.
    EXPECT_THAT(script, AllOf(Not(ContainsRegex("(^|\n) *source ")), Not(HasSubstr("bash -c")),
                              HasSubstr("command . ")))
        << script;
    EXPECT_THAT(script, StartsWith("echo 'hatch: no /bin/bash in this image")) << script;
  }
}

TEST(Launch, ShSourcesPosixScriptsInOrderAndNamesTheOnesThatNeedBash) {
  ClassicDroplet d;
  d.Write("profile.d/a.sh", "echo p:a in $(pwd) with $1\nexport A=1\n");
  d.Write("profile.d/b.sh", "f() { echo p:b; }\nf\n");
  d.Write("app/.profile.d/arrays.sh", "export HALF=1\nx=(1 2)\n");
  d.Write("app/.profile.d/c d.sh", "echo 'a:c d'\nexport C=$A$A\n");
  const RunResult r = RunProgram(Shell::kSh, ShellScript(Shell::kSh), d.app(),
                                 "echo A=$A C=$C HALF=$HALF BASH=$BASH_VERSION; exit 3");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "p:a in " + d.app() + " with " + d.app() + "\np:b\na:c d\n"
                   "A=1 C=11 HALF= BASH=\n");
  // Told once which shell runs; the bash-only script named, none of it run (HALF is unset).
  EXPECT_THAT(r.err, StartsWith(kShNotice));
  EXPECT_THAT(r.err, HasSubstr("hatch: .profile.d/arrays.sh not sourced: it needs bash, and "
                               "/bin/sh cannot parse it: "));
  EXPECT_EQ(r.err.find(kShNotice, 1), std::string::npos);
}

TEST(Launch, ShKeepsGoingPastADirectoryAndARunTimeError) {
  ClassicDroplet d;
  d.Write("profile.d/a.sh", "export A=1\n");
  MakeDirs(d.root() + "/profile.d/b.sh");  // a directory: sh would read nothing, silently
  d.Write("profile.d/c.sh", "echo ${A:?}; x=${A/1/2}\nexport C=1\n");  // dash: Bad substitution
  d.Write("app/.profile.d/d.sh", "export D=1\n");
  const RunResult r =
      RunProgram(Shell::kSh, ShellScript(Shell::kSh), d.app(), "echo A=$A D=$D");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("A=1 D=1\n"));
  EXPECT_THAT(r.err, HasSubstr("hatch: ../profile.d/b.sh not sourced: it is a directory\n"));
}

TEST(Launch, ShWithoutCommandRunsSh) {
  ClassicDroplet d;
  // stdin at EOF: the interactive-if-possible default just exits.
  const RunResult r = RunProgram(Shell::kSh, ShellScript(Shell::kSh), d.app(), "sh");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, kShNotice);
}

TEST(Launch, ShLauncherSourcesTheAppsDotProfileNotOneOnPath) {
  ClassicDroplet d;
  d.Write("app/.profile", "export FROM=app\n");
  // `. .profile` would search PATH; a .profile there must not be the one sourced.
  d.Write("bin/.profile", "export FROM=path\n");
  d.Write("app/.profile.d/x.sh", "export X=1\n");
  const RunResult r = testing::Run(
      {"/bin/sh", "-c", LauncherScript("", Shell::kSh), "launcher", d.app(),
       "echo FROM=$FROM X=$X"},
      {"PATH=" + d.root() + "/bin:/usr/bin:/bin"}, "/");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Invoking pre-start scripts.\nInvoking start command.\nFROM=app X=1\n");
  EXPECT_EQ(r.err, kShNotice);
}

TEST(Launch, ShLauncherNamesABashOnlyDotProfileAndHonoursTheEntrypointPrefix) {
  ClassicDroplet d;
  d.Write("app/.profile", "function f {\n  :\n}\n");
  const RunResult r = RunProgram(Shell::kSh, LauncherScript("/usr/bin/env X=1 sh -c", Shell::kSh),
                                 d.app(), "echo X=$X");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Invoking pre-start scripts.\nInvoking start command.\nX=1\n");
  EXPECT_THAT(r.err, HasSubstr("hatch: ./.profile not sourced: it needs bash"));
}

TEST(Launch, ShSourceListQuotesPathsAndNamesTheOnesThatNeedBash) {
  ClassicDroplet d;
  d.Write("layers/a b/it's.sh", "export A=1\necho \"P1=$1\"\n");
  d.Write("layers/bash.sh", "x=(1)\n");
  d.Write("app/.profile", "export B=$A$A\n");
  const RunResult r = RunProgram(
      Shell::kSh,
      SourceListScript({d.root() + "/layers/a b/it's.sh", d.root() + "/layers/bash.sh",
                        d.app() + "/.profile"},
                       Shell::kSh),
      d.app(), "echo A=$A B=$B PWD=$(pwd)");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "P1=" + d.app() + "\nA=1 B=11 PWD=" + d.app() + "\n");
  EXPECT_THAT(r.err, StartsWith(kShNotice));
  EXPECT_THAT(r.err, HasSubstr("hatch: " + d.root() + "/layers/bash.sh not sourced: it needs bash"));
}

TEST(Launch, BashStillSourcesBashOnlyScripts) {
  ClassicDroplet d;
  d.Write("app/.profile.d/arrays.sh", "x=(1 2)\nexport N=${#x[@]}\n");
  const RunResult r =
      RunProgram(Shell::kBash, ShellScript(Shell::kBash), d.app(), "echo N=$N");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "N=2\n");
  EXPECT_EQ(r.err, "");
}

}  // namespace
}  // namespace hatch::lifecycle
