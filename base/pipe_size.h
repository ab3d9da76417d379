// Growing a pipe's kernel buffer (F_SETPIPE_SZ), for the pipes that carry bulk data between
// a session's process and the connection: the writer then blocks less often and each read
// or write moves more bytes. 1 MiB is Linux's default fs.pipe-max-size, which an
// unprivileged process may set. Safe between fork and exec (fstat and fcntl only).
#ifndef HATCH_BASE_PIPE_SIZE_H_
#define HATCH_BASE_PIPE_SIZE_H_

namespace hatch {

inline constexpr int kBulkPipeSize = 1 << 20;

// Best effort: grows `fd`'s buffer to `size` if it is a pipe with a smaller one. Returns
// whether it grew.
bool GrowPipe(int fd, int size = kBulkPipeSize);

}  // namespace hatch

#endif  // HATCH_BASE_PIPE_SIZE_H_
