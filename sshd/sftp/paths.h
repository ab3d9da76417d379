// PathResolver: where a client's path points. Relative paths (and "") resolve from the
// session's home, as OpenSSH's sftp-server resolves them from its working directory; the
// process's own working directory is never used or changed.
#ifndef HATCH_SSHD_SFTP_PATHS_H_
#define HATCH_SSHD_SFTP_PATHS_H_

#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace hatch::sftp {

class PathResolver {
 public:
  // `home` should be absolute; a relative one is made absolute from the working directory
  // at construction, and "" means "/".
  explicit PathResolver(std::string home);

  const std::string& home() const { return home_; }

  // `path` if absolute, else home/path ("" is home). No symlink or ".." is resolved.
  std::string Absolute(absl::string_view path) const;

  // SSH_FXP_REALPATH: the absolute path with ".", ".." and symlinks resolved; the last
  // component need not exist (clients ask for the real path of a file they are about to
  // upload). 0 and *resolved, or an errno.
  int RealPath(absl::string_view path, std::string* resolved) const;

 private:
  std::string home_;
};

// True when a path from the wire can be given to a system call: no NUL byte inside.
inline bool IsValidPath(absl::string_view path) {
  return path.find('\0') == absl::string_view::npos;
}

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_PATHS_H_
