#include "sshd/scp/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/file_write.h"
#include "base/unique_fd.h"

namespace hatch::scp {
namespace {

std::string PathError(absl::string_view path, int error) {
  return absl::StrCat(path, ": ", strerror(error));
}

// At most kFileWriteChunk per call: larger buffered writes cost erratically more on a VM
// (base/file_write.h says why).
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, std::min(size, kFileWriteChunk));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// The kernel's order is {atime, mtime}.
int SetFileTimes(int fd, const TimesLine& times) {
  struct timespec ts[2] = {times.atime, times.mtime};
  return ::futimens(fd, ts);
}

int SetPathTimes(const std::string& path, const TimesLine& times) {
  struct timespec ts[2] = {times.atime, times.mtime};
  return ::utimensat(AT_FDCWD, path.c_str(), ts, 0);
}

}  // namespace

ScpSink::ScpSink(ScpPeer* peer, const TransferFlags& flags)
    : peer_(peer), flags_(flags), buffer_(new char[kCopyBufferSize]) {}

bool ScpSink::Run(const std::vector<std::string>& targets) {
  // Without -p, incoming modes lose the umask's bits and set-id bits (OpenSSH: mask |= 07000).
  umask_ = ::umask(0);
  ::umask(umask_);
  if (targets.size() != 1) {
    peer_->SendError("ambiguous target");
    return false;
  }
  return ReceiveInto(targets[0]);
}

bool ScpSink::ProtocolError(const std::string& why) {
  peer_->SendError(absl::StrCat("protocol error: ", why));
  return false;
}

bool ScpSink::ReceiveInto(const std::string& target) {
  struct stat st;
  if (flags_.target_must_be_dir) {
    int error = 0;
    if (::stat(target.c_str(), &st) != 0) {
      error = errno;
    } else if (!S_ISDIR(st.st_mode)) {
      error = ENOTDIR;
    }
    if (error != 0) {
      peer_->SendError(PathError(target, error));
      return false;
    }
  }
  if (!peer_->SendOk()) return false;
  bool target_is_dir = ::stat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode);

  // A T line applies to the C or D line right after it.
  TimesLine times;
  bool have_times = false;
  std::string line;
  for (bool first = true;; first = false) {
    switch (peer_->ReadLine(&line)) {
      case ScpPeer::LineStatus::kLine:
        break;
      case ScpPeer::LineStatus::kEndOfStream:
        return true;
      case ScpPeer::LineStatus::kLostConnection:
        return ProtocolError("lost connection");
      case ScpPeer::LineStatus::kTooLong:
        return ProtocolError("control record too long");
    }
    if (line[0] == '\n') return ProtocolError("unexpected <newline>");
    peer_->Log(absl::StrCat("Sink: ", line));
    if (line[0] == '\x01' || line[0] == '\x02') {
      // The peer's own error report: it counts, and a fatal one ends the transfer.
      peer_->CountError();
      if (line[0] == '\x02') return false;
      continue;
    }
    if (line[0] == 'E') {
      // End of this directory level.
      return peer_->SendOk();
    }
    line.pop_back();  // the '\n'

    if (line[0] == 'T') {
      absl::StatusOr<TimesLine> parsed = ParseTimesLine(line);
      if (!parsed.ok()) return ProtocolError(std::string(parsed.status().message()));
      times = *parsed;
      have_times = parsed->in_range;
      if (!peer_->SendOk()) return false;
      continue;
    }
    if (line[0] != 'C' && line[0] != 'D') {
      // OpenSSH: a first line that is no record is a message from the remote shell (e.g.
      // "No match."), passed on as the error.
      if (first) {
        peer_->SendError(line);
        return false;
      }
      return ProtocolError("expected control record");
    }
    absl::StatusOr<EntryLine> entry = ParseEntryLine(line);
    if (!entry.ok()) return ProtocolError(std::string(entry.status().message()));
    if (!IsSafeEntryName(entry->name)) {
      peer_->SendError(absl::StrCat("error: unexpected filename: ", entry->name));
      return false;
    }
    if (!flags_.preserve) entry->mode &= ~(umask_ | 07000);

    std::string path = target;
    if (target_is_dir) {
      path = absl::StrCat(target, target == "/" ? "" : "/", entry->name);
    }
    const TimesLine* entry_times = have_times ? &times : nullptr;
    have_times = false;
    bool ok = entry->is_directory ? ReceiveDirectory(*entry, path, entry_times)
                                  : ReceiveFile(*entry, path, entry_times);
    if (!ok) return false;
  }
}

