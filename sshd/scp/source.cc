#include "sshd/scp/source.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/unique_fd.h"

namespace hatch::scp {
namespace {

// The mode bits a C or D line carries (OpenSSH FILEMODEMASK: no sticky bit).
constexpr mode_t kFileModeMask = S_ISUID | S_ISGID | S_IRWXU | S_IRWXG | S_IRWXO;

// Largest single sendfile(2) call; the kernel caps it anyway.
constexpr size_t kSendfileChunk = 1 << 20;

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A name with a newline would end a control line early. OpenSSH then sends it encoded as
// strnvis(3) with VIS_NL does (newline as "\^J", other unprintable bytes as "\M-x" / "\^X",
// backslash doubled); hatch does the same, for the C/D line and for error messages.
std::string ProtocolName(const std::string& name) {
  if (name.find('\n') == std::string::npos) return name;
  std::string out;
  for (unsigned char c : name) {
    bool visible = (c < 0x80 && isgraph(c)) || c == ' ' || c == '\t';
    if (visible) {
      if (c == '\\') out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if ((c & 0177) == ' ') {
      absl::StrAppend(&out, absl::StrFormat("\\%03o", c));
    } else {
      out.push_back('\\');
      if (c & 0200) {
        c &= 0177;
        out.push_back('M');
      }
      if (iscntrl(c)) {
        out.push_back('^');
        out.push_back(c == 0177 ? '?' : static_cast<char>(c + '@'));
      } else {
        out.push_back('-');
        out.push_back(static_cast<char>(c));
      }
    }
  }
  return out;
}

// Owns a DIR*.
struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

}  // namespace

std::vector<std::string> ExpandSourceOperand(const std::string& operand) {
  struct stat st;
  if (::lstat(operand.c_str(), &st) == 0 ||
      operand.find_first_of("*?[") == std::string::npos) {
    return {operand};
  }
  glob_t matches = {};
  std::vector<std::string> paths;
  if (::glob(operand.c_str(), 0, nullptr, &matches) == 0) {
    paths.assign(matches.gl_pathv, matches.gl_pathv + matches.gl_pathc);
  } else {
    paths.push_back(operand);
  }
  ::globfree(&matches);
  return paths;
}

ScpSource::ScpSource(ScpPeer* peer, const TransferFlags& flags)
    : peer_(peer), flags_(flags), buffer_(new char[kCopyBufferSize]) {}

bool ScpSource::Run(const std::vector<std::string>& operands) {
  for (const std::string& operand : operands) {
    for (const std::string& path : ExpandSourceOperand(operand)) {
      if (!SendPath(path)) return false;
    }
  }
  return true;
}

bool ScpSource::SendPath(std::string name) {
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  const std::string shown = ProtocolName(name);
  // O_NONBLOCK so a FIFO cannot hang the open; it is refused below as not a regular file.
  UniqueFd fd(::open(name.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    peer_->SendError(absl::StrCat(shown, ": ", strerror(errno)));
    return true;
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  if (S_ISDIR(st.st_mode) && flags_.recursive) return SendDirectory(name, fd.release(), st);
  if (!S_ISREG(st.st_mode)) {
    peer_->SendError(absl::StrCat(shown, ": not a regular file"));
    return true;
  }
  // A warning reply means the peer refused this file: go on with the next one.
  if (flags_.preserve) {
    ScpPeer::Reply reply = SendTimes(st);
    if (reply != ScpPeer::Reply::kOk) return reply == ScpPeer::Reply::kWarning;
  }
  std::string line = absl::StrFormat("C%04o %lld %s\n", st.st_mode & kFileModeMask,
                                     static_cast<long long>(st.st_size), BaseName(shown));
  peer_->Log(absl::StrCat("Sending file modes: ", line));
  ScpPeer::Reply reply = peer_->Exchange(line);
  if (reply != ScpPeer::Reply::kOk) return reply == ScpPeer::Reply::kWarning;
  std::string read_error;
  if (!SendFileData(fd.get(), st.st_size, &read_error)) return false;
  ReportFile(flags_, FileOp::kRead, name, read_error.empty() ? static_cast<uint64_t>(st.st_size) : 0);
  if (read_error.empty()) {
    if (!peer_->SendOk()) return false;
  } else {
    peer_->SendError(absl::StrCat(shown, ": ", read_error));
  }
  return peer_->ReadReply() != ScpPeer::Reply::kFatal;
}

ScpPeer::Reply ScpSource::SendTimes(const struct stat& st) {
  // OpenSSH sends whole seconds and clamps times before 1970 to 0.
  std::string line = absl::StrFormat(
      "T%llu 0 %llu 0\n",
      static_cast<unsigned long long>(st.st_mtim.tv_sec < 0 ? 0 : st.st_mtim.tv_sec),
      static_cast<unsigned long long>(st.st_atim.tv_sec < 0 ? 0 : st.st_atim.tv_sec));
  peer_->Log(absl::StrCat("Sending file timestamps: ", line));
  return peer_->Exchange(line);
}

bool ScpSource::SendDirectory(const std::string& name, int fd, const struct stat& st) {
  UniqueDir dir(::fdopendir(fd));
  if (dir == nullptr) {
    int error = errno;
    ::close(fd);
    peer_->SendError(absl::StrCat(ProtocolName(name), ": ", strerror(error)));
    return true;
  }
  if (flags_.preserve) {
    ScpPeer::Reply reply = SendTimes(st);
    if (reply != ScpPeer::Reply::kOk) return reply == ScpPeer::Reply::kWarning;
  }
  std::string line = absl::StrFormat("D%04o 0 %s\n", st.st_mode & kFileModeMask,
                                     BaseName(ProtocolName(name)));
  peer_->Log(absl::StrCat("Entering directory: ", line));
  ScpPeer::Reply reply = peer_->Exchange(line);
  if (reply != ScpPeer::Reply::kOk) return reply == ScpPeer::Reply::kWarning;
  while (struct dirent* entry = ::readdir(dir.get())) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    if (!SendPath(absl::StrCat(name, "/", entry->d_name))) return false;
  }
  dir.reset();
  return peer_->Exchange("E\n") != ScpPeer::Reply::kFatal;
}

bool ScpSource::SendFileData(int fd, off_t size, std::string* read_error) {
  off_t sent = 0;
  // sendfile(2) moves page-cache pages straight into the pipe or socket; on any short count
  // or error the read() path below takes over and tells a failing file from a gone peer.
  bool use_sendfile = true;
  char* buf = buffer_.get();
  while (sent < size) {
    if (use_sendfile) {
      size_t chunk = static_cast<size_t>(std::min<off_t>(size - sent, kSendfileChunk));
      ssize_t n = ::sendfile(peer_->out_fd(), fd, nullptr, chunk);
      if (n > 0) {
        sent += n;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      use_sendfile = false;
    }
    size_t amount = static_cast<size_t>(std::min<off_t>(size - sent, kCopyBufferSize));
    size_t got = 0;
    while (read_error->empty() && got < amount) {
      ssize_t n = ::read(fd, buf + got, amount - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *read_error = strerror(errno);
      } else if (n == 0) {
        *read_error = "file shrank while being sent";
      } else {
        got += static_cast<size_t>(n);
      }
    }
    // After a failure, zeros keep the peer in step (it expects `size` bytes).
    memset(buf + got, 0, amount - got);
    if (!peer_->Write(absl::string_view(buf, amount))) return false;
    sent += static_cast<off_t>(amount);
  }
  return true;
}

}  // namespace hatch::scp
