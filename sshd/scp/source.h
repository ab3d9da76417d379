// ScpSource: the sending side (`scp -f path...`): sends files (C lines), directories (D ... E
// with -r) and times (T lines with -p) to the peer, as OpenSSH's source() and rsource().
#ifndef HATCH_SSHD_SCP_SOURCE_H_
#define HATCH_SSHD_SCP_SOURCE_H_

#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "sshd/scp/peer.h"
#include "sshd/scp/transfer.h"

namespace hatch::scp {

// What the shell would have made of a source operand: the operand itself when it names an
// existing file (so quoted names with *, ? or [ still work), else its glob(3) matches, else
// the operand (whose open then fails with "No such file or directory").
std::vector<std::string> ExpandSourceOperand(const std::string& operand);

class ScpSource {
 public:
  // *peer must outlive this object.
  ScpSource(ScpPeer* peer, const TransferFlags& flags);
  ScpSource(const ScpSource&) = delete;
  ScpSource& operator=(const ScpSource&) = delete;

  // Sends every operand after expanding it (ExpandSourceOperand). A missing or unreadable
  // one is reported to the peer and counted, and the others are still sent. False when the
  // transfer ended on a fatal error (the peer's "\x02" reply or a lost connection).
  bool Run(const std::vector<std::string>& operands);

 private:
  // One path: a regular file, or a directory with -r.
  bool SendPath(std::string name);
  bool SendDirectory(const std::string& name, int fd, const struct stat& st);
  // Sends the T line (-p) for `st`, returns the peer's reply.
  ScpPeer::Reply SendTimes(const struct stat& st);
  // Streams `size` bytes of `fd`. If the file fails or shrinks, zeros keep the peer in step
  // and *read_error says why. False when the peer is gone.
  bool SendFileData(int fd, off_t size, std::string* read_error);

  ScpPeer* const peer_;
  const TransferFlags flags_;
  std::unique_ptr<char[]> buffer_;
};

}  // namespace hatch::scp

#endif  // HATCH_SSHD_SCP_SOURCE_H_
