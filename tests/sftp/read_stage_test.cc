// ReadStage on its own: READ data spliced from a file into the stage and on into the out fd
// (issue 15). The whole server uses it in every other sftp test (their out fd is a socket).
#include "sshd/sftp/read_stage.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "base/unique_fd.h"
#include "gtest/gtest.h"
#include "tests/sftp/test_client.h"

namespace hatch::sftp {
namespace {

using testing::TempDir;

constexpr size_t kMaxRead = 255 * 1024;

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  return s;
}

struct Pipe {
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) close(r);
    if (w >= 0) close(w);
  }
  std::string ReadAll() {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = read(r, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  int r = -1;
  int w = -1;
};

// A file with `content` in a fresh directory, open for reading.
struct TestFile {
  explicit TestFile(std::string text) : content(std::move(text)) {
    testing::WriteFile(dir.Join("f"), content);
    fd.reset(open(dir.Join("f").c_str(), O_RDONLY | O_CLOEXEC));
  }
  TempDir dir;
  std::string content;
  UniqueFd fd;
};

TEST(SftpReadStage, MovesAnUnalignedRangeOfAFileIntoThePipeAsItIs) {
  TestFile file(Pattern(600 * 1024));
  const std::string& content = file.content;
  const int fd = file.fd.get();
  Pipe out;
  ASSERT_GE(fcntl(out.w, F_SETPIPE_SZ, 1 << 20), static_cast<int>(kMaxRead) + 8192);
  ReadStage stage(out.w, kMaxRead);
  // An offset inside a page: the range spans one page more than its length does.
  ASSERT_EQ(stage.Fill(fd, 4097, kMaxRead), static_cast<ssize_t>(kMaxRead));
  EXPECT_EQ(stage.staged(), kMaxRead);
  EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 0) << "the file's own offset is not used";
  ASSERT_TRUE(stage.Drain(out.w));
  EXPECT_EQ(stage.staged(), 0u);
  EXPECT_EQ(out.ReadAll(), content.substr(4097, kMaxRead));
}

TEST(SftpReadStage, IsShortAtTheEndOfTheFileAndEmptyPastIt) {
  TestFile file(Pattern(10000));
  const std::string& content = file.content;
  const int fd = file.fd.get();
  Pipe out;
  ReadStage stage(out.w, kMaxRead);
  ASSERT_EQ(stage.Fill(fd, 9000, 32768), 1000);
  ASSERT_TRUE(stage.Drain(out.w));
  EXPECT_EQ(out.ReadAll(), content.substr(9000));
  EXPECT_EQ(stage.Fill(fd, 10000, 32768), 0);
  EXPECT_EQ(stage.Fill(fd, 1 << 30, 32768), 0);
  EXPECT_EQ(stage.staged(), 0u);
}

// The out pipe of 64 KiB takes a quarter of a large reply: the rest stays staged until the
// reader has made room, and arrives in order.
TEST(SftpReadStage, KeepsWhatAFullOutPipeDoesNotTakeForLater) {
  TestFile file(Pattern(kMaxRead));
  const std::string& content = file.content;
  const int fd = file.fd.get();
  Pipe out;
  ASSERT_EQ(fcntl(out.w, F_SETPIPE_SZ, 65536), 65536);
  ReadStage stage(out.w, kMaxRead);
  ASSERT_EQ(stage.Fill(fd, 0, kMaxRead), static_cast<ssize_t>(kMaxRead));
  std::string got;
  int rounds = 0;
  while (stage.staged() > 0 && rounds++ < 100) {
    ASSERT_TRUE(stage.Drain(out.w));
    got += out.ReadAll();
  }
  EXPECT_GT(rounds, 1) << "the first Drain left bytes staged";
  EXPECT_EQ(stage.staged(), 0u);
  EXPECT_EQ(got, content);
}

TEST(SftpReadStage, DrainsIntoASocketToo) {
  TestFile file(Pattern(100000));
  const std::string& content = file.content;
  const int fd = file.fd.get();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
  ReadStage stage(sv[0], kMaxRead);
  ASSERT_EQ(stage.Fill(fd, 0, content.size()), static_cast<ssize_t>(content.size()));
  std::string got;
  char buf[65536];
  for (int i = 0; i < 1000 && got.size() < content.size(); ++i) {
    ASSERT_TRUE(stage.Drain(sv[0]));
    ssize_t n;
    while ((n = read(sv[1], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, content);
  close(sv[0]);
  close(sv[1]);
}

// /dev/null (the fuzzer's out fd) is neither pipe nor socket: every READ takes pread.
TEST(SftpReadStage, AnOutFdThatIsNeitherPipeNorSocketMeansPread) {
  TestFile file("data");
  const int fd = file.fd.get();
  const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  ReadStage stage(null_fd, kMaxRead);
  errno = 0;
  EXPECT_EQ(stage.Fill(fd, 0, 4), -1);
  EXPECT_TRUE(ReadStage::CannotSplice(errno)) << errno;
  close(null_fd);
}

// A FIFO has no offsets: the session reads it with read(2) instead.
TEST(SftpReadStage, AFifoCannotBeSpliced) {
  TempDir dir;
  ASSERT_EQ(mkfifo(dir.Join("fifo").c_str(), 0600), 0);
  const int fd = open(dir.Join("fifo").c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "x", 1), 1);
  Pipe out;
  ReadStage stage(out.w, kMaxRead);
  errno = 0;
  EXPECT_EQ(stage.Fill(fd, 0, 1), -1);
  EXPECT_TRUE(ReadStage::CannotSplice(errno)) << errno;
  EXPECT_EQ(stage.staged(), 0u);
  close(fd);
}

TEST(SftpReadStage, DrainToAReaderThatIsGoneFailsWithEpipe) {
  TestFile file(Pattern(8192));
  const int fd = file.fd.get();
  Pipe out;
  close(out.r);
  out.r = -1;
  ReadStage stage(out.w, kMaxRead);
  ASSERT_EQ(stage.Fill(fd, 0, 8192), 8192);
  // As in the server (SigpipeBlockScope): the signal is not delivered, the call fails.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  errno = 0;
  EXPECT_FALSE(stage.Drain(out.w));
  EXPECT_EQ(errno, EPIPE);
  const struct timespec zero = {0, 0};
  sigtimedwait(&block, nullptr, &zero);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  stage.Discard();
  EXPECT_EQ(stage.staged(), 0u);
}

}  // namespace
}  // namespace hatch::sftp
