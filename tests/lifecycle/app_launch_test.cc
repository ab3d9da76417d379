// The app launch interface (app_launch.h) and the app process lookup (app_process.h), on real
// directories and real processes.
#include "lifecycle/app_launch.h"

#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lifecycle/app_process.h"
#include "lifecycle/launch.h"
#include "tests/lifecycle/test_util.h"

namespace hatch::lifecycle {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing::MakeDirs;
using testing::TempDir;
using testing::WriteFile;

ReportFn NoReports() {
  return [](absl::string_view line) { ADD_FAILURE() << "unexpected report: " << line; };
}

// A child process with the given environment and working directory, ended at destruction
// with everything it started.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::string& cwd, uid_t uid = 0) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);  // its own group, so the destructor also ends what it started
      if (uid != 0 && (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0)) {
        _exit(126);
      }
      if (::chdir(cwd.c_str()) != 0) _exit(126);
      std::vector<char*> a, e;
      for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
      for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
      a.push_back(nullptr);
      e.push_back(nullptr);
      ::execve(a[0], a.data(), e.data());
      _exit(127);
    }
    // Until the exec is done /proc shows the test program; wait for the new image.
    for (int i = 0; i < 500; ++i) {
      auto cmdline = testing::ReadFileOrDie("/proc/" + std::to_string(pid_) + "/cmdline");
      if (cmdline.rfind(argv[0], 0) == 0) break;
      ::usleep(2000);
    }
  }
  ~ChildProcess() {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

TEST(AppProcess, ReadsTheEnvironmentAndWorkingDirectoryOfAProcess) {
  TempDir dir;
  ChildProcess app({"/bin/sleep", "30"}, {"APP_MODE=docker", "PATH=/bin", "EMPTY="}, dir.path());
  auto read = ReadAppProcess(app.pid());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->pid, app.pid());
  EXPECT_THAT(read->environ, ElementsAre("APP_MODE=docker", "PATH=/bin", "EMPTY="));
  EXPECT_EQ(read->cwd, dir.path());
}

TEST(AppProcess, AProcessThatIsGoneIsAClearError) {
  pid_t pid = ::fork();
  if (pid == 0) _exit(0);
  ::waitpid(pid, nullptr, 0);
  auto read = ReadAppProcess(pid);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(std::string(read.status().message()),
              StartsWith("cannot read the environment of app process " + std::to_string(pid)));
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("No such file or directory"));
}

// The lookup runs as a uid that has no other process on this machine, in a forked child:
// the processes it may consider are exactly the ones this test starts.
class FindAppProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run processes as a fresh uid";
  }
  const uid_t uid_ = 51000 + static_cast<uid_t>(::getpid() % 5000);

  // FindAppProcess(uid_) as seen from a process of uid_ (so that it, too, is excluded).
  absl::StatusOr<pid_t> FindAsTheUser() {
    int fds[2];
    if (::pipe(fds) != 0) return absl::InternalError("pipe");
    pid_t child = ::fork();
    if (child == 0) {
      ::close(fds[0]);
      if (::setgid(uid_) != 0 || ::setuid(uid_) != 0) _exit(1);
      auto found = FindAppProcess(uid_);
      const std::string out = found.ok() ? std::to_string(*found)
                                         : "error:" + std::string(found.status().message());
      (void)!::write(fds[1], out.data(), out.size());
      _exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
    ::close(fds[0]);
    ::waitpid(child, nullptr, 0);
    if (out.rfind("error:", 0) == 0) return absl::NotFoundError(out.substr(6));
    return std::stoi(out);
  }
};

TEST_F(FindAppProcessTest, NoProcessOfTheUserIsAClearError) {
  auto found = FindAsTheUser();
  ASSERT_FALSE(found.ok());
  EXPECT_THAT(std::string(found.status().message()),
              HasSubstr("no process of uid " + std::to_string(uid_) + " outside hatch"));
}

TEST_F(FindAppProcessTest, TheOldestProcessOutsideHatchIsTheApp) {
  TempDir dir;
  // A daemon named diego-sshd, started first, and a session below it: both are hatch's.
  const std::string daemon = dir / "diego-sshd";
  ASSERT_EQ(::symlink("/bin/sh", daemon.c_str()), 0);
  ::chmod(dir.path().c_str(), 0755);
  ChildProcess sshd({daemon, "-c", "/bin/sleep 30; :"}, {"PATH=/bin"}, "/", uid_);
  ::usleep(20000);
  ChildProcess app({"/bin/sleep", "31"}, {"APP=1"}, "/", uid_);
  ::usleep(20000);
  ChildProcess younger({"/bin/sleep", "32"}, {"APP=2"}, "/", uid_);
  ChildProcess other_user({"/bin/sleep", "33"}, {"APP=3"}, "/", uid_ + 1);
  auto found = FindAsTheUser();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, app.pid());
}