bool ScpSink::ReceiveDirectory(const EntryLine& entry, const std::string& path,
                               const TimesLine* times) {
  if (!flags_.recursive) return ProtocolError("received directory without -r");
  struct stat st;
  bool set_mode = flags_.preserve;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      peer_->SendError(PathError(path, ENOTDIR));
      return true;
    }
    if (flags_.preserve) ::chmod(path.c_str(), entry.mode);
  } else {
    // Owner rwx while filling it (the source may be read-only); the real mode comes after.
    set_mode = true;
    if (::mkdir(path.c_str(), entry.mode | S_IRWXU) != 0) {
      peer_->SendError(PathError(path, errno));
      return true;
    }
    ReportFile(flags_, FileOp::kMkdir, path);
  }
  if (!ReceiveInto(path)) return false;
  if (times != nullptr) SetPathTimes(path, *times);
  if (set_mode) ::chmod(path.c_str(), entry.mode);
  return true;
}

bool ScpSink::ReceiveFile(const EntryLine& entry, const std::string& path,
                          const TimesLine* times) {
  struct stat st;
  bool exists = ::stat(path.c_str(), &st) == 0;
  // Owner write while we fill it, the requested mode after (OpenSSH: mode |= S_IWUSR).
  mode_t open_mode = entry.mode | S_IWUSR;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, open_mode));
  if (!fd) {
    // The peer skips this file's data when it reads the error.
    peer_->SendError(PathError(path, errno));
    return true;
  }
  if (!exists) ReportFile(flags_, FileOp::kCreated, path);
  if (!peer_->SendOk()) return false;

  // After the first failure, later errors are not reported: the peer hears one per file.
  std::string noted_error;
  int write_errno = 0;
  uint64_t received = 0;
  if (!CopyDataToFile(fd.get(), entry.size, &write_errno, &received)) {
    // The client went away mid-file: what reached the file is still reported (the trail has
    // one file.written per file the sink opened).
    ::close(fd.release());
    ReportFile(flags_, FileOp::kWritten, path, write_errno == 0 ? received : 0, std::nullopt);
    peer_->SendError("dropped connection");
    return false;
  }
  if (write_errno != 0) noted_error = PathError(path, write_errno);
  if (write_errno == 0 && (!exists || S_ISREG(st.st_mode)) &&
      ::ftruncate(fd.get(), entry.size) != 0) {
    noted_error = absl::StrCat(path, ": truncate: ", strerror(errno));
  }
  // With -p the sent mode exactly; without, a new file gets it (umask applied above) and an
  // existing file keeps its own mode (OpenSSH behaviour).
  bool set_mode = flags_.preserve || (!exists && open_mode != entry.mode);
  if (set_mode && ::fchmod(fd.get(), entry.mode) != 0 && noted_error.empty()) {
    noted_error = absl::StrCat(path, ": set mode: ", strerror(errno));
  }
  if (times != nullptr && write_errno == 0 &&
      SetFileTimes(fd.get(), *times) != 0 && noted_error.empty()) {
    noted_error = absl::StrCat(path, ": set times: ", strerror(errno));
  }
  if (::close(fd.release()) != 0 && noted_error.empty()) {
    noted_error = absl::StrCat(path, ": close: ", strerror(errno));
  }
  // What reached the file: all of it, or nothing known after a write error.
  ReportFile(flags_, FileOp::kWritten, path,
             write_errno == 0 ? static_cast<uint64_t>(entry.size) : 0,
             set_mode ? std::optional<uint32_t>(entry.mode & 07777) : std::nullopt);
  // The peer ends the data with its own status byte.
  if (peer_->ReadReply() == ScpPeer::Reply::kFatal) return false;
  if (noted_error.empty()) return peer_->SendOk();
  peer_->SendError(noted_error);
  return true;
}

bool ScpSink::CopyDataToFile(int fd, off_t size, int* write_errno, uint64_t* received) {
  char* buf = buffer_.get();
  size_t filled = 0;
  off_t remaining = size;
  bool complete = true;
  while (remaining > 0) {
    size_t want = std::min(static_cast<size_t>(std::min<off_t>(remaining, kCopyBufferSize)),
                           kCopyBufferSize - filled);
    ssize_t n = peer_->ReadSome(buf + filled, want);
    if (n <= 0) {
      complete = false;  // what arrived is still written below
      break;
    }
    filled += static_cast<size_t>(n);
    remaining -= n;
    *received += static_cast<uint64_t>(n);
    if (filled == kCopyBufferSize || remaining == 0) {
      if (*write_errno == 0 && !WriteAll(fd, buf, filled)) *write_errno = errno;
      filled = 0;
    }
  }
  if (filled > 0 && *write_errno == 0 && !WriteAll(fd, buf, filled)) *write_errno = errno;
  return complete;
}

}  // namespace hatch::scp
