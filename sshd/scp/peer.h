// ScpPeer: the byte stream to the remote scp, with the protocol's framing (OpenSSH scp.c):
// control lines, one-byte replies (0 ok, 1 warning + message, 2 fatal + message) and the
// error count that becomes the exit status.
#ifndef HATCH_SSHD_SCP_PEER_H_
#define HATCH_SSHD_SCP_PEER_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace hatch::scp {

// Longest control line accepted (OpenSSH reads lines into a 2048-byte buffer).
inline constexpr size_t kMaxLineLength = 2048;
// Bytes moved per read/write of file data.
inline constexpr size_t kCopyBufferSize = 256 * 1024;

class ScpPeer {
 public:
  // The fds stay owned by the caller and must outlive this object. Blocking fds expected.
  ScpPeer(int in_fd, int out_fd, int err_fd, bool verbose);
  ScpPeer(const ScpPeer&) = delete;
  ScpPeer& operator=(const ScpPeer&) = delete;

  // Reads exactly `n` bytes; false on end of stream or a read error.
  bool ReadFull(char* buf, size_t n);
  // Reads between 1 and `n` bytes; 0 on end of stream, -1 on error.
  ssize_t ReadSome(char* buf, size_t n);

  enum class LineStatus { kLine, kEndOfStream, kLostConnection, kTooLong };
  // Reads one line up to and including '\n' (kept in *line); kEndOfStream when the stream
  // ends before its first byte, kLostConnection when it ends in the middle of the line.
  LineStatus ReadLine(std::string* line);

  // Writes all of `data`; false when the peer is gone.
  bool Write(absl::string_view data);
  // The "\0" reply: OK.
  bool SendOk() { return Write(absl::string_view("\0", 1)); }
  // scp's run_err(): "\x01scp: <message>\n" to the peer, counted as an error.
  void SendError(absl::string_view message);
  // Counts an error without telling the peer (it was told otherwise, or will be).
  void CountError() { ++errors_; }

  enum class Reply { kOk, kWarning, kFatal };
  // scp's response(): reads the peer's reply. A warning counts as an error. kFatal covers a
  // "\x02" reply and a lost connection: the caller must stop with exit status 1.
  Reply ReadReply();

  // Writes a control line and reads the reply to it; kFatal when the write fails.
  Reply Exchange(absl::string_view line);

  // -v diagnostics on the error fd (no-op without -v).
  void Log(absl::string_view text);
  // Unconditional diagnostics on the error fd.
  void Diagnose(absl::string_view text);

  int errors() const { return errors_; }
  // For sendfile(2) straight to the peer; all other output goes through Write().
  int out_fd() const { return out_fd_; }

 private:
  int in_fd_;
  int out_fd_;
  int err_fd_;
  bool verbose_;
  int errors_ = 0;
};

}  // namespace hatch::scp

#endif  // HATCH_SSHD_SCP_PEER_H_
