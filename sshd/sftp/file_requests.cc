// Requests on handles: OPEN/OPENDIR create them; READ, WRITE, READDIR, FSTAT, FSETSTAT,
// fstatvfs, fsync and copy-data use them; CLOSE ends them.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "base/file_write.h"
#include "sshd/sftp/session.h"
#include "sshd/sftp/set_attrs.h"

namespace hatch::sftp {
namespace {

// OpenSSH's mapping of SSH_FXF_* to open(2) flags (draft section 6.3).
int OpenFlagsFrom(uint32_t pflags) {
  int flags = O_RDONLY;
  if ((pflags & kFxfRead) && (pflags & kFxfWrite)) {
    flags = O_RDWR;
  } else if (pflags & kFxfWrite) {
    flags = O_WRONLY;
  }
  if (pflags & kFxfAppend) flags |= O_APPEND;
  if (pflags & kFxfCreat) flags |= O_CREAT;
  if (pflags & kFxfTrunc) flags |= O_TRUNC;
  if (pflags & kFxfExcl) flags |= O_EXCL;
  return flags;
}

// A NAME reply holds at most this many entries, as OpenSSH's readdir sends.
constexpr uint32_t kMaxNamesPerReply = 100;

// copy-data copies in chunks of this size (per system call).
constexpr size_t kCopyChunk = 256 * 1024;

bool SameFile(int a, int b) {
  struct stat sa, sb;
  if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace

absl::Status Session::Open(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  const uint32_t pflags = in.U32();
  const FileAttrs attrs = ReadAttrs(&in);
  if (!in.ok()) return Truncated();
  const int flags = OpenFlagsFrom(pflags);
  if (options_.read_only &&
      ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) != 0)) {
    SendReadOnly(out, id);
    return absl::OkStatus();
  }
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  // Checked before open(2): an O_CREAT or O_TRUNC open must not take effect if refused.
  if (handles_.size() >= handles_.max_handles()) {
    SendStatus(out, id, kFxFailure,
               absl::StrCat("Too many open handles (limit ", handles_.max_handles(), ")"));
    return absl::OkStatus();
  }
  // The kernel applies the process umask to `mode`, as for OpenSSH's sftp-server.
  const mode_t mode = (attrs.flags & kAttrPermissions) ? attrs.permissions & 07777 : 0666;
  // O_NONBLOCK so that opening a FIFO with no peer cannot stall the whole session (OpenSSH's
  // server hangs there); it is cleared again for everything but FIFOs.
  struct stat before;
  const bool creates = (flags & O_CREAT) != 0 && lstat(path.c_str(), &before) != 0;
  int fd;
  do {
    fd = open(path.c_str(), flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    SendErrno(out, id, errno);
    return absl::OkStatus();
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && !S_ISFIFO(st.st_mode)) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  }
  const bool append = (flags & O_APPEND) != 0;
  const bool writable = (flags & O_ACCMODE) != O_RDONLY;
  if (creates) Report(FileOp::kCreated, path);
  SendHandle(out, id, *handles_.AddFile(OpenFile{UniqueFd(fd), std::move(path), append, writable}));
  return absl::OkStatus();
}

absl::Status Session::Opendir(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  if (!in.ok()) return Truncated();
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  if (handles_.size() >= handles_.max_handles()) {
    SendStatus(out, id, kFxFailure,
               absl::StrCat("Too many open handles (limit ", handles_.max_handles(), ")"));
    return absl::OkStatus();
  }
  DirStream dir(opendir(path.c_str()));
  if (!dir) {
    SendErrno(out, id, errno);
    return absl::OkStatus();
  }
  SendHandle(out, id, *handles_.AddDir(OpenDir{std::move(dir), std::move(path)}));
  return absl::OkStatus();
}

absl::Status Session::Close(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view handle = in.String();
  if (!in.ok()) return Truncated();
  if (handles_.File(handle) == nullptr && handles_.Dir(handle) == nullptr) {
    SendInvalidHandle(out, id);
    return absl::OkStatus();
  }
  if (const OpenFile* file = handles_.File(handle); file != nullptr) ReportClosed(*file);
  const int err = handles_.Close(handle);
  if (err != 0) {
    SendErrno(out, id, err);
  } else {
    SendStatus(out, id, kFxOk);
  }
  return absl::OkStatus();
}

// The data path: the file's pages go to the out fd through the read stage (no copy), or
// the file is read straight into the reply in the output queue.
absl::Status Session::Read(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view handle = in.String();
  const uint64_t offset = in.U64();
  uint32_t length = in.U32();
  if (!in.ok()) return Truncated();
  OpenFile* file = handles_.File(handle);
  if (file == nullptr) {
    SendInvalidHandle(out, id);
    return absl::OkStatus();
  }
  // A longer READ gets a shorter DATA reply, which clients handle (draft section 6.4).
  length = std::min(length, max_read_);
  if (stage_ != nullptr && !file->no_splice && length > 0) {
    const ssize_t n = stage_->Fill(file->fd.get(), offset, length);
    if (n > 0) {
      out.Begin(kFxpData);
      out.U32(id);
      out.U32(static_cast<uint32_t>(n));
      out.Trailing(static_cast<size_t>(n));
      if (!out.Finish()) {  // not reached: the writer has room for any header
        stage_->Discard();
        SendStatus(out, id, kFxFailure);
        return absl::OkStatus();
      }
      file->bytes_read += static_cast<uint64_t>(n);
      return absl::OkStatus();
    }
    if (n == 0) {
      SendStatus(out, id, kFxEof);
      return absl::OkStatus();
    }
    if (ReadStage::CannotSplice(errno)) {
      file->no_splice = true;
    } else if (errno != EAGAIN) {
      SendErrno(out, id, errno);
      return absl::OkStatus();
    }
    // Falls through to pread (for good if the file cannot be spliced).
  }
  out.Begin(kFxpData);
  out.U32(id);
  const size_t length_mark = out.Mark();
  out.U32(length);
  uint8_t* data = out.Reserve(length);
  ssize_t n;
  do {
    n = pread(file->fd.get(), data, length, static_cast<off_t>(offset));
    // A FIFO or character device has no offsets: read it as a stream.
    if (n < 0 && errno == ESPIPE) n = read(file->fd.get(), data, length);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    SendErrno(out, id, errno);  // starts over: the DATA reply is dropped
    return absl::OkStatus();
  }
  if (n == 0 && length > 0) {
    SendStatus(out, id, kFxEof);
    return absl::OkStatus();
  }
  file->bytes_read += static_cast<uint64_t>(n);
  out.Unreserve(length - static_cast<size_t>(n));
  out.PatchU32(length_mark, static_cast<uint32_t>(n));
  out.Finish();
  return absl::OkStatus();
}

// The data path: written straight from the request in the input queue.
absl::Status Session::Write(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view handle = in.String();
  const uint64_t offset = in.U64();
  const absl::string_view data = in.String();
  if (!in.ok()) return Truncated();
  OpenFile* file = handles_.File(handle);
  if (file == nullptr) {
    SendInvalidHandle(out, id);
    return absl::OkStatus();
  }
  // With O_APPEND, Linux's pwrite(2) writes at the end whatever the offset, which is what
  // SSH_FXF_APPEND asks (OpenSSH skips its seek for such handles).
  // At most kFileWriteChunk per call: larger buffered writes cost erratically more on a VM
  // (base/file_write.h says why).
  size_t done = 0;
  while (done < data.size()) {
    const size_t chunk = std::min(data.size() - done, kFileWriteChunk);
    ssize_t n = pwrite(file->fd.get(), data.data() + done, chunk,
                       static_cast<off_t>(offset + done));
    if (n < 0 && errno == ESPIPE) {
      n = write(file->fd.get(), data.data() + done, chunk);  // a FIFO: a stream
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      SendErrno(out, id, errno);
      return absl::OkStatus();
    }
    if (n == 0) {
      SendStatus(out, id, kFxFailure, "Short write");
      return absl::OkStatus();
    }
    done += static_cast<size_t>(n);
    file->bytes_written += static_cast<uint64_t>(n);
  }
  SendStatus(out, id, kFxOk);
  return absl::OkStatus();
}

absl::Status Session::Readdir(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view handle = in.String();
  if (!in.ok()) return Truncated();
  OpenDir* dir = handles_.Dir(handle);
  if (dir == nullptr) {
    SendInvalidHandle(out, id);
    return absl::OkStatus();
  }
  DIR* stream = dir->dir.get();
  const time_t now = time(nullptr);
  out.Begin(kFxpName);
  out.U32(id);
  const size_t count_mark = out.Mark();
  out.U32(0);
  uint32_t count = 0;
  while (count < kMaxNamesPerReply) {
    const long position = telldir(stream);
    errno = 0;
    const struct dirent* entry = readdir(stream);
    if (entry == nullptr) {
      if (errno != 0 && count == 0) {
        SendErrno(out, id, errno);
        return absl::OkStatus();
      }
      break;
    }
    // Entries that vanished since (or cannot be looked at) are left out, as in OpenSSH.
    struct stat st;
    if (fstatat(dirfd(stream), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    const absl::string_view name = entry->d_name;
    const std::string long_name = LongName(name, st, &accounts_, now);
    // name, long name, and at most 32 bytes of attributes.
    if (out.room() < 4 + name.size() + 4 + long_name.size() + 32) {
      seekdir(stream, position);  // this entry goes into the next reply
      break;
    }
    out.String(name);
    out.String(long_name);
    WriteAttrs(AttrsFromStat(st), &out);
    ++count;
  }
  if (count == 0) {
    SendStatus(out, id, kFxEof);
    return absl::OkStatus();
  }
  out.PatchU32(count_mark, count);
  out.Finish();
  return absl::OkStatus();
}

absl::Status Session::Fstat(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view handle = in.String();
  if (!in.ok()) return Truncated();
  const int fd = HandleFd(handle);
  if (fd < 0) {
    SendInvalidHandle(out, id);
    return absl::OkStatus();
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    SendErrno(out, id, errno);
  } else {
    SendAttrs(out, id, st);
  }
  return absl::OkStatus();
}

absl::Status Session::Fsetstat(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view handle = in.String();
  const FileAttrs attrs = ReadAttrs(&in);
  if (!in.ok()) return Truncated();
  const int fd = HandleFd(handle);
  if (fd < 0) {
    SendInvalidHandle(out, id);
    return absl::OkStatus();
  }
  const int err = ApplyAttrs(attrs, AttrTarget{AttrTarget::kFd, nullptr, fd});
  if (err == 0) ReportSetstat(attrs, HandlePath(handle));
  SendErrno(out, id, err);
  return absl::OkStatus();
}

absl::Status Session::Fstatvfs(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view handle = in.String();
  if (!in.ok()) return Truncated();
  const int fd = HandleFd(handle);
  if (fd < 0) {
    SendInvalidHandle(out, id);
    return absl::OkStatus();
  }
  struct statvfs st;
  if (fstatvfs(fd, &st) != 0) {
    SendErrno(out, id, errno);
  } else {
    SendStatvfs(out, id, st);
  }
  return absl::OkStatus();
}

absl::Status Session::Fsync(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view handle = in.String();
  if (!in.ok()) return Truncated();
  OpenFile* file = handles_.File(handle);
  if (file == nullptr) {
    SendInvalidHandle(out, id);
    return absl::OkStatus();
  }
  SendErrno(out, id, fsync(file->fd.get()) == 0 ? 0 : errno);
  return absl::OkStatus();
}

// copy-data (PROTOCOL 4.10): copies within the server, copy_file_range(2) where the file
// systems allow, else through a buffer.
absl::Status Session::CopyData(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view from_handle = in.String();
  uint64_t from_offset = in.U64();
  const uint64_t length = in.U64();
  const absl::string_view to_handle = in.String();
  uint64_t to_offset = in.U64();
  if (!in.ok()) return Truncated();
  OpenFile* from = handles_.File(from_handle);
  OpenFile* to = handles_.File(to_handle);
  if (from == nullptr || to == nullptr) {
    SendInvalidHandle(out, id);
    return absl::OkStatus();
  }
  const int from_fd = from->fd.get();
  const int to_fd = to->fd.get();
  if (from_handle == to_handle || from->path == to->path || SameFile(from_fd, to_fd)) {
    SendStatus(out, id, kFxFailure, "Source and destination are the same file");
    return absl::OkStatus();
  }
  // A length of 0 means up to the end of the source.
  const bool to_eof = length == 0;
  uint64_t left = length;
  bool use_copy_file_range = !to->append;  // it refuses O_APPEND destinations
  while (to_eof || left > 0) {
    const size_t chunk =
        to_eof ? kCopyChunk : static_cast<size_t>(std::min<uint64_t>(left, kCopyChunk));
    ssize_t n = -1;
    if (use_copy_file_range) {
      loff_t in_off = static_cast<loff_t>(from_offset);
      loff_t out_off = static_cast<loff_t>(to_offset);
      n = copy_file_range(from_fd, &in_off, to_fd, &out_off, chunk, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
                    errno == EBADF)) {
        use_copy_file_range = false;
        continue;
      }
    } else {
      if (copy_buffer_.empty()) copy_buffer_.resize(kCopyChunk);
      n = pread(from_fd, copy_buffer_.data(), chunk, static_cast<off_t>(from_offset));
      if (n > 0) {
        for (ssize_t written = 0; written < n;) {
          const ssize_t w = pwrite(to_fd, copy_buffer_.data() + written, n - written,
                                   static_cast<off_t>(to_offset + written));
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) {
            SendErrno(out, id, w < 0 ? errno : EIO);
            return absl::OkStatus();
          }
          written += w;
        }
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      SendErrno(out, id, errno);
      return absl::OkStatus();
    }
    if (n == 0) {
      // The source ended: fine when copying to its end, short of `length` otherwise.
      SendStatus(out, id, to_eof ? kFxOk : kFxEof);
      return absl::OkStatus();
    }
    from_offset += static_cast<uint64_t>(n);
    to_offset += static_cast<uint64_t>(n);
    from->bytes_read += static_cast<uint64_t>(n);
    to->bytes_written += static_cast<uint64_t>(n);
    if (!to_eof) left -= static_cast<uint64_t>(n);
  }
  SendStatus(out, id, kFxOk);
  return absl::OkStatus();
}

}  // namespace hatch::sftp
