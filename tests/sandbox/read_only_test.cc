// Read-only sessions, in forked children under the real policy: every way of changing the
// filesystem is refused by the kernel, reads and the allowed devices work, and the process
// cannot signal, trace or bind outside its session. Each refusal has a control that shows
// the same operation works unconfined.
#include <fcntl.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>

#include "gtest/gtest.h"
#include "sandbox/landlock.h"
#include "tests/sandbox/confined.h"

namespace hatch::sandbox {
namespace {

class ReadOnly : public testing::Test {
 protected:
  void SetUp() override {
    if (KernelLandlockAbi() < kReadOnlyMinimumAbi) {
      GTEST_SKIP() << "kernel Landlock ABI " << KernelLandlockAbi() << " < " << kReadOnlyMinimumAbi;
    }
    char tmpl[] = "/tmp/hatch-readonly-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    file_ = dir_ + "/file";
    subdir_ = dir_ + "/subdir";
    Populate();
  }
  void TearDown() override {
    if (!dir_.empty()) {
      const std::string cmd = "rm -rf '" + dir_ + "'";
      EXPECT_EQ(system(cmd.c_str()), 0);
    }
  }

  // The directory holds exactly `file` ("content") and an empty `subdir`.
  void Populate() {
    const std::string cmd = "rm -rf '" + dir_ + "'/* '" + dir_ + "'/.[!.]*";
    ASSERT_EQ(system(cmd.c_str()), 0);
    const int fd = open(file_.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "content", 7), 7);
    close(fd);
    ASSERT_EQ(mkdir(subdir_.c_str(), 0755), 0);
  }

  // The probe is refused with `error` read-only and succeeds unconfined (in a fresh copy of
  // the fixture each time: a successful control must not change what the next probe sees).
  void ExpectRefused(const char* what, int error, const std::function<int()>& probe) {
    EXPECT_EQ(RunConfined(kReadOnly, probe), error) << what << " (read-only)";
    EXPECT_EQ(RunConfined(kBaseline, probe), 0) << what << " (control, not read-only)";
    Populate();
  }

