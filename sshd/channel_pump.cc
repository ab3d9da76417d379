#include "sshd/channel_pump.h"

#include <errno.h>
#include <libssh/server.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "base/pipe_size.h"

namespace hatch {
namespace {

// Stop reading sources while the socket holds this much unsent data.
constexpr size_t kMaxPendingOutput = 4 * 1024 * 1024;
// A read takes at most this much; the same size goes to the sink at a time.
constexpr size_t kChunk = 64 * 1024;
// Once a source fills a whole kChunk read it is a bulk stream (a download, a tunnel): it is
// then read kBulkChunk at a time into a buffer of the pump's own, and a pipe is grown to
// 1 MiB, so that the command writes longer before it blocks and each read, packet
// batch, send and poll-loop turn moves more bytes (on a VM where a system call costs a
// microsecond, they are most of the CPU per byte that is not the cipher). Interactive
// sessions never allocate the buffer or grow a pipe (base/pipe_size.h).
constexpr size_t kBulkChunk = 256 * 1024;
// A turn of the poll loop reads a source at most this much before other fds get their turn.
constexpr size_t kMaxReadPerTurn = 1024 * 1024;

}  // namespace

ChannelPump::ChannelPump(ConnectionContext* ctx, ssh_channel channel)
    : ctx_(ctx), channel_(channel) {}

ChannelPump::~ChannelPump() { Stop(); }

void ChannelPump::AddSource(int fd, bool extended) {
  Source source;
  source.fd = fd;
  source.extended = extended;
  sources_.push_back(std::move(source));
  WatchFor(fd);
}

void ChannelPump::SetSink(int fd) {
  sink_ = fd;
  WatchFor(fd);
}

void ChannelPump::CloseSink() {
  if (sink_ < 0) return;
  const int fd = sink_;
  sink_ = -1;
  sink_failed_ = true;
  staged_.clear();
  const bool also_source =
      std::any_of(sources_.begin(), sources_.end(), [fd](const Source& s) { return s.fd == fd; });
  if (!also_source) watches_.erase(fd);
}

FdWatch* ChannelPump::WatchFor(int fd) {
  std::unique_ptr<FdWatch>& w = watches_[fd];
  if (!w) w = std::make_unique<FdWatch>(ctx_->event(), fd, [this, fd](short ev) { OnReady(fd, ev); });
  return w.get();
}

void ChannelPump::OnChannelClosed() {
  output_closed_ = true;
  client_eof_ = true;
  for (Source& s : sources_) {
    s.eof = true;
    s.unsent.clear();  // nowhere to send it
  }
}

void ChannelPump::Stop() {
  stopped_ = true;
  watches_.clear();
}

bool ChannelPump::sources_done() const {
  return std::all_of(sources_.begin(), sources_.end(),
                     [](const Source& s) { return s.eof && s.unsent.empty(); });
}

bool ChannelPump::input_done() const {
  return sink_failed_ || (client_eof_ && !libssh_holds_ && staged_.empty());
}

int ChannelPump::Budget() const {
  if (stopped_ || output_closed_) return 0;
  if (ssh_session_pending_output(ctx_->session()) > kMaxPendingOutput) return 0;
  return static_cast<int>(std::min<uint32_t>(ssh_channel_window_size(channel_), kBulkChunk));
}

int ChannelPump::OnChannelData(const void* data, uint32_t len) {
  ctx_->MarkActivity();
  if (sink_failed_ || stopped_) return static_cast<int>(len);  // nobody reads it any more
  if (sink_ < 0 || sink_blocked_ || !staged_.empty()) {
    libssh_holds_ = true;  // kept in libssh's buffer; its window stays closed
    return 0;
  }
  size_t n = Write(static_cast<const char*>(data), len);
  libssh_holds_ = n < len;
  return static_cast<int>(n);
}

size_t ChannelPump::Write(const char* data, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::write(sink_, data + done, len - done);
    if (n > 0) {
      if (tap_ != nullptr) tap_->OnInput(data + done, static_cast<size_t>(n));
      bytes_in_ += static_cast<uint64_t>(n);
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A full pipe is a bulk upload: grown once (as a bulk source is), then written on.
      if (!sink_grown_) {
        sink_grown_ = true;
        if (GrowPipe(sink_)) continue;
      }
      sink_blocked_ = true;
      break;
    } else {
      // EPIPE/ECONNRESET: the reader is gone; what else arrives is dropped, as a pipe to a
      // finished reader would.
      sink_failed_ = true;
      return len;
    }
  }
  return done;
}

void ChannelPump::PullHeldInput() {
  while (!sink_blocked_ && !sink_failed_ && sink_ >= 0) {
    if (!staged_.empty()) {
      size_t n = Write(staged_.data(), staged_.size());
      staged_.erase(0, n);
      if (!staged_.empty()) return;
      continue;
    }
    if (!libssh_holds_) return;
    // When libssh's buffer holds data this read handles no packets; after
    // PickUpEarlierInput() it may find the buffer empty and poll once without waiting (this
    // runs in Poll(), where nested callbacks are allowed). It re-opens the window by what it
    // takes.
    char buf[kChunk];
    int n = ssh_channel_read_timeout(channel_, buf, sizeof buf, 0, 0);
    if (n <= 0) {
      libssh_holds_ = false;
      return;
    }
    if (static_cast<size_t>(n) < sizeof buf) libssh_holds_ = false;
    // Offered to the sink straight away: only what it leaves is copied into staged_.
    const size_t written = Write(buf, static_cast<size_t>(n));
    if (written < static_cast<size_t>(n)) staged_.assign(buf + written, n - written);
  }
  if (sink_failed_) staged_.clear();
}

