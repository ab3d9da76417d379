#include "sshd/sftp/status.h"

#include <cerrno>
#include <cstring>

namespace hatch::sftp {

const char* StatusText(StatusCode code) {
  switch (code) {
    case kFxOk: return "Success";
    case kFxEof: return "End of file";
    case kFxNoSuchFile: return "No such file";
    case kFxPermissionDenied: return "Permission denied";
    case kFxFailure: return "Failure";
    case kFxBadMessage: return "Bad message";
    case kFxNoConnection: return "No connection";
    case kFxConnectionLost: return "Connection lost";
    case kFxOpUnsupported: return "Operation unsupported";
  }
  return "Unknown error";
}

SftpStatus StatusFromErrno(int err) {
  switch (err) {
    case 0:
      return {kFxOk, ""};
    case ENOENT:
    case ENOTDIR:
    case EBADF:
    case ELOOP:
      return {kFxNoSuchFile, ""};
    case EPERM:
    case EACCES:
    case EFAULT:
      return {kFxPermissionDenied, ""};
    case ENAMETOOLONG:
    case EINVAL:
      return {kFxBadMessage, ""};
    case ENOSYS:
      return {kFxOpUnsupported, ""};
    default:
      return {kFxFailure, strerror(err)};
  }
}

}  // namespace hatch::sftp
