// RunSftpServer's event loop: frames packets out of the input queue, hands each to the
// Session, and writes the replies it queued. One poll(2) loop over the two fds, so requests
// keep being read while replies wait to be written, with both queues bounded:
//  - input: read in large chunks; holds at most a few maximum-size requests;
//  - output: while more than kOutputSoftLimit bytes of replies wait, no more requests are
//    processed and no more input is read (back-pressure to the client). READ data does not
//    enter the queue: it waits in the read stage (read_stage.h) and follows its reply.
#include "sshd/sftp/sftp_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/pipe_size.h"
#include "sshd/sftp/byte_buffer.h"
#include "sshd/sftp/protocol.h"
#include "sshd/sftp/read_stage.h"
#include "sshd/sftp/session.h"
#include "sshd/sftp/wire.h"

namespace hatch::sftp {
namespace {

// Below this much free space after a partial packet, the packet is moved to the front
// before the next read, so reads stay large.
constexpr size_t kMinReadRoom = 64 * 1024;
// Replies wait here only while the 1 MiB pipe to the connection is full, and requests are
// read from a 1 MiB pipe: the queues need room for one maximum-size message and one large
// system call, no more (their pages count in the transfer's RSS). About 0.6 MiB together
// with the default max_message; each system call still moves 64 KiB or more.
constexpr size_t kOutputSoftLimit = 128 * 1024;
constexpr size_t kMinInputCapacity = 128 * 1024;

constexpr int kExitOk = 0;
constexpr int kExitIoError = 1;
constexpr int kExitProtocolError = 2;

// Sets O_NONBLOCK on an fd for the scope's lifetime (the fd's other users get their flags
// back afterwards).
class NonBlockingScope {
 public:
  explicit NonBlockingScope(int fd) : fd_(fd), flags_(fcntl(fd, F_GETFL)) {
    if (changed()) fcntl(fd_, F_SETFL, flags_ | O_NONBLOCK);
  }
  ~NonBlockingScope() {
    if (changed()) fcntl(fd_, F_SETFL, flags_);
  }
  NonBlockingScope(const NonBlockingScope&) = delete;
  NonBlockingScope& operator=(const NonBlockingScope&) = delete;

