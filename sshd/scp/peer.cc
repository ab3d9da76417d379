#include "sshd/scp/peer.h"

#include <errno.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace hatch::scp {
namespace {

bool WriteAllToFd(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

ScpPeer::ScpPeer(int in_fd, int out_fd, int err_fd, bool verbose)
    : in_fd_(in_fd), out_fd_(out_fd), err_fd_(err_fd), verbose_(verbose) {}

ssize_t ScpPeer::ReadSome(char* buf, size_t n) {
  for (;;) {
    ssize_t got = ::read(in_fd_, buf, n);
    if (got < 0 && errno == EINTR) continue;
    return got;
  }
}

bool ScpPeer::ReadFull(char* buf, size_t n) {
  while (n > 0) {
    ssize_t got = ReadSome(buf, n);
    if (got <= 0) return false;
    buf += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

ScpPeer::LineStatus ScpPeer::ReadLine(std::string* line) {
  line->clear();
  // One byte at a time: the file data that follows a control line must stay unread.
  char c;
  do {
    if (line->size() >= kMaxLineLength) return LineStatus::kTooLong;
    if (!ReadFull(&c, 1)) {
      return line->empty() ? LineStatus::kEndOfStream : LineStatus::kLostConnection;
    }
    line->push_back(c);
  } while (c != '\n');
  return LineStatus::kLine;
}

bool ScpPeer::Write(absl::string_view data) { return WriteAllToFd(out_fd_, data); }

void ScpPeer::SendError(absl::string_view message) {
  ++errors_;
  Write(absl::StrCat("\x01scp: ", message, "\n"));
}

ScpPeer::Reply ScpPeer::ReadReply() {
  char kind;
  if (!ReadFull(&kind, 1)) return Reply::kFatal;  // lost connection
  if (kind == 0) return Reply::kOk;
  // 1 and 2 are followed by a message line; any other byte starts one (OpenSSH response()).
  std::string message;
  ++errors_;
  if (ReadLine(&message) != LineStatus::kLine) return Reply::kFatal;
  Log(absl::StrCat("Peer reported: ", message));
  return kind == 1 ? Reply::kWarning : Reply::kFatal;
}

ScpPeer::Reply ScpPeer::Exchange(absl::string_view line) {
  if (!Write(line)) return Reply::kFatal;
  return ReadReply();
}

void ScpPeer::Log(absl::string_view text) {
  if (verbose_) Diagnose(text);
}

void ScpPeer::Diagnose(absl::string_view text) { WriteAllToFd(err_fd_, text); }

}  // namespace hatch::scp
