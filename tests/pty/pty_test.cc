#include "pty/pty.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/pty/modes_testing.h"

namespace hatch::pty {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::EncodedModes;
using testing::SameTermios;
namespace op = testing;

// Reads from a pty master until the slave side is closed by everyone (Linux: EIO) or
// `until` appears in the raw bytes. Output has "\r\n" line ends (ONLCR); they are returned
// as "\n".
std::string ReadTerminal(int master, absl::string_view until = "") {
  std::string out;
  char buf[4096];
  while (until.empty() || !absl::StrContains(out, until)) {
    ssize_t n = read(master, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, n);
  }
  return absl::StrReplaceAll(out, {{"\r\n", "\n"}});
}

// The common start of every test child: its own session with the pty as controlling terminal.
// Reports a failed step's errno on `error_fd` and exits 127.
void StartSessionOrDie(const char* slave_path, int error_fd) {
  int err = setsid() < 0 ? -errno : AttachControllingTerminal(slave_path);
  if (err != 0) {
    (void)!write(error_fd, &err, sizeof(err));
    _exit(127);
  }
}

struct ChildResult {
  std::string output;  // all it wrote to the terminal
  int wait_status = -1;
};

// Forks a child that starts a session on `pty` and execs `argv` (an absolute path first), then
// reads its terminal until it closes and reaps it.
ChildResult RunOnPty(const Pty& pty, std::vector<const char*> argv) {
  argv.push_back(nullptr);
  int error_pipe[2];
  EXPECT_EQ(pipe2(error_pipe, O_CLOEXEC), 0);
  const char* slave_path = pty.slave_path().c_str();
  pid_t pid = fork();
  if (pid == 0) {
    StartSessionOrDie(slave_path, error_pipe[1]);
    execv(argv[0], const_cast<char* const*>(argv.data()));
    int err = -errno;
    (void)!write(error_pipe[1], &err, sizeof(err));
    _exit(127);
  }
  EXPECT_GT(pid, 0);
  close(error_pipe[1]);
  // EOF on the pipe means the exec happened: the child has the slave open, so reading the
  // master ends when the program exits. Otherwise the slave may never be opened: skip the read.
  int child_err = 0;
  ChildResult result;
  if (read(error_pipe[0], &child_err, sizeof(child_err)) == 0) {
    result.output = ReadTerminal(pty.master());
  } else {
    ADD_FAILURE() << "child failed before exec: " << strerror(-child_err);
  }
  close(error_pipe[0]);
  EXPECT_EQ(waitpid(pid, &result.wait_status, 0), pid);
  return result;
}

bool ExitedZero(int wait_status) { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }

TEST(Pty, OpensMasterWithSlaveUnderDevPts) {
  absl::StatusOr<Pty> pty = Pty::Open();
  ASSERT_TRUE(pty.ok()) << pty.status();
  EXPECT_GE(pty->master(), 0);
  EXPECT_THAT(pty->slave_path(), ::testing::StartsWith("/dev/pts/"));
  EXPECT_EQ(fcntl(pty->master(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  struct stat st;
  ASSERT_EQ(stat(pty->slave_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(Pty, ChildSeesModesAppliedThroughTheMaster) {
  absl::StatusOr<Pty> pty = Pty::Open();
  ASSERT_TRUE(pty.ok()) << pty.status();
  ASSERT_TRUE(pty->ApplyModes(EncodedModes()
                                  .Add(op::kVintr, 3)
                                  .Add(op::kVerase, 8)
                                  .Add(op::kIutf8, 1)
                                  .Add(op::kIcrnl, 0)
                                  .Add(op::kOspeed, 9600)
                                  .End()
                                  .str())
                  .ok());
  ChildResult r = RunOnPty(*pty, {"/bin/stty", "-a"});
  EXPECT_TRUE(ExitedZero(r.wait_status)) << r.wait_status;
  EXPECT_THAT(r.output, HasSubstr("intr = ^C;"));
  EXPECT_THAT(r.output, HasSubstr("erase = ^H;"));
  EXPECT_THAT(r.output, HasSubstr(" iutf8"));
  EXPECT_THAT(r.output, Not(HasSubstr("-iutf8")));
  EXPECT_THAT(r.output, HasSubstr("-icrnl"));
  EXPECT_THAT(r.output, HasSubstr("speed 9600 baud"));
}

TEST(Pty, NewPtyHasKernelDefaultsWithoutIutf8) {
  absl::StatusOr<Pty> pty = Pty::Open();
  ASSERT_TRUE(pty.ok()) << pty.status();
  ChildResult r = RunOnPty(*pty, {"/bin/stty", "-a"});
  EXPECT_TRUE(ExitedZero(r.wait_status)) << r.wait_status;
  EXPECT_THAT(r.output, HasSubstr("intr = ^C;"));
  EXPECT_THAT(r.output, HasSubstr("erase = ^?;"));
  EXPECT_THAT(r.output, HasSubstr("-iutf8"));
  EXPECT_THAT(r.output, HasSubstr(" icanon"));
  EXPECT_THAT(r.output, HasSubstr(" echo "));
}

TEST(Pty, TruncatedModesLeaveTheTerminalUnchanged) {
  absl::StatusOr<Pty> pty = Pty::Open();
  ASSERT_TRUE(pty.ok()) << pty.status();
  termios before{}, after{};
  ASSERT_EQ(tcgetattr(pty->master(), &before), 0);
  absl::Status s = pty->ApplyModes(EncodedModes().Add(op::kEcho, 0).Raw("\x2a\x00").str());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  ASSERT_EQ(tcgetattr(pty->master(), &after), 0);
  EXPECT_TRUE(SameTermios(before, after));
}

TEST(Pty, ChildSeesWindowSize) {
  absl::StatusOr<Pty> pty = Pty::Open();
  ASSERT_TRUE(pty.ok()) << pty.status();
  ASSERT_TRUE(pty->SetWindowSize({.cols = 100, .rows = 40, .width_px = 800, .height_px = 600}).ok());
  ChildResult r = RunOnPty(*pty, {"/bin/stty", "size"});
  EXPECT_TRUE(ExitedZero(r.wait_status)) << r.wait_status;
  EXPECT_EQ(r.output, "40 100\n");
}

TEST(Pty, WindowSizeIsClampedTo16Bits) {
  absl::StatusOr<Pty> pty = Pty::Open();
  ASSERT_TRUE(pty.ok()) << pty.status();
  ASSERT_TRUE(pty->SetWindowSize({.cols = 70000, .rows = 65535}).ok());
  winsize ws{};
  ASSERT_EQ(ioctl(pty->master(), TIOCGWINSZ, &ws), 0);
  EXPECT_EQ(ws.ws_col, 65535);
  EXPECT_EQ(ws.ws_row, 65535);
}

TEST(Pty, ChildHasThePtyAsControllingTerminal) {
  absl::StatusOr<Pty> pty = Pty::Open();
  ASSERT_TRUE(pty.ok()) << pty.status();

  ChildResult tty = RunOnPty(*pty, {"/usr/bin/tty"});
  EXPECT_TRUE(ExitedZero(tty.wait_status)) << tty.wait_status;
  EXPECT_EQ(tty.output, pty->slave_path() + "\n");

  // proc(5): "pid (comm) state ppid pgrp session tty_nr tpgid ...".
  ChildResult stat_out = RunOnPty(*pty, {"/bin/cat", "/proc/self/stat"});
  EXPECT_TRUE(ExitedZero(stat_out.wait_status)) << stat_out.wait_status;
  size_t paren = stat_out.output.rfind(')');
  ASSERT_NE(paren, std::string::npos) << stat_out.output;
  std::vector<std::string> fields =
      absl::StrSplit(absl::string_view(stat_out.output).substr(paren + 2), ' ');
  ASSERT_GE(fields.size(), 6u);
  long pid = 0, pgrp = 0, session = 0, tty_nr = 0, tpgid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(stat_out.output.substr(0, stat_out.output.find(' ')), &pid));
  ASSERT_TRUE(absl::SimpleAtoi(fields[2], &pgrp));
  ASSERT_TRUE(absl::SimpleAtoi(fields[3], &session));
  ASSERT_TRUE(absl::SimpleAtoi(fields[4], &tty_nr));
  ASSERT_TRUE(absl::SimpleAtoi(fields[5], &tpgid));
  struct stat st;
  ASSERT_EQ(stat(pty->slave_path().c_str(), &st), 0);
  EXPECT_EQ(static_cast<dev_t>(tty_nr), st.st_rdev);
  EXPECT_EQ(session, pid);  // setsid() made it a session leader; exec kept that
  EXPECT_EQ(tpgid, pgrp);   // its group is the terminal's foreground group
}

TEST(Pty, ResizeSendsSigwinchToTheForegroundGroup) {
  absl::StatusOr<Pty> pty = Pty::Open();
  ASSERT_TRUE(pty.ok()) << pty.status();
  int error_pipe[2];
  ASSERT_EQ(pipe2(error_pipe, O_CLOEXEC), 0);
  const char* slave_path = pty->slave_path().c_str();
  pid_t pid = fork();
  if (pid == 0) {
    // Not exec'ed. SIGWINCH stays blocked so it is kept pending: the kernel sends it inside
    // the parent's TIOCSWINSZ, before the parent writes the line this child waits for.
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    sigprocmask(SIG_BLOCK, &winch, nullptr);
    StartSessionOrDie(slave_path, error_pipe[1]);
    close(error_pipe[1]);
    (void)!write(1, "ready\n", 6);
    char c;
    while (read(0, &c, 1) == 1 && c != '\n') {
    }
    sigset_t pending;
    sigpending(&pending);
    winsize ws{};
    ioctl(0, TIOCGWINSZ, &ws);
    char line[64];
    int n = snprintf(line, sizeof(line), "%s %u %u\n",
                     sigismember(&pending, SIGWINCH) ? "winch" : "no-winch", ws.ws_row, ws.ws_col);
    (void)!write(1, line, n);
    _exit(0);
  }
  ASSERT_GT(pid, 0);
  close(error_pipe[1]);
  int child_err = 0;
  if (read(error_pipe[0], &child_err, sizeof(child_err)) == 0) {
    EXPECT_THAT(ReadTerminal(pty->master(), "ready\r\n"), HasSubstr("ready\n"));
    EXPECT_TRUE(pty->SetWindowSize({.cols = 132, .rows = 50}).ok());
    EXPECT_EQ(write(pty->master(), "go\n", 3), 3);
    EXPECT_EQ(ReadTerminal(pty->master()), "go\nwinch 50 132\n");  // the echo, then the child
  } else {
    ADD_FAILURE() << "child failed to attach: " << strerror(-child_err);
  }
  close(error_pipe[0]);
  int status = -1;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(ExitedZero(status)) << status;
}

TEST(Pty, ReleaseMasterHandsOverTheFd) {
  absl::StatusOr<Pty> pty = Pty::Open();
  ASSERT_TRUE(pty.ok()) << pty.status();
  const int fd = pty->master();
  UniqueFd master = pty->ReleaseMaster();
  EXPECT_EQ(master.get(), fd);
  EXPECT_EQ(pty->master(), -1);
  EXPECT_EQ(pty->SetWindowSize({}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pty->ApplyModes("").code(), absl::StatusCode::kFailedPrecondition);
  // The released fd still drives the terminal.
  EXPECT_TRUE(SetPtyWindowSize(master.get(), {.cols = 90, .rows = 30}).ok());
  winsize ws{};
  ASSERT_EQ(ioctl(master.get(), TIOCGWINSZ, &ws), 0);
  EXPECT_EQ(ws.ws_col, 90);
}

TEST(Pty, AttachReportsErrnoForAMissingSlave) {
  EXPECT_EQ(AttachControllingTerminal("/dev/pts/does-not-exist"), -ENOENT);
}

}  // namespace
}  // namespace hatch::pty