TEST(AppLaunch, ClassicDropletWithAnExplicitAppDir) {
  TempDir root;
  MakeDirs(root / "app");
  Environment env({"HOME=/elsewhere", "PATH=/bin", "VCAP_SERVICES={}"});
  AppLaunchOptions options;
  options.app_dir = root / "app";
  auto launch = PrepareAppLaunch(env, options, NoReports());
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_EQ(launch->kind, AppKind::kBuildpack);
  EXPECT_EQ(launch->app_dir, root / "app");
  EXPECT_EQ(launch->env.Get("HOME"), root / "app");
  EXPECT_EQ(launch->env.Get("TMPDIR"), root / "tmp");
  EXPECT_EQ(launch->interpreter, "/bin/bash");
  EXPECT_THAT(AppLaunchArgv(*launch, "argv0", "echo hi"),
              ElementsAre("/bin/bash", "-c", launch->script, "argv0", root / "app", "echo hi"));
  // An empty command is the interactive default.
  EXPECT_EQ(AppLaunchArgv(*launch, "argv0", "").back(), "bash");
}

TEST(AppLaunch, WithoutBashDropletsRunWithSh) {
  TempDir root;
  MakeDirs(root / "app");
  WriteFile(root / "app/.profile.d/a.sh", "export A=1\n");
  AppLaunchOptions options;
  options.app_dir = root / "app";
  options.bash = root / "no-bash";
  auto launch = PrepareAppLaunch(Environment({"PATH=/usr/bin:/bin"}), options, NoReports());
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_EQ(launch->interpreter, "/bin/sh");
  EXPECT_EQ(launch->script, ShellScript(Shell::kSh));
  EXPECT_EQ(AppLaunchArgv(*launch, "shell", "").back(), "sh");
  const testing::RunResult r = testing::Run(AppLaunchArgv(*launch, "shell", "echo A=$A"),
                                            launch->env.entries(), "/");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "A=1\n");
  EXPECT_THAT(r.err, StartsWith("hatch: no /bin/bash in this image"));

  // A CNB droplet: its profile scripts by absolute path, sourced by sh.
  MakeDirs(root / "layers/bp/layer/profile.d");
  WriteFile(root / "layers/config/metadata.toml", "[[buildpacks]]\n  id = \"bp\"\n  api = \"0.7\"\n");
  WriteFile(root / "layers/bp/layer/profile.d/b.sh", "export B=1\n");
  options.layers_dir = root / "layers";
  launch = PrepareAppLaunch(Environment({"PATH=/usr/bin:/bin"}), options, NoReports());
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_EQ(launch->kind, AppKind::kCnb);
  EXPECT_EQ(launch->script,
            SourceListScript({root / "layers/bp/layer/profile.d/b.sh"}, Shell::kSh));
  EXPECT_EQ(AppLaunchArgv(*launch, "shell", "").front(), "/bin/sh");
  EXPECT_EQ(AppLaunchArgv(*launch, "shell", "").back(), "sh");
  const testing::RunResult cnb = testing::Run(AppLaunchArgv(*launch, "shell", "echo B=$B"),
                                              launch->env.entries(), "/");
  EXPECT_EQ(cnb.exit_code, 0) << cnb.err;
  EXPECT_EQ(cnb.out, "B=1\n");
}

TEST(AppLaunch, ClassicDropletFoundInHome) {
  TempDir root;
  MakeDirs(root / "app");
  auto launch = PrepareAppLaunch(Environment({"HOME=" + root.path()}), {}, NoReports());
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_EQ(launch->kind, AppKind::kBuildpack);
  EXPECT_EQ(launch->app_dir, root / "app");
}

TEST(AppLaunch, MissingExplicitAppDirIsAnError) {
  TempDir root;
  AppLaunchOptions options;
  options.app_dir = root / "nope";
  auto launch = PrepareAppLaunch(Environment({"HOME=" + root.path()}), options, NoReports());
  ASSERT_FALSE(launch.ok());
  EXPECT_EQ(launch.status().message(), "Provided app directory does not exist: " +
                                           root.path() + "/nope: No such file or directory");
}

