// Applies SETSTAT-style attributes (size, permissions, times, owner) to a file, in the order
// OpenSSH's sftp-server applies them.
#ifndef HATCH_SSHD_SFTP_SET_ATTRS_H_
#define HATCH_SSHD_SFTP_SET_ATTRS_H_

#include "sshd/sftp/attrs.h"

namespace hatch::sftp {

// Which file: a path (following a final symlink, as SETSTAT), a path not following it
// (lsetstat@openssh.com; a size is refused there, it means nothing for a link), or an open
// fd (FSETSTAT). The object outlives the call.
struct AttrTarget {
  enum Kind { kPath, kPathNoFollow, kFd } kind;
  const char* path = nullptr;
  int fd = -1;
};

// Tries every field present in `attrs`; returns 0, or the errno of the first that failed.
int ApplyAttrs(const FileAttrs& attrs, const AttrTarget& target);

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_SET_ATTRS_H_
