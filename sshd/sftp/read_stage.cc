#include "sshd/sftp/read_stage.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pipe_size.h"

namespace hatch::sftp {
namespace {

// The stage holds one page reference per slot, and an unaligned range spans one page more
// than its length: it is sized two pages over the largest reply's data.
constexpr size_t kPage = 4096;

}  // namespace

ReadStage::ReadStage(int out_fd, size_t max_read) : max_read_(max_read) {
  struct stat st;
  usable_ = fstat(out_fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

bool ReadStage::Open() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  read_end_.reset(fds[0]);
  write_end_.reset(fds[1]);
  const size_t want = max_read_ + 2 * kPage;
  GrowPipe(write_end_.get(), static_cast<int>(want));
  const int size = fcntl(write_end_.get(), F_GETPIPE_SZ);
  if (size >= 0 && static_cast<size_t>(size) >= want) return true;
  read_end_.reset();
  write_end_.reset();
  return false;
}

bool ReadStage::CannotSplice(int err) {
  // ESPIPE: a FIFO or socket (no offsets); EINVAL/ENOSYS/EOPNOTSUPP: a file system without
  // splice support (older kernels); EBADF: not open for reading, which pread reports.
  return err == ESPIPE || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == EBADF;
}

ssize_t ReadStage::Fill(int fd, uint64_t offset, size_t len) {
  if (!write_end_ && !(usable_ && (usable_ = Open()))) {
    errno = EOPNOTSUPP;  // pread from now on
    return -1;
  }
  loff_t at = static_cast<loff_t>(offset);
  size_t got = 0;
  while (got < len) {
    const ssize_t n = splice(fd, &at, write_end_.get(), nullptr, len - got,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      got += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) break;  // the end of the file
    if (errno == EINTR) continue;
    // The stage is sized for a whole reply; a full one (EAGAIN) ends the reply short, which
    // clients handle (they ask again for the rest).
    if (got > 0) break;
    return -1;
  }
  staged_ = got;
  return static_cast<ssize_t>(got);
}

bool ReadStage::Drain(int out_fd) {
  while (staged_ > 0) {
    const ssize_t n = splice(read_end_.get(), nullptr, out_fd, nullptr, staged_,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      staged_ -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n == 0) errno = EPIPE;  // not expected from a pipe with bytes in it
    return false;
  }
  return true;
}

void ReadStage::Discard() {
  char scratch[4096];
  while (staged_ > 0) {
    const ssize_t n = read(read_end_.get(), scratch, staged_ < sizeof scratch ? staged_
                                                                               : sizeof scratch);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    staged_ -= static_cast<size_t>(n);
  }
  staged_ = 0;
}

}  // namespace hatch::sftp