TEST(AppLaunch, ClassicErrorsComeThrough) {
  TempDir root;
  MakeDirs(root / "app");
  auto launch = PrepareAppLaunch(
      Environment({"HOME=" + root.path(), "VCAP_PLATFORM_OPTIONS=[1]"}), {}, NoReports());
  ASSERT_FALSE(launch.ok());
  EXPECT_THAT(std::string(launch.status().message()), StartsWith("Invalid platform options: "));
}

TEST(AppLaunch, NamedAppProcessWinsOverAClassicDropletAndKeepsItsEnvironment) {
  TempDir root;
  MakeDirs(root / "app");
  MakeDirs(root / "srv");
  ChildProcess app({"/bin/sleep", "30"}, {"APP_MODE=docker"}, root / "srv");
  AppLaunchOptions options;
  options.app_pid = app.pid();
  auto launch = PrepareAppLaunch(Environment({"HOME=" + root.path(), "CALLER=1"}), options,
                                 NoReports());
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_EQ(launch->kind, AppKind::kProcess);
  EXPECT_EQ(launch->app_dir, root / "srv");
  // The process's environment, not the caller's; PATH added because it had none.
  EXPECT_THAT(launch->env.entries(), ElementsAre("APP_MODE=docker", "PATH=/bin:/usr/bin"));
  EXPECT_EQ(AppLaunchArgv(*launch, "x", "").back(), launch->interpreter);
}

TEST(AppLaunch, ProcessScriptRunsTheCommandInTheAppDir) {
  TempDir root;
  ChildProcess app({"/bin/sleep", "30"}, {"APP_MODE=docker", "PATH=/usr/bin:/bin"}, root.path());
  AppLaunchOptions options;
  options.app_pid = app.pid();
  auto launch = PrepareAppLaunch(Environment(), options, NoReports());
  ASSERT_TRUE(launch.ok()) << launch.status();
  const testing::RunResult r = testing::Run(
      AppLaunchArgv(*launch, "shell", "echo $APP_MODE $(pwd); exit 3"), launch->env.entries(), "/");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "docker " + root.path() + "\n");
}

TEST(AppLaunch, ShellQuoteSurvivesQuotesAndSpaces) {
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  const testing::RunResult r = testing::Run(
      {"/bin/bash", "-c", "printf '%s|' " + ShellQuote("it's $HOME \"x\"") + " " + ShellQuote("")},
      {}, "/");
  EXPECT_EQ(r.out, "it's $HOME \"x\"||");
}

TEST(AppFlags, ShellAcceptsAppPidAndProcessTypeAndCountsWhatItConsumed) {
  AppFlags app;
  size_t consumed = 99;
  auto flags = ParseCredhubFlags({"-appPid=42", "--processType", "worker", "-credhubConnectAttempts=2",
                                  "/home/vcap/app", "-appPid=7"},
                                 &app, &consumed);
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(app.app_pid, 42);
  EXPECT_EQ(app.process_type, "worker");
  EXPECT_EQ(flags->connect_attempts, 2);
  EXPECT_EQ(consumed, 4u);
  ASSERT_TRUE(ParseCredhubFlags({"-appPid=1", "--", "x"}, &app, &consumed).ok());
  EXPECT_EQ(consumed, 2u);
  ASSERT_TRUE(ParseCredhubFlags({"-appPid=1"}, &app, &consumed).ok());
  EXPECT_EQ(consumed, 1u);
}

TEST(AppFlags, BadOrUnwantedAppFlagsAreGoStyleErrors) {
  AppFlags app;
  EXPECT_EQ(ParseCredhubFlags({"-appPid=x"}, &app).status().message(),
            "invalid value \"x\" for flag -appPid: parse error");
  EXPECT_EQ(ParseCredhubFlags({"-appPid=-1"}, &app).status().message(),
            "invalid value \"-1\" for flag -appPid: value out of range");
  // The launcher keeps the original's two flags only.
  EXPECT_EQ(ParseCredhubFlags({"-appPid=1"}).status().message(),
            "flag provided but not defined: -appPid");
  EXPECT_THAT(CredhubFlagsUsage("shell", true), HasSubstr("-appPid int"));
  EXPECT_THAT(CredhubFlagsUsage("launcher"), Not(HasSubstr("appPid")));
}

}  // namespace
}  // namespace hatch::lifecycle