 private:
  bool changed() const { return flags_ >= 0 && (flags_ & O_NONBLOCK) == 0; }
  int fd_;
  int flags_;
};

// Blocks SIGPIPE in this thread so a write to a vanished client fails with EPIPE instead of
// killing the process; a SIGPIPE raised meanwhile is discarded before unblocking.
class SigpipeBlockScope {
 public:
  SigpipeBlockScope() {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask_);
  }
  ~SigpipeBlockScope() {
    if (sigismember(&old_mask_, SIGPIPE)) return;
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE)) {
      const struct timespec zero = {0, 0};
      sigtimedwait(&pipe_set, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  SigpipeBlockScope(const SigpipeBlockScope&) = delete;
  SigpipeBlockScope& operator=(const SigpipeBlockScope&) = delete;

 private:
  sigset_t old_mask_;
};

class ServerLoop {
 public:
  ServerLoop(int in_fd, int out_fd, const SftpServerOptions& options)
      : in_fd_(in_fd),
        out_fd_(out_fd),
        max_message_(options.max_message),
        session_(options),
        input_(std::max<size_t>(kMinInputCapacity,
                              size_t{options.max_message} + 4 + kMinReadRoom)),
        output_(kOutputSoftLimit + session_.max_reply()),
        stage_(out_fd, session_.max_read()) {
    session_.set_read_stage(&stage_);
  }

  int Run();

 private:
  enum class Progress { kContinue, kDone, kFatal };

  // Handles every complete packet while the output has room. kFatal after a protocol error.
  Progress ProcessInput();
  // Writes what the out fd takes now. kDone when the client is gone, kFatal on an I/O
  // error.
  Progress Flush();
  // After a failed write or splice (n: its result, errno set).
  static Progress WriteFailed(ssize_t n, const char* what);
  // Reads what the in fd has now; EOF marks the input closed. kFatal on an I/O error.
  Progress Fill();

  bool HasCompletePacket() const;
  // The exit status once a Flush() ended the session: the client left, or an I/O error.
  static int ExitStatusAfter(Progress p) { return p == Progress::kDone ? kExitOk : kExitIoError; }
  // No more requests are handled while this holds: the queue is over its limit, or a
  // reply's data waits in the stage (it must follow that reply, before any other).
  bool OutputFull() const { return output_.size() > kOutputSoftLimit || stage_.staged() > 0; }
  bool OutputPending() const { return !output_.empty() || stage_.staged() > 0; }

  int in_fd_;
  int out_fd_;
  uint32_t max_message_;
  Session session_;
  ByteBuffer input_;
  ByteBuffer output_;
  ReadStage stage_;  // READ data, after the last reply in output_ (read_stage.h)
  bool input_open_ = true;
};

bool ServerLoop::HasCompletePacket() const {
  if (input_.size() < kLengthFieldSize) return false;
  const uint32_t length = LoadBigEndian32(input_.data());
  return length <= max_message_ && input_.size() - kLengthFieldSize >= length;
}

ServerLoop::Progress ServerLoop::ProcessInput() {
  while (!OutputFull() && input_.size() >= kLengthFieldSize) {
    const uint32_t length = LoadBigEndian32(input_.data());
    if (length > max_message_) {
      fprintf(stderr, "hatch sftp-server: request of %u bytes exceeds the limit of %u bytes\n",
              length, max_message_);
      return Progress::kFatal;
    }
    if (input_.size() - kLengthFieldSize < length) break;  // the rest is still to come
    // Not OutputFull(): at least max_reply() bytes are free, possibly after compaction.
    output_.EnsureTailRoom(session_.max_reply());
    ReplyWriter reply(&output_, session_.max_reply());
    const absl::string_view packet(reinterpret_cast<const char*>(input_.data()) + kLengthFieldSize,
                                   length);
    const absl::Status status = session_.Handle(packet, &reply);
    if (!status.ok()) {
      fprintf(stderr, "hatch sftp-server: %.*s\n", static_cast<int>(status.message().size()),
              status.message().data());
      return Progress::kFatal;
    }
    input_.Consume(kLengthFieldSize + length);
  }
  // Keep room after a partial packet for the rest of it and for large reads.
  size_t needed = kMinReadRoom;
  if (input_.size() >= kLengthFieldSize) {
    const size_t packet = kLengthFieldSize + LoadBigEndian32(input_.data());
    needed = std::max(needed, packet - std::min(packet, input_.size()));
  }
  if (input_.tail_room() < needed) {
    input_.EnsureTailRoom(std::min(needed, input_.capacity() - input_.size()));
  }
  return Progress::kContinue;
}

ServerLoop::Progress ServerLoop::Flush() {
  while (!output_.empty()) {
    const size_t pending = output_.size();
    const ssize_t n = write(out_fd_, output_.data(), pending);
    if (n > 0) {
      output_.Consume(static_cast<size_t>(n));
      // A short write means the fd is full: trying again now would only get EAGAIN.
      if (static_cast<size_t>(n) < pending) return Progress::kContinue;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Progress::kContinue;
    return WriteFailed(n, "write");
  }
  // The last reply in the queue is written: its staged data follows.
  if (stage_.staged() > 0 && !stage_.Drain(out_fd_)) return WriteFailed(-1, "splice");
  return Progress::kContinue;
}

ServerLoop::Progress ServerLoop::WriteFailed(ssize_t n, const char* what) {
  // The client stopped reading: the session is over, as for OpenSSH's sftp-server.
  if (n == 0 || errno == EPIPE || errno == ECONNRESET) return Progress::kDone;
  fprintf(stderr, "hatch sftp-server: %s: %s\n", what, strerror(errno));
  return Progress::kFatal;
}

ServerLoop::Progress ServerLoop::Fill() {
  while (input_.tail_room() > 0) {
    const ssize_t n = read(in_fd_, input_.tail(), input_.tail_room());
    if (n > 0) {
      input_.Commit(static_cast<size_t>(n));
      return Progress::kContinue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Progress::kContinue;
    if (n < 0 && errno != ECONNRESET) {
      fprintf(stderr, "hatch sftp-server: read: %s\n", strerror(errno));
      return Progress::kFatal;
    }
    input_open_ = false;  // EOF, or a reset that ends the input the same way
    return Progress::kContinue;
  }
  return Progress::kContinue;
}

int ServerLoop::Run() {
  for (;;) {
    if (ProcessInput() == Progress::kFatal) return kExitProtocolError;
    if (OutputPending()) {
      const Progress flushed = Flush();
      if (flushed != Progress::kContinue) return ExitStatusAfter(flushed);
    }
    // The flush may have made room for requests already received: answer them before
    // waiting for anything.
    if (!OutputFull() && HasCompletePacket()) continue;
    // After EOF the requests already received are still answered (a client may half-close
    // after its last request); a trailing partial packet is dropped.
    if (!input_open_ && !OutputPending() && !HasCompletePacket()) return kExitOk;

    struct pollfd fds[2];
    nfds_t count = 0;
    int read_slot = -1, write_slot = -1;
    if (input_open_ && !OutputFull() && input_.tail_room() > 0) {
      read_slot = static_cast<int>(count);
      fds[count++] = {in_fd_, POLLIN, 0};
    }
    if (OutputPending()) {
      write_slot = static_cast<int>(count);
      fds[count++] = {out_fd_, POLLOUT, 0};
    }
    if (count == 0) continue;  // not reached: the checks above leave something to wait for
    if (poll(fds, count, -1) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "hatch sftp-server: poll: %s\n", strerror(errno));
      return kExitIoError;
    }
    if (read_slot >= 0 && fds[read_slot].revents != 0 && Fill() == Progress::kFatal) {
      return kExitIoError;
    }
    if (write_slot >= 0 && fds[write_slot].revents != 0) {
      const Progress flushed = Flush();
      if (flushed != Progress::kContinue) return ExitStatusAfter(flushed);
    }
  }
}

}  // namespace

int RunSftpServer(int in_fd, int out_fd, const SftpServerOptions& options) {
  SigpipeBlockScope no_sigpipe;
  NonBlockingScope in_mode(in_fd);
  NonBlockingScope out_mode(out_fd);
  // Replies to READs are up to 255 KiB; a pipe holds 64 KiB by default, so each would take
  // four system calls here and four reads in the daemon. A 1 MiB pipe takes several at once.
  // Best effort: a socket or a refusal leaves the fd as it is.
  GrowPipe(out_fd);
  ServerLoop loop(in_fd, out_fd, options);
  return loop.Run();
}

}  // namespace hatch::sftp
