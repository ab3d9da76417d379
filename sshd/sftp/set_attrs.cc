#include "sshd/sftp/set_attrs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "sshd/sftp/protocol.h"

namespace hatch::sftp {

int ApplyAttrs(const FileAttrs& a, const AttrTarget& t) {
  int first_error = 0;
  auto note = [&first_error](int rc) {
    if (rc != 0 && first_error == 0) first_error = errno;
  };
  const bool on_fd = t.kind == AttrTarget::kFd;
  const int at_flags = t.kind == AttrTarget::kPathNoFollow ? AT_SYMLINK_NOFOLLOW : 0;
  if (a.flags & kAttrSize) {
    if (t.kind == AttrTarget::kPathNoFollow) {
      note((errno = EINVAL, -1));
    } else {
      const off_t size = static_cast<off_t>(a.size);
      note(on_fd ? ftruncate(t.fd, size) : truncate(t.path, size));
    }
  }
  if (a.flags & kAttrPermissions) {
    const mode_t mode = a.permissions & 07777;
    note(on_fd ? fchmod(t.fd, mode) : fchmodat(AT_FDCWD, t.path, mode, at_flags));
  }
  if (a.flags & kAttrAcModTime) {
    // v3 sets access and modification time together, in whole seconds.
    const struct timespec times[2] = {{static_cast<time_t>(a.atime), 0},
                                      {static_cast<time_t>(a.mtime), 0}};
    note(on_fd ? futimens(t.fd, times) : utimensat(AT_FDCWD, t.path, times, at_flags));
  }
  if (a.flags & kAttrUidGid) {
    note(on_fd ? fchown(t.fd, a.uid, a.gid) : fchownat(AT_FDCWD, t.path, a.uid, a.gid, at_flags));
  }
  return first_error;
}

}  // namespace hatch::sftp
