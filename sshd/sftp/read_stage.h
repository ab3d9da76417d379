// ReadStage: the data of READ replies moved from the page cache to the out fd without
// passing through user space (issue 15). A DATA reply's length comes before its data, and
// splice(2) says how much it moved only afterwards, so the data is first spliced from the
// file into a private pipe (the stage: page references, no copy), the reply's header is
// written with the length now known, and the staged pages are spliced after it into the out
// fd. Before, every byte was copied twice: pread(2) into the reply, write(2) into the pipe
// (which also allocated a fresh page per 4 KiB).
//
// One reply at a time: the event loop handles no further request while the stage holds
// bytes, so replies keep their order. Files that cannot be spliced (a FIFO has no offsets)
// take the pread path, as does every READ when the stage could not be set up.
#ifndef HATCH_SSHD_SFTP_READ_STAGE_H_
#define HATCH_SSHD_SFTP_READ_STAGE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "base/unique_fd.h"

namespace hatch::sftp {

class ReadStage {
 public:
  // A stage for replies to `out_fd` with up to `max_read` bytes of data. Its pipe is made
  // by the first Fill(); if `out_fd` is not a pipe or socket, or that pipe cannot hold
  // `max_read` bytes (the user's pipe pages are used up: fs.pipe-user-pages-soft), every
  // Fill() fails with EOPNOTSUPP and READs use pread.
  ReadStage(int out_fd, size_t max_read);
  ReadStage(const ReadStage&) = delete;
  ReadStage& operator=(const ReadStage&) = delete;

  // Bytes staged and not yet moved to the out fd.
  size_t staged() const { return staged_; }

  // Stages up to `len` bytes of `fd` from `offset` (the stage must be empty). Returns the
  // bytes staged (fewer than `len` at the end of the file; 0 at or past it), or -1 with
  // errno set. CannotSplice(errno) means this file must be read with pread instead.
  ssize_t Fill(int fd, uint64_t offset, size_t len);
  static bool CannotSplice(int err);

  // Moves staged bytes to `out_fd` until the stage is empty or the fd is full. Returns
  // false with errno set on an error (EPIPE: the reader is gone).
  bool Drain(int out_fd);

  // Throws away what is staged (a reply that could not be completed).
  void Discard();

 private:
  bool Open();

  size_t max_read_;
  UniqueFd read_end_;
  UniqueFd write_end_;
  size_t staged_ = 0;
  bool usable_ = false;  // may still be (or is) set up
};

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_READ_STAGE_H_
