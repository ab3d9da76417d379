// ChannelPump: moves bytes between one SSH channel and local fds, with back-pressure both
// ways (shared/DESIGN.md, "Process model"). Used by session channels (process pipes or a pty
// master) and by forwarded TCP connections (one socket both ways).
//
// - fd -> client: a source fd is polled only while the channel's remote window is open and
//   the connection's socket has not queued too much; each read takes at most
//   min(window, 64 KiB), or 256 KiB once the source is a bulk stream (channel_pump.cc), and
//   goes out as channel data (or extended data).
// - client -> fd: channel data is written to the sink without blocking; what the sink does
//   not take stays in libssh's channel buffer (the data callback reports less consumed), so
//   libssh holds back the window. When the sink is writable again, Poll() pulls the held
//   bytes out 64 KiB at a time and stages only what the sink does not take.
//
// Follows channel_handler.h's rule: OnChannelData/OnChannelEof only do I/O and record state;
// watches change in Poll().
#ifndef HATCH_SSHD_CHANNEL_PUMP_H_
#define HATCH_SSHD_CHANNEL_PUMP_H_

#include <libssh/libssh.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sshd/channel_handler.h"
#include "sshd/event_loop.h"

namespace hatch {

// Sees the bytes a pump moves (a session recording). Called on the connection's thread,
// possibly inside libssh callbacks: it must only record, never touch the event loop.
class PumpTap {
 public:
  virtual ~PumpTap() = default;
  // Read from a source, on its way to the client.
  virtual void OnOutput(const char* data, size_t len, bool extended) = 0;
  // Taken by the sink, from the client.
  virtual void OnInput(const char* data, size_t len) = 0;
};

class ChannelPump {
 public:
  // `ctx` and `channel` must outlive the pump; fds given later are not owned and must stay
  // open until the pump is destroyed or Stop()ped.
  ChannelPump(ConnectionContext* ctx, ssh_channel channel);
  ~ChannelPump();
  ChannelPump(const ChannelPump&) = delete;
  ChannelPump& operator=(const ChannelPump&) = delete;

  // Output: what is read from `fd` is sent to the client (as extended data if `extended`).
  void AddSource(int fd, bool extended);
  // Input: channel data from the client is written to `fd` (may be a source fd too).
  void SetSink(int fd);

  // libssh may hold channel data that arrived before this pump existed (its data callback
  // was not set yet): the next Poll() looks for it.
  void PickUpEarlierInput() { libssh_holds_ = true; }

  // Stops writing to the sink (call before closing it); later input is dropped.
  void CloseSink();

  // The channel's data callback; returns the number of bytes consumed.
  int OnChannelData(const void* data, uint32_t len);
  void OnChannelEof() { client_eof_ = true; }

  // Between polls: pulls held-back input into the sink and updates the fd watches.
  void Poll();
  // Reads every source until it would block, as far as the window allows; sources that
  // would block are then treated as ended (a pty after its shell exited).
  void DrainSources();
  // The client closed the channel: nothing more may be sent on it. Input libssh still holds
  // is delivered (the close counts as EOF).
  void OnChannelClosed();
  // Stops watching every fd (call before closing them).
  void Stop();

  // `tap` (not owned; nullptr for none) sees every byte moved from now on; it must outlive
  // the pump or be unset first.
  void SetTap(PumpTap* tap) { tap_ = tap; }
  // Bytes moved so far: read from the sources (to the client), taken by the sink (from it).
  uint64_t bytes_out() const { return bytes_out_; }
  uint64_t bytes_in() const { return bytes_in_; }

  // Every source reached EOF (or an error).
  bool sources_done() const;
  // The client sent EOF and every byte before it reached the sink (or the sink failed).
  bool input_done() const;
  // The sink refused data for good (EPIPE, ECONNRESET): further input is dropped.
  bool sink_failed() const { return sink_failed_; }

 private:
  struct Source {
    int fd = -1;
    bool extended = false;
    bool eof = false;      // nothing more to read
    std::string unsent;    // read, but not taken by libssh yet (it takes none while re-keying)
    bool sending = false;  // inside ssh_channel_write, which may run this pump's callbacks
    bool bulk = false;     // has filled a whole read: read in bulk (see channel_pump.cc)
    bool filled = false;   // the last read took all it asked for
  };
  enum class ReadResult { kData, kWouldBlock, kEnd, kNoWindow };

  ReadResult Read(Source* source);
  void BecomeBulk(Source* source);
  size_t WriteToChannel(Source* source, const char* data, size_t len);
  void Send(Source* source, const char* data, size_t len);  // keeps what libssh did not take
  void FlushUnsent(Source* source);
  size_t Write(const char* data, size_t len);
  void PullHeldInput();
  int Budget() const;
  void OnReady(int fd, short revents);
  FdWatch* WatchFor(int fd);

  ConnectionContext* ctx_;
  ssh_channel channel_;
  std::vector<Source> sources_;
  int sink_ = -1;
  std::string staged_;            // pulled out of libssh, not yet taken by the sink
  bool sink_blocked_ = false;     // the sink took less than offered: wait for POLLOUT
  bool sink_grown_ = false;       // the sink was found full once (and grown if a pipe)
  bool libssh_holds_ = false;     // libssh's buffer has data the callback did not consume
  bool sink_failed_ = false;
  bool client_eof_ = false;
  bool stopped_ = false;
  bool output_closed_ = false;
  std::map<int, std::unique_ptr<FdWatch>> watches_;
  std::unique_ptr<char[]> bulk_buf_;  // for bulk sources' reads, allocated on first use
  bool bulk_buf_busy_ = false;        // bulk_buf_ holds bytes being sent (nested reads: stack)
  PumpTap* tap_ = nullptr;
  uint64_t bytes_out_ = 0;
  uint64_t bytes_in_ = 0;
};

}  // namespace hatch

#endif  // HATCH_SSHD_CHANNEL_PUMP_H_
