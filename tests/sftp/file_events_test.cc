// The audit trail's file events (sshd/file_observer.h): one per file, with the bytes summed
// over every READ/WRITE of a handle, reported at CLOSE or when the session ends.
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sshd/file_observer.h"
#include "sshd/sftp/protocol.h"
#include "tests/sftp/test_client.h"

namespace hatch::sftp {
namespace {

using testing::PacketBuilder;
using testing::PacketClient;
using testing::Reply;
using testing::ServerThread;
using testing::TempDir;

class Events : public FileObserver {
 public:
  void OnFileEvent(const FileEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
  }
  std::vector<FileEvent> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::vector<FileEvent> events_;
};

std::string HandleOf(Reply reply) {
  EXPECT_EQ(reply.type, kFxpHandle);
  reply.U32();
  return reply.String();
}

class SftpFileEvents : public ::testing::Test {
 protected:
  SftpFileEvents() {
    options_.home = dir_.path();
    options_.observer = &events_;
  }
  std::string Open(PacketClient& c, const std::string& path, uint32_t pflags) {
    c.Send(PacketBuilder(kFxpOpen).U32(c.NextId()).String(path).U32(pflags).U32(0));
    return HandleOf(c.Receive());
  }
  uint32_t Ok(PacketClient& c, const PacketBuilder& p) {
    c.Send(p);
    return c.ReceiveStatus().code;
  }
  TempDir dir_;
  Events events_;
  SftpServerOptions options_;
};

TEST_F(SftpFileEvents, UploadIsCreatedThenOneWrittenEventWithTheBytesSummed) {
  ServerThread server(options_);
  PacketClient c(server.client_fd());
  c.Init();
  const std::string h = Open(c, "up", kFxfWrite | kFxfCreat | kFxfTrunc);
  EXPECT_EQ(Ok(c, PacketBuilder(kFxpWrite).U32(c.NextId()).String(h).U64(0).String("hello ")), kFxOk);
  EXPECT_EQ(Ok(c, PacketBuilder(kFxpWrite).U32(c.NextId()).String(h).U64(6).String("world")), kFxOk);
  EXPECT_EQ(Ok(c, PacketBuilder(kFxpClose).U32(c.NextId()).String(h)), kFxOk);
  EXPECT_EQ(server.ExitCode(), 0);
  std::vector<FileEvent> e = events_.Take();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].op, FileOp::kCreated);
  EXPECT_EQ(e[0].path, dir_.Join("up"));
  EXPECT_EQ(e[0].protocol, "sftp");
  EXPECT_EQ(e[1].op, FileOp::kWritten);
  EXPECT_EQ(e[1].bytes, 11u);
}

TEST_F(SftpFileEvents, DownloadIsOneReadEventAndAnOpenFileIsReportedAtSessionEnd) {
  testing::WriteFile(dir_.Join("f"), std::string(100000, 'x'));
  ServerThread server(options_);
  PacketClient c(server.client_fd());
  c.Init();
  const std::string h = Open(c, "f", kFxfRead);
  for (uint64_t off = 0; off < 100000; off += 32768) {
    c.Send(PacketBuilder(kFxpRead).U32(c.NextId()).String(h).U64(off).U32(32768));
    EXPECT_EQ(c.Receive().type, kFxpData);
  }
  const std::string left_open = Open(c, "f", kFxfRead);
  EXPECT_EQ(Ok(c, PacketBuilder(kFxpClose).U32(c.NextId()).String(h)), kFxOk);
  EXPECT_EQ(server.ExitCode(), 0);
  std::vector<FileEvent> e = events_.Take();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].op, FileOp::kRead);
  EXPECT_EQ(e[0].bytes, 100000u);
  EXPECT_EQ(e[1].op, FileOp::kRead);  // the handle the session left open
  EXPECT_EQ(e[1].bytes, 0u);
}

TEST_F(SftpFileEvents, NamespaceChangesAreReportedOnlyWhenTheySucceed) {
  testing::WriteFile(dir_.Join("a"), "1");
  ServerThread server(options_);
  PacketClient c(server.client_fd());
  c.Init();
  EXPECT_EQ(Ok(c, PacketBuilder(kFxpMkdir).U32(c.NextId()).String("d").U32(0)), kFxOk);
  EXPECT_EQ(Ok(c, PacketBuilder(kFxpRename).U32(c.NextId()).String("a").String("b")), kFxOk);
  EXPECT_NE(Ok(c, PacketBuilder(kFxpRename).U32(c.NextId()).String("a").String("c")), kFxOk);
  EXPECT_EQ(Ok(c, PacketBuilder(kFxpSetstat).U32(c.NextId()).String("b").U32(kAttrPermissions).U32(0600)), kFxOk);
  EXPECT_EQ(Ok(c, PacketBuilder(kFxpSymlink).U32(c.NextId()).String("b").String("s")), kFxOk);
  EXPECT_EQ(Ok(c, PacketBuilder(kFxpRemove).U32(c.NextId()).String("s")), kFxOk);
  EXPECT_EQ(Ok(c, PacketBuilder(kFxpRmdir).U32(c.NextId()).String("d")), kFxOk);
  EXPECT_NE(Ok(c, PacketBuilder(kFxpRmdir).U32(c.NextId()).String("d")), kFxOk);
  EXPECT_EQ(server.ExitCode(), 0);
  std::vector<FileEvent> e = events_.Take();
  ASSERT_EQ(e.size(), 6u);
  EXPECT_EQ(e[0].op, FileOp::kMkdir);
  EXPECT_EQ(e[1].op, FileOp::kRenamed);
  EXPECT_EQ(e[1].path, dir_.Join("a"));
  EXPECT_EQ(e[1].target, dir_.Join("b"));
  EXPECT_EQ(e[2].op, FileOp::kSetstat);
  EXPECT_EQ(e[2].mode, 0600u);
  EXPECT_EQ(e[3].op, FileOp::kSymlink);
  EXPECT_EQ(e[3].path, dir_.Join("s"));
  EXPECT_EQ(e[3].target, "b");
  EXPECT_EQ(e[4].op, FileOp::kRemoved);
  EXPECT_EQ(e[5].op, FileOp::kRmdir);
}

}  // namespace
}  // namespace hatch::sftp
