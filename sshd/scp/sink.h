// ScpSink: the receiving side (`scp -t target`): reads T/C/D/E control lines and file data
// from the peer and writes files and directories under the target, as OpenSSH's sink().
#ifndef HATCH_SSHD_SCP_SINK_H_
#define HATCH_SSHD_SCP_SINK_H_

#include <sys/types.h>

#include <cstdint>

#include <memory>
#include <string>
#include <vector>

#include "sshd/scp/control_line.h"
#include "sshd/scp/peer.h"
#include "sshd/scp/transfer.h"

namespace hatch::scp {

class ScpSink {
 public:
  // *peer must outlive this object.
  ScpSink(ScpPeer* peer, const TransferFlags& flags);
  ScpSink(const ScpSink&) = delete;
  ScpSink& operator=(const ScpSink&) = delete;

  // Receives everything the peer sends into `targets` (scp accepts exactly one). False when
  // the transfer ended on a fatal error (scp would exit(1) there); errors that let it go on
  // are counted in the peer.
  bool Run(const std::vector<std::string>& targets);

 private:
  // One level of the transfer into `target` (the whole run, or one D line's directory).
  bool ReceiveInto(const std::string& target);
  // A D line: create or reuse `path`, receive into it, then apply mode and times.
  bool ReceiveDirectory(const EntryLine& entry, const std::string& path,
                        const TimesLine* times);
  // A C line: write the file data to `path`, then apply mode and times.
  bool ReceiveFile(const EntryLine& entry, const std::string& path, const TimesLine* times);
  // Reads `size` bytes of file data into `fd` (a write error is remembered in *write_errno
  // and the rest of the data is still consumed). False when the peer's data ends early.
  // False when the stream ended first; *received counts the bytes that arrived either way.
  bool CopyDataToFile(int fd, off_t size, int* write_errno, uint64_t* received);
  // Reports a protocol violation ("protocol error: <why>"); always returns false.
  bool ProtocolError(const std::string& why);

  ScpPeer* const peer_;
  const TransferFlags flags_;
  mode_t umask_ = 0;
  std::unique_ptr<char[]> buffer_;
};

}  // namespace hatch::scp

#endif  // HATCH_SSHD_SCP_SINK_H_