// ssh_channel_write() takes nothing while a key re-exchange runs (OpenSSH re-keys every GiB
// or so) and returns 0; its flush may poll, and so call this pump's callbacks nested:
// `sending` keeps them from sending newer bytes ahead of these. SSH_ERROR ends the source.
size_t ChannelPump::WriteToChannel(Source* s, const char* data, size_t len) {
  s->sending = true;
  int rc = s->extended ? ssh_channel_write_stderr(channel_, data, static_cast<uint32_t>(len))
                       : ssh_channel_write(channel_, data, static_cast<uint32_t>(len));
  s->sending = false;
  if (rc == SSH_ERROR) {
    s->eof = true;
    s->unsent.clear();
    return len;
  }
  return static_cast<size_t>(rc);
}

void ChannelPump::Send(Source* s, const char* data, size_t len) {
  size_t taken = WriteToChannel(s, data, len);
  if (taken < len) s->unsent.append(data + taken, len - taken);
}

void ChannelPump::FlushUnsent(Source* s) {
  if (s->unsent.empty() || s->sending || stopped_ || output_closed_) return;
  size_t taken = WriteToChannel(s, s->unsent.data(), s->unsent.size());
  s->unsent.erase(0, std::min(taken, s->unsent.size()));
}

ChannelPump::ReadResult ChannelPump::Read(Source* s) {
  if (s->sending) return ReadResult::kNoWindow;  // nested inside this source's own write
  if (!s->unsent.empty()) {
    FlushUnsent(s);
    if (!s->unsent.empty()) return ReadResult::kNoWindow;
  }
  if (s->eof) return ReadResult::kEnd;
  int budget = Budget();
  if (budget <= 0) return ReadResult::kNoWindow;
  char small[kChunk];
  char* buf = small;
  // ssh_channel_write may run this pump's callbacks nested (see WriteToChannel): a nested
  // read of another source must not land in the buffer the outer one is still sending.
  const bool use_bulk = s->bulk && !bulk_buf_busy_;
  if (use_bulk) {
    if (!bulk_buf_) bulk_buf_ = std::make_unique<char[]>(kBulkChunk);
    buf = bulk_buf_.get();
  } else {
    budget = std::min(budget, static_cast<int>(kChunk));
  }
  ssize_t n = ::read(s->fd, buf, static_cast<size_t>(budget));
  if (n > 0) {
    ctx_->MarkActivity();
    s->filled = static_cast<size_t>(n) == static_cast<size_t>(budget);
    if (s->filled && !s->bulk && static_cast<size_t>(n) == kChunk) BecomeBulk(s);
    bytes_out_ += static_cast<uint64_t>(n);
    if (tap_ != nullptr) tap_->OnOutput(buf, static_cast<size_t>(n), s->extended);
    if (use_bulk) bulk_buf_busy_ = true;
    Send(s, buf, static_cast<size_t>(n));
    if (use_bulk) bulk_buf_busy_ = false;
    return s->unsent.empty() ? ReadResult::kData : ReadResult::kNoWindow;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
    return ReadResult::kWouldBlock;
  }
  // 0: end of stream. EIO: every slave fd of a pty is closed. ECONNRESET: the peer reset.
  s->eof = true;
  return ReadResult::kEnd;
}

void ChannelPump::BecomeBulk(Source* s) {
  s->bulk = true;
  GrowPipe(s->fd);
}

void ChannelPump::OnReady(int fd, short revents) {
  if (stopped_) return;
  if (fd == sink_ && (revents & (POLLOUT | POLLERR | POLLHUP)) != 0) sink_blocked_ = false;
  if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
    for (Source& s : sources_) {
      if (s.fd != fd) continue;
      // A read that filled its whole budget probably left more behind: read on (saving a
      // poll per read) while the window allows, up to kMaxReadPerTurn.
      const uint64_t start = bytes_out_;
      while (Read(&s) == ReadResult::kData && s.filled && bytes_out_ - start < kMaxReadPerTurn) {
      }
    }
  }
}

void ChannelPump::DrainSources() {
  for (Source& s : sources_) {
    ReadResult r;
    while ((r = Read(&s)) == ReadResult::kData) {
    }
    if (r == ReadResult::kWouldBlock) s.eof = true;
  }
}

void ChannelPump::Poll() {
  if (stopped_) return;
  PullHeldInput();
  for (Source& s : sources_) FlushUnsent(&s);
  const bool can_send = Budget() > 0;
  const bool sink_waits = sink_ >= 0 && sink_blocked_ && !sink_failed_;
  for (auto& [fd, watch] : watches_) {
    short events = 0;
    for (const Source& s : sources_) {
      if (s.fd == fd && !s.eof && s.unsent.empty() && can_send) events |= POLLIN;
    }
    if (fd == sink_ && sink_waits) events |= POLLOUT;
    watch->Want(events);
    watch->Sync();
  }
}

}  // namespace hatch