  std::string dir_, file_, subdir_;
};

std::string Path(const std::string& dir, const char* name) { return dir + "/" + name; }

TEST_F(ReadOnly, EveryFilesystemChangeIsRefused) {
  const std::string d = dir_, f = file_, s = subdir_;
  ExpectRefused("create", EACCES, [=] {
    return Outcome(open(Path(d, "new").c_str(), O_CREAT | O_WRONLY, 0644));
  });
  ExpectRefused("write existing", EACCES, [=] { return Outcome(open(f.c_str(), O_WRONLY)); });
  ExpectRefused("append", EACCES, [=] { return Outcome(open(f.c_str(), O_WRONLY | O_APPEND)); });
  ExpectRefused("truncate(2)", EACCES, [=] { return Outcome(truncate(f.c_str(), 0)); });
  ExpectRefused("unlink", EACCES, [=] { return Outcome(unlink(f.c_str())); });
  ExpectRefused("rmdir", EACCES, [=] { return Outcome(rmdir(s.c_str())); });
  ExpectRefused("mkdir", EACCES, [=] { return Outcome(mkdir(Path(d, "d2").c_str(), 0755)); });
  ExpectRefused("rename", EACCES, [=] {
    return Outcome(rename(f.c_str(), Path(d, "renamed").c_str()));
  });
  ExpectRefused("rename across directories", EACCES, [=] {
    return Outcome(rename(f.c_str(), Path(s, "moved").c_str()));
  });
  ExpectRefused("hard link", EACCES, [=] {
    return Outcome(link(f.c_str(), Path(d, "hard").c_str()));
  });
  ExpectRefused("symlink", EACCES, [=] {
    return Outcome(symlink("file", Path(d, "sym").c_str()));
  });
  ExpectRefused("mkfifo", EACCES, [=] { return Outcome(mkfifo(Path(d, "fifo").c_str(), 0600)); });
  ExpectRefused("unix socket", EACCES, [=] {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = Path(d, "sock");
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    return Outcome(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
  });
}

TEST_F(ReadOnly, MetadataChangesAreRefusedWithErofs) {
  const std::string f = file_;
  ExpectRefused("chmod", EROFS, [=] { return Outcome(chmod(f.c_str(), 0600)); });
  ExpectRefused("fchmod", EROFS, [=] { return Outcome(fchmod(open(f.c_str(), O_RDONLY), 0600)); });
  ExpectRefused("chown", EROFS, [=] { return Outcome(chown(f.c_str(), getuid(), getgid())); });
  ExpectRefused("utimensat", EROFS, [=] {
    return Outcome(utimensat(AT_FDCWD, f.c_str(), nullptr, 0));
  });
  // Extended attributes and inode flags need a filesystem that has them; /tmp may be tmpfs
  // (user xattrs since 6.6; no FS_IOC_SETFLAGS) or the root filesystem. Refused whatever the
  // filesystem would have said:
  EXPECT_EQ(RunConfined(kReadOnly, [=] {
              return Outcome(setxattr(f.c_str(), "user.hatch", "1", 1, 0));
            }),
            EROFS);
  EXPECT_EQ(RunConfined(kReadOnly, [=] {
              int flags = 0;
              return Outcome(ioctl(open(f.c_str(), O_RDONLY), FS_IOC_SETFLAGS, &flags));
            }),
            EROFS);
}

TEST_F(ReadOnly, ReadsAndTheAllowedDevicesWork) {
  const std::string d = dir_, f = file_;
  EXPECT_EQ(RunConfined(kReadOnly, [=] {
              char buf[16];
              const int fd = open(f.c_str(), O_RDONLY);
              if (fd < 0) return errno;
              return read(fd, buf, sizeof(buf)) == 7 ? 0 : EIO;
            }),
            0);
  EXPECT_EQ(RunConfined(kReadOnly, [=] { return Outcome(access(d.c_str(), R_OK | X_OK)); }), 0);
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full"}) {
    EXPECT_EQ(RunConfined(kReadOnly, [=] {
                // As a shell's `>` opens it.
                return Outcome(open(dev, O_WRONLY | O_CREAT | O_TRUNC, 0666));
              }),
              0)
        << dev;
  }
  // A new pty (as `script` or tmux open one) and its slave by path.
  EXPECT_EQ(RunConfined(kReadOnly, [] {
              int master, slave;
              if (openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return errno;
              char name[64];
              if (ptsname_r(master, name, sizeof(name)) != 0) return errno;
              const int again = open(name, O_RDWR | O_NOCTTY);
              if (again < 0) return errno;
              return write(again, "x", 1) == 1 ? 0 : errno;
            }),
            0);
  // Pipes reached by path (`echo > /dev/stdout` with stdout a pipe).
  EXPECT_EQ(RunConfined(kReadOnly, [] {
              int p[2];
              if (pipe(p) != 0) return errno;
              const std::string path = "/proc/self/fd/" + std::to_string(p[1]);
              return Outcome(open(path.c_str(), O_WRONLY));
            }),
            0);
}

TEST_F(ReadOnly, TmpIsReadOnlyToo) {
  EXPECT_EQ(RunConfined(kReadOnly, [] {
              char tmpl[] = "/tmp/hatch-ro-XXXXXX";
              return Outcome(mkstemp(tmpl));
            }),
            EACCES);
}

// A process outside the session (started before it, as the app is).
class Outsider {
 public:
  Outsider() {
    pid_ = fork();
    if (pid_ == 0) {
      pause();
      _exit(0);
    }
  }
  ~Outsider() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

TEST_F(ReadOnly, CannotSignalProcessesOutsideTheSession) {
  Outsider app;
  const pid_t target = app.pid();
  EXPECT_EQ(RunConfined(kReadOnly, [=] { return Outcome(kill(target, SIGTERM)); }), EPERM);
  EXPECT_EQ(RunConfined(kReadOnly, [=] { return Outcome(kill(target, 0)); }), EPERM);
  // Within the session it can.
  EXPECT_EQ(RunConfined(kReadOnly, [] {
              const pid_t child = fork();
              if (child == 0) {
                pause();
                _exit(0);
              }
              const int rc = Outcome(kill(child, SIGTERM));
              waitpid(child, nullptr, 0);
              return rc;
            }),
            0);
  // The control, last: it ends the outsider.
  EXPECT_EQ(RunConfined(kBaseline, [=] { return Outcome(kill(target, SIGTERM)); }), 0);
}

TEST_F(ReadOnly, CannotTraceProcessesOutsideTheSession) {
  Outsider app;
  const pid_t target = app.pid();
  auto attach = [=] {
    if (ptrace(PTRACE_ATTACH, target, nullptr, nullptr) != 0) return errno;
    waitpid(target, nullptr, 0);
    ptrace(PTRACE_DETACH, target, nullptr, nullptr);
    return 0;
  };
  EXPECT_EQ(RunConfined(kReadOnly, attach), EPERM);
  EXPECT_EQ(RunConfined(kBaseline, attach), 0);
}

TEST_F(ReadOnly, CannotBindTcpPorts) {
  auto bind_any = [] {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return Outcome(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
  };
  EXPECT_EQ(RunConfined(kReadOnly, bind_any), EACCES);
  EXPECT_EQ(RunConfined(kBaseline, bind_any), 0);
  // Connecting out is not restricted.
}

}  // namespace
}  // namespace hatch::sandbox
