// Test helpers: the SFTP server running in a thread on one end of a socketpair
// (ServerThread), and a raw packet-level client for the other end (PacketClient), so tests
// can send exactly the bytes they mean, split or batched as they like.
#ifndef HATCH_TESTS_SFTP_TEST_CLIENT_H_
#define HATCH_TESTS_SFTP_TEST_CLIENT_H_

#include <cstdint>
#include <future>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "sshd/sftp/sftp_server.h"

namespace hatch::sftp::testing {

// Builds one packet: uint32 length, then the fields.
class PacketBuilder {
 public:
  explicit PacketBuilder(uint8_t type) { U8(type); }
  PacketBuilder& U8(uint8_t v);
  PacketBuilder& U32(uint32_t v);
  PacketBuilder& U64(uint64_t v);
  PacketBuilder& String(const std::string& s);
  // The framed packet (length prefix added).
  std::string Bytes() const;

 private:
  std::string body_;
};

// One parsed reply.
struct Reply {
  uint8_t type = 0;
  std::string body;  // after the type byte
  size_t pos = 0;
  uint32_t U32();
  uint64_t U64();
  std::string String();
};

// A reply's status code and message, for STATUS replies.
struct StatusReply {
  uint32_t id = 0;
  uint32_t code = 0;
  std::string message;
};

// Runs RunSftpServer(fd, fd, options) in a thread on one end of a socketpair; the other end
// is client_fd(). ExitCode() closes the client end (EOF for the server) and waits.
class ServerThread {
 public:
  explicit ServerThread(const SftpServerOptions& options);
  ~ServerThread();
  int client_fd() const { return client_.get(); }
  // Closes the client end if still open, then waits for the server's return value.
  int ExitCode();
  // Waits for the server's return value without closing the client end.
  int WaitExit();

 private:
  UniqueFd client_;
  UniqueFd server_;
  std::future<int> exit_code_;
  bool joined_ = false;
  int code_ = -1;
};

// Blocking packet I/O on a connected fd (owned by someone else).
class PacketClient {
 public:
  explicit PacketClient(int fd) : fd_(fd) {}
  void SendRaw(const std::string& bytes);
  void Send(const PacketBuilder& packet) { SendRaw(packet.Bytes()); }
  // Reads one packet; type 0 on EOF.
  Reply Receive();
  // Sends INIT (version 3) and returns the VERSION reply's (name, version) pairs.
  std::vector<std::pair<std::string, std::string>> Init();
  StatusReply ReceiveStatus();
  uint32_t NextId() { return next_id_++; }

 private:
  bool ReadExactly(char* buf, size_t n);
  int fd_;
  uint32_t next_id_ = 1;
};

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `content` to a new file (mode 0644); reads a whole file ("" if missing).
void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);

// Number of fds this process has open (entries of /proc/self/fd).
int CountOpenFds();

}  // namespace hatch::sftp::testing

#endif  // HATCH_TESTS_SFTP_TEST_CLIENT_H_
