#include "sshd/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <string>

namespace hatch {
namespace {

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLIN, 0};
      poll(&p, 1, 5000);
    } else {
      return out;
    }
  }
}

TEST(SignalNames, RoundTripEveryStandardSignal) {
  for (const char* name : {"HUP", "INT", "QUIT", "KILL", "TERM", "USR1", "USR2", "ALRM", "PIPE",
                           "ABRT", "SEGV", "WINCH", "STOP", "CONT", "TSTP"}) {
    int sig = SignalFromSshName(name);
    ASSERT_NE(sig, 0) << name;
    EXPECT_EQ(SshNameFromSignal(sig), name);
  }
  EXPECT_EQ(SignalFromSshName("SIGTERM"), 0);
  EXPECT_EQ(SignalFromSshName("NOPE"), 0);
}

TEST(Spawn, ChildStartsCleanInItsOwnSession) {
  // The daemon may itself run with signals ignored and blocked; the child must not inherit that.
  signal(SIGINT, SIG_IGN);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, nullptr);
  SpawnRequest r;
  r.argv = {"/bin/sh", "-c",
            "grep -E '^(SigIgn|SigBlk)' /proc/self/status; ps -o sid= -o pgid= -p $$; ls /proc/self/fd | wc -l; echo $FOO"};
  r.env = {"FOO=bar", "PATH=/bin:/usr/bin"};
  r.cwd = "/";
  absl::StatusOr<SpawnedProcess> p = Spawn(r);
  signal(SIGINT, SIG_DFL);
  sigprocmask(SIG_UNBLOCK, &block, nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  p->stdin_fd.reset();
  std::string out = ReadAll(p->stdout_fd.get());
  int status = 0;
  ASSERT_EQ(waitpid(p->pid, &status, 0), p->pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("SigIgn:\t0000000000000000"), std::string::npos) << out;
  EXPECT_NE(out.find("SigBlk:\t0000000000000000"), std::string::npos) << out;
  // ps pads its columns: compare the numbers, not the spacing.
  std::istringstream lines(out);
  std::string line;
  bool led = false;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    long sid = 0, pgid = 0;
    if (words >> sid >> pgid && sid == p->pid && pgid == p->pid) led = true;
  }
  EXPECT_TRUE(led) << "session and group led by the child: " << out;
  EXPECT_NE(out.find("\nbar\n"), std::string::npos) << out;
  // 0, 1, 2 and the fd ls itself opens for /proc/self/fd.
  EXPECT_NE(out.find("\n4\n"), std::string::npos) << out;
}

TEST(Spawn, BuiltinRunsInTheChildWithItsExitStatus) {
  SpawnRequest r;
  r.builtin = [] {
    ssize_t n = write(1, "builtin\n", 8);
    return n == 8 ? 7 : 1;
  };
  r.cwd = "/";
  absl::StatusOr<SpawnedProcess> p = Spawn(r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(ReadAll(p->stdout_fd.get()), "builtin\n");
  int status = 0;
  waitpid(p->pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST(Spawn, MissingProgramExits127WithAMessage) {
  SpawnRequest r;
  r.argv = {"/nonexistent/prog"};
  r.cwd = "/";
  absl::StatusOr<SpawnedProcess> p = Spawn(r);
  ASSERT_TRUE(p.ok());
  std::string err = ReadAll(p->stderr_fd.get());
  int status = 0;
  waitpid(p->pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 127);
  EXPECT_NE(err.find("/nonexistent/prog"), std::string::npos) << err;
}

TEST(Spawn, GroupSignalReachesEveryMember) {
  SpawnRequest r;
  r.argv = {"/bin/sh", "-c", "sleep 30 & sleep 30; echo survived"};
  r.cwd = "/";
  absl::StatusOr<SpawnedProcess> p = Spawn(r);
  ASSERT_TRUE(p.ok());
  usleep(200 * 1000);
  SignalProcessGroup(p->pid, SIGTERM);
  int status = 0;
  waitpid(p->pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  // The background sleep got SIGTERM too; once its parent init reaps it, the group is empty.
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = kill(-p->pid, 0) != 0;
    if (!gone) usleep(10 * 1000);
  }
  EXPECT_TRUE(gone) << "the background sleep was left running";
}

// Runs `script` under `policy`: (stdout, stderr, exit status).
struct Outcome {
  std::string out, err;
  int status = -1;
};
Outcome RunSandboxed(const sandbox::SandboxPolicy& policy, const std::string& script) {
  SpawnRequest r;
  r.argv = {"/bin/sh", "-c", script};
  r.env = {"PATH=/bin:/usr/bin"};
  r.cwd = "/";
  r.sandbox = policy;
  absl::StatusOr<SpawnedProcess> p = Spawn(r);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return {};
  p->stdin_fd.reset();
  Outcome o;
  o.out = ReadAll(p->stdout_fd.get());
  o.err = ReadAll(p->stderr_fd.get());
  int status = 0;
  waitpid(p->pid, &status, 0);
  o.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

TEST(Spawn, ReadOnlySessionSaysSoOnStderrAndCannotWrite) {
  char dir[] = "/tmp/hatch-spawn-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string script = std::string("echo x > ") + dir + "/f && echo wrote";
  const Outcome ro = RunSandboxed({.syscall_filter = true, .read_only = true}, script);
  EXPECT_EQ(ro.out, "");
  EXPECT_EQ(ro.err.rfind(sandbox::kReadOnlyNotice, 0), 0u) << ro.err;
  EXPECT_NE(ro.err.find("Permission denied"), std::string::npos) << ro.err;
  EXPECT_NE(ro.status, 0);
  // The same without -readOnly (the baseline filter alone): it writes, and says nothing.
  const Outcome rw = RunSandboxed({.syscall_filter = true}, script);
  EXPECT_EQ(rw.out, "wrote\n");
  EXPECT_EQ(rw.err, "");
  unlink((std::string(dir) + "/f").c_str());
  rmdir(dir);
}

TEST(Spawn, SessionsRunWithNoNewPrivsUnderTheFilterOnly) {
  EXPECT_EQ(RunSandboxed({.syscall_filter = true}, "grep NoNewPrivs /proc/self/status").out,
            "NoNewPrivs:\t1\n");
  EXPECT_EQ(RunSandboxed({}, "grep NoNewPrivs /proc/self/status").out, "NoNewPrivs:\t0\n");
}

TEST(Spawn, BuiltinsPrintNoReadOnlyNotice) {
  SpawnRequest r;
  r.builtin = [] { return 0; };
  r.cwd = "/";
  r.sandbox = {.syscall_filter = true, .read_only = true};
  absl::StatusOr<SpawnedProcess> p = Spawn(r);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(ReadAll(p->stderr_fd.get()), "");
  int status = 0;
  waitpid(p->pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(LocateShell, PrefersBinBash) {
  EXPECT_EQ(LocateShell("/usr/bin:/bin"), access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh");
}

}  // namespace
}  // namespace hatch
