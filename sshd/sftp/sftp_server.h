// hatch's SFTP server: SFTP version 3 (draft-ietf-secsh-filexfer-02) with the OpenSSH
// extensions (openssh-portable PROTOCOL section 4), served on two file descriptors the way
// OpenSSH's sftp-server is served on stdin/stdout. It knows nothing of SSH: the daemon forks
// a child of the connection process, connects the "sftp" subsystem's channel to two pipes
// (or one socket) and calls RunSftpServer in that child.
#ifndef HATCH_SSHD_SFTP_SFTP_SERVER_H_
#define HATCH_SSHD_SFTP_SFTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "sshd/file_observer.h"

namespace hatch::sftp {

struct SftpServerOptions {
  std::string home;             // relative paths resolve from here; also home-directory and
                                // expand-path's "~"
  bool read_only = false;       // refuse every write with SSH_FX_PERMISSION_DENIED
                                // ("read-only session"), as OpenSSH's sftp-server -R
  size_t max_handles = 256;     // open handles per session
  uint32_t max_message = 256 * 1024;  // the largest request accepted (limits@openssh.com
                                      // reports it)
  FileObserver* observer = nullptr;   // audit events (not owned; outlives the server)
};

// Serves SFTP v3 on in_fd/out_fd (which may be the same socket) until EOF on in_fd or a
// fatal protocol error. Returns the exit status for the process: 0 on clean EOF (or when the
// client stops reading), non-zero after a fatal error, which is also explained in one line on
// stderr (e.g. a message longer than max_message, a malformed request).
//
// Takes no ownership of the fds. While running it sets O_NONBLOCK on them and blocks SIGPIPE
// in the calling thread; both are restored before it returns. An out_fd that is a pipe is
// enlarged to 1 MiB where the kernel allows (fewer, larger writes). Every file and directory
// it opened is closed before it returns. Files are created with the requested mode, less the
// process umask. The process's working directory is neither used nor changed.
int RunSftpServer(int in_fd, int out_fd, const SftpServerOptions& options);

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_SFTP_SERVER_H_
