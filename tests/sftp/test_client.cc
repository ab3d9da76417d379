#include "tests/sftp/test_client.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "sshd/sftp/protocol.h"

namespace hatch::sftp::testing {

PacketBuilder& PacketBuilder::U8(uint8_t v) {
  body_.push_back(static_cast<char>(v));
  return *this;
}

PacketBuilder& PacketBuilder::U32(uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) body_.push_back(static_cast<char>(v >> shift));
  return *this;
}

PacketBuilder& PacketBuilder::U64(uint64_t v) {
  U32(static_cast<uint32_t>(v >> 32));
  return U32(static_cast<uint32_t>(v));
}

PacketBuilder& PacketBuilder::String(const std::string& s) {
  U32(static_cast<uint32_t>(s.size()));
  body_ += s;
  return *this;
}

std::string PacketBuilder::Bytes() const {
  PacketBuilder framed(0);
  framed.body_.clear();
  framed.U32(static_cast<uint32_t>(body_.size()));
  return framed.body_ + body_;
}

uint32_t Reply::U32() {
  if (pos + 4 > body.size()) throw std::runtime_error("reply too short");
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(body[pos++]);
  return v;
}

uint64_t Reply::U64() {
  const uint64_t high = U32();
  return (high << 32) | U32();
}

std::string Reply::String() {
  const uint32_t n = U32();
  if (pos + n > body.size()) throw std::runtime_error("reply string too short");
  std::string s = body.substr(pos, n);
  pos += n;
  return s;
}

ServerThread::ServerThread(const SftpServerOptions& options) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    throw std::runtime_error("socketpair failed");
  }
  client_.reset(fds[0]);
  server_.reset(fds[1]);
  const int server_fd = server_.get();
  exit_code_ = std::async(std::launch::async, [server_fd, options] {
    return RunSftpServer(server_fd, server_fd, options);
  });
}

ServerThread::~ServerThread() { ExitCode(); }

int ServerThread::WaitExit() {
  if (!joined_) {
    code_ = exit_code_.get();
    joined_ = true;
    server_.reset();
  }
  return code_;
}

int ServerThread::ExitCode() {
  client_.reset();
  return WaitExit();
}

void PacketClient::SendRaw(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("send failed");
    done += static_cast<size_t>(n);
  }
}

bool PacketClient::ReadExactly(char* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = read(fd_, buf + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

Reply PacketClient::Receive() {
  Reply reply;
  char header[4];
  if (!ReadExactly(header, 4)) return reply;
  uint32_t length = 0;
  for (char c : header) length = (length << 8) | static_cast<uint8_t>(c);
  if (length == 0) throw std::runtime_error("empty reply packet");
  std::string packet(length, '\0');
  if (!ReadExactly(packet.data(), length)) throw std::runtime_error("truncated reply");
  reply.type = static_cast<uint8_t>(packet[0]);
  reply.body = packet.substr(1);
  return reply;
}

std::vector<std::pair<std::string, std::string>> PacketClient::Init() {
  Send(PacketBuilder(kFxpInit).U32(3));
  Reply reply = Receive();
  if (reply.type != kFxpVersion) throw std::runtime_error("no VERSION reply");
  if (reply.U32() != 3) throw std::runtime_error("not version 3");
  std::vector<std::pair<std::string, std::string>> extensions;
  while (reply.pos < reply.body.size()) {
    std::string name = reply.String();
    extensions.emplace_back(name, reply.String());
  }
  return extensions;
}

StatusReply PacketClient::ReceiveStatus() {
  Reply reply = Receive();
  if (reply.type != kFxpStatus) {
    throw std::runtime_error("expected STATUS, got type " + std::to_string(reply.type));
  }
  StatusReply status;
  status.id = reply.U32();
  status.code = reply.U32();
  status.message = reply.String();
  return status;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/hatch-sftp-test.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  nftw(
      path_.c_str(),
      [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the fd opendir itself holds
}

}  // namespace hatch::sftp::testing
