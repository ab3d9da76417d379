// What an SSH_FXP_STATUS reply says: the v3 code and its message text.
#ifndef HATCH_SSHD_SFTP_STATUS_H_
#define HATCH_SSHD_SFTP_STATUS_H_

#include <cstdint>
#include <string>

#include "sshd/sftp/protocol.h"

namespace hatch::sftp {

struct SftpStatus {
  StatusCode code = kFxOk;
  std::string message;  // empty: the standard text for `code`
};

// The standard text for a code ("No such file", "Permission denied", ...).
const char* StatusText(StatusCode code);

// The status for a failed system call, with OpenSSH's mapping of errno to v3 codes
// (ENOENT/ENOTDIR/EBADF/ELOOP: no such file; EPERM/EACCES: permission denied; EINVAL,
// ENAMETOOLONG: bad message; ENOSYS: unsupported) and strerror's text for the rest, which
// v3 can only call "failure" (e.g. "Directory not empty", "File exists").
SftpStatus StatusFromErrno(int err);

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_STATUS_H_
