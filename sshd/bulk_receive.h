// BulkReceive: fewer wake-ups per byte while a client streams to us (an upload, -L/-R data
// towards the server).
//
// A client sends at most one 32 KiB packet per write, and the kernel wakes a poll(2) waiter
// for every one: a poll, a socket read and a context switch per 32 KiB, which on a VM cost
// more than decrypting the packet. Once a client has streamed kStreamingBytes without a
// pause of kTail (an upload, not a command line or a small file), the socket's SO_RCVLOWAT
// is raised to kLowWater: the kernel then wakes this process only once that much has
// arrived, and libssh reads it in one go (scripts/libssh-socket-read.patch reads as much).
// Meanwhile the poll timeout is at most kTail; once nothing has arrived for kTail (the
// stream ended or paused, or the client waits for something: a key exchange, a window
// adjust, replies), the mark goes back to 1 byte and what is waiting is read at once.
//
// The cost is at most kTail of delay, once, at the end of a stream; interactive traffic
// never raises the mark. A client that streams in short bursts and then waits for replies
// (an SFTP client with few requests in flight) would meet that delay at every burst: a
// stream that ends within kShortStream of the mark going up doubles the bytes needed to
// raise it again (up to kMaxStreamingBytes); a longer one resets it.
#ifndef HATCH_SSHD_BULK_RECEIVE_H_
#define HATCH_SSHD_BULK_RECEIVE_H_

#include <cstdint>

#include "absl/time/time.h"

namespace hatch {

class BulkReceive {
 public:
  static constexpr uint64_t kStreamingBytes = 4 * 1024 * 1024;
  static constexpr uint64_t kMaxStreamingBytes = 1024 * 1024 * 1024;
  static constexpr int kLowWater = 256 * 1024;
  static constexpr absl::Duration kTail = absl::Milliseconds(2);
  static constexpr absl::Duration kShortStream = absl::Milliseconds(250);

  // `fd`: the connected socket (not owned); `idle_timeout_ms`: the loop's poll timeout when
  // no stream is coming in.
  BulkReceive(int fd, int idle_timeout_ms) : fd_(fd), idle_timeout_ms_(idle_timeout_ms) {}

  // After each turn of the loop: `received` is the count of bytes received so far. Returns
  // the poll timeout for the next turn, in milliseconds.
  int AfterTurn(uint64_t received, absl::Time now);

  bool streaming() const { return streaming_; }
  uint64_t threshold() const { return threshold_; }

 private:
  void SetLowWater(int bytes);

  int fd_;
  int idle_timeout_ms_;
  bool streaming_ = false;
  bool unsupported_ = false;  // setsockopt failed once: stay off
  uint64_t threshold_ = kStreamingBytes;
  uint64_t last_received_ = 0;
  uint64_t burst_ = 0;  // bytes received since the last pause of kTail or more
  absl::Time last_arrival_ = absl::InfinitePast();
  absl::Time raised_ = absl::InfinitePast();
};

}  // namespace hatch

#endif  // HATCH_SSHD_BULK_RECEIVE_H_
