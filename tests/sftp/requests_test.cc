// Requests at the packet level, where exact status codes and reply layouts matter: handle
// limits, read-only sessions, the extension replies.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sshd/sftp/protocol.h"
#include "tests/sftp/test_client.h"

namespace hatch::sftp {
namespace {

using testing::CountOpenFds;
using testing::PacketBuilder;
using testing::PacketClient;
using testing::Reply;
using testing::ServerThread;
using testing::StatusReply;
using testing::TempDir;

SftpServerOptions OptionsFor(const TempDir& dir) {
  SftpServerOptions options;
  options.home = dir.path();
  return options;
}

Reply Open(PacketClient& client, const std::string& path, uint32_t pflags) {
  client.Send(PacketBuilder(kFxpOpen).U32(client.NextId()).String(path).U32(pflags).U32(0));
  return client.Receive();
}

std::string HandleOf(Reply reply) {
  EXPECT_EQ(reply.type, kFxpHandle);
  reply.U32();
  return reply.String();
}

StatusReply Close(PacketClient& client, const std::string& handle) {
  client.Send(PacketBuilder(kFxpClose).U32(client.NextId()).String(handle));
  return client.ReceiveStatus();
}

TEST(SftpHandles, OpenBeyondMaxHandlesFailsWithoutCreatingTheFile) {
  TempDir dir;
  SftpServerOptions options = OptionsFor(dir);
  options.max_handles = 3;
  ServerThread server(options);
  PacketClient client(server.client_fd());
  client.Init();
  testing::WriteFile(dir.Join("f"), "x");
  std::vector<std::string> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(HandleOf(Open(client, "f", kFxfRead)));

  client.Send(PacketBuilder(kFxpOpen).U32(50).String("new").U32(kFxfWrite | kFxfCreat).U32(0));
  StatusReply refused = client.ReceiveStatus();
  EXPECT_EQ(refused.code, kFxFailure);
  EXPECT_NE(refused.message.find("Too many open handles"), std::string::npos);
  EXPECT_NE(access(dir.Join("new").c_str(), F_OK), 0) << "a refused open created its file";
  client.Send(PacketBuilder(kFxpOpendir).U32(51).String("."));
  EXPECT_EQ(client.ReceiveStatus().code, kFxFailure);

  EXPECT_EQ(Close(client, handles[1]).code, kFxOk);
  handles[1] = HandleOf(Open(client, "f", kFxfRead));
  EXPECT_EQ(server.ExitCode(), 0);
}

TEST(SftpHandles, ClosedHandleIsNoLongerValidEvenWhenItsSlotIsReused) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  testing::WriteFile(dir.Join("f"), "data");
  const std::string old_handle = HandleOf(Open(client, "f", kFxfRead));
  EXPECT_EQ(Close(client, old_handle).code, kFxOk);
  const std::string new_handle = HandleOf(Open(client, "f", kFxfRead));
  EXPECT_NE(old_handle, new_handle);
  client.Send(PacketBuilder(kFxpRead).U32(9).String(old_handle).U64(0).U32(10));
  StatusReply status = client.ReceiveStatus();
  EXPECT_EQ(status.code, kFxFailure);
  EXPECT_EQ(status.message, "Invalid handle");
  EXPECT_EQ(Close(client, old_handle).code, kFxFailure);
  EXPECT_EQ(server.ExitCode(), 0);
}

TEST(SftpHandles, SessionEndClosesEveryHandle) {
  TempDir dir;
  testing::WriteFile(dir.Join("f"), "data");
  const int fds_before = CountOpenFds();
  {
    ServerThread server(OptionsFor(dir));
    PacketClient client(server.client_fd());
    client.Init();
    for (int i = 0; i < 20; ++i) HandleOf(Open(client, "f", kFxfRead));
    client.Send(PacketBuilder(kFxpOpendir).U32(99).String("."));
    EXPECT_EQ(client.Receive().type, kFxpHandle);
    EXPECT_GE(CountOpenFds(), fds_before + 21);
    EXPECT_EQ(server.ExitCode(), 0);
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST(SftpVersion, AdvertisesTheOpenSshExtensions) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  const auto extensions = client.Init();
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"posix-rename@openssh.com", "1"}, {"statvfs@openssh.com", "2"},
      {"fstatvfs@openssh.com", "2"},     {"hardlink@openssh.com", "1"},
      {"fsync@openssh.com", "1"},        {"lsetstat@openssh.com", "1"},
      {"limits@openssh.com", "1"},       {"expand-path@openssh.com", "1"},
      {"copy-data", "1"},                {"home-directory", "1"},
      {"users-groups-by-id@openssh.com", "1"}};
  EXPECT_EQ(extensions, expected);
}

TEST(SftpReadOnly, RefusesWritesButServesReads) {
  TempDir dir;
  SftpServerOptions options = OptionsFor(dir);
  options.read_only = true;
  ServerThread server(options);
  PacketClient client(server.client_fd());
  const auto extensions = client.Init();
  for (const auto& [name, version] : extensions) {
    EXPECT_NE(name, "posix-rename@openssh.com");
    EXPECT_NE(name, "copy-data");
  }
  testing::WriteFile(dir.Join("f"), "data");

  client.Send(PacketBuilder(kFxpOpen).U32(1).String("f").U32(kFxfWrite).U32(0));
  StatusReply status = client.ReceiveStatus();
  EXPECT_EQ(status.code, kFxPermissionDenied);
  EXPECT_EQ(status.message, "read-only session");
  client.Send(PacketBuilder(kFxpOpen).U32(2).String("g").U32(kFxfRead | kFxfCreat).U32(0));
  EXPECT_EQ(client.ReceiveStatus().code, kFxPermissionDenied);
  client.Send(PacketBuilder(kFxpRemove).U32(3).String("f"));
  EXPECT_EQ(client.ReceiveStatus().code, kFxPermissionDenied);
  client.Send(PacketBuilder(kFxpMkdir).U32(4).String("d").U32(0));
  EXPECT_EQ(client.ReceiveStatus().code, kFxPermissionDenied);
  client.Send(PacketBuilder(kFxpSetstat).U32(5).String("f").U32(kAttrPermissions).U32(0600));
  EXPECT_EQ(client.ReceiveStatus().code, kFxPermissionDenied);
  client.Send(PacketBuilder(kFxpExtended).U32(6).String("posix-rename@openssh.com")
                  .String("f").String("g"));
  EXPECT_EQ(client.ReceiveStatus().code, kFxPermissionDenied);

  const std::string handle = HandleOf(Open(client, "f", kFxfRead));
  client.Send(PacketBuilder(kFxpRead).U32(7).String(handle).U64(0).U32(100));
  Reply data = client.Receive();
  ASSERT_EQ(data.type, kFxpData);
  data.U32();
  EXPECT_EQ(data.String(), "data");
  client.Send(PacketBuilder(kFxpWrite).U32(8).String(handle).U64(0).String("x"));
  EXPECT_EQ(client.ReceiveStatus().code, kFxPermissionDenied);
  EXPECT_EQ(testing::ReadFile(dir.Join("f")), "data");
  EXPECT_EQ(server.ExitCode(), 0);
}

TEST(SftpExtensions, LimitsReportTheConfiguredBounds) {
  TempDir dir;
  SftpServerOptions options = OptionsFor(dir);
  options.max_handles = 17;
  ServerThread server(options);
  PacketClient client(server.client_fd());
  client.Init();
  client.Send(PacketBuilder(kFxpExtended).U32(3).String("limits@openssh.com"));
  Reply reply = client.Receive();
  ASSERT_EQ(reply.type, kFxpExtendedReply);
  EXPECT_EQ(reply.U32(), 3u);
  EXPECT_EQ(reply.U64(), 256u * 1024);         // max-packet-length
  EXPECT_EQ(reply.U64(), 256u * 1024 - 1024);  // max-read-length
  EXPECT_EQ(reply.U64(), 256u * 1024 - 1024);  // max-write-length
  EXPECT_EQ(reply.U64(), 17u);                 // max-open-handles
}

TEST(SftpExtensions, ReadsLongerThanTheLimitGetShortData) {
  TempDir dir;
  testing::WriteFile(dir.Join("f"), std::string(600 * 1024, 'z'));
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  const std::string handle = HandleOf(Open(client, "f", kFxfRead));
  client.Send(PacketBuilder(kFxpRead).U32(4).String(handle).U64(0).U32(512 * 1024));
  Reply reply = client.Receive();
  ASSERT_EQ(reply.type, kFxpData);
  reply.U32();
  EXPECT_EQ(reply.String().size(), 256u * 1024 - 1024);
  client.Send(PacketBuilder(kFxpRead).U32(5).String(handle).U64(600 * 1024).U32(10));
  EXPECT_EQ(client.ReceiveStatus().code, kFxEof);
}

TEST(SftpExtensions, UnknownExtensionGetsOpUnsupported) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  client.Send(PacketBuilder(kFxpExtended).U32(8).String("nonsense@example.com"));
  StatusReply status = client.ReceiveStatus();
  EXPECT_EQ(status.id, 8u);
  EXPECT_EQ(status.code, kFxOpUnsupported);
}

TEST(SftpExtensions, StatvfsRepliesElevenFields) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  client.Send(PacketBuilder(kFxpExtended).U32(8).String("statvfs@openssh.com").String("."));
  Reply reply = client.Receive();
  ASSERT_EQ(reply.type, kFxpExtendedReply);
  EXPECT_EQ(reply.U32(), 8u);
  EXPECT_EQ(reply.body.size(), 4u + 11 * 8);
  EXPECT_GT(reply.U64(), 0u);  // f_bsize
}

TEST(SftpExtensions, HomeDirectoryAndExpandPathUseTheSessionHome) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.Join("sub").c_str(), 0755), 0);
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  client.Send(PacketBuilder(kFxpExtended).U32(1).String("home-directory").String(""));
  Reply home = client.Receive();
  ASSERT_EQ(home.type, kFxpName);
  home.U32();
  EXPECT_EQ(home.U32(), 1u);
  EXPECT_EQ(home.String(), dir.path());

  client.Send(PacketBuilder(kFxpExtended).U32(2).String("expand-path@openssh.com")
                  .String("~/sub/../sub/new"));
  Reply expanded = client.Receive();
  ASSERT_EQ(expanded.type, kFxpName);
  expanded.U32();
  expanded.U32();
  EXPECT_EQ(expanded.String(), dir.Join("sub/new"));

  client.Send(PacketBuilder(kFxpExtended).U32(3).String("expand-path@openssh.com")
                  .String("~no-such-user-here/x"));
  StatusReply status = client.ReceiveStatus();
  EXPECT_EQ(status.code, kFxNoSuchFile);
  EXPECT_EQ(status.message, "no such user");
}

TEST(SftpExtensions, UsersGroupsByIdNamesKnownIdsAndLeavesUnknownEmpty) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  const std::string uids = PacketBuilder(0).U32(0).U32(4000000001u).Bytes().substr(5);
  const std::string gids = PacketBuilder(0).U32(0).Bytes().substr(5);
  client.Send(PacketBuilder(kFxpExtended).U32(4).String("users-groups-by-id@openssh.com")
                  .String(uids).String(gids));
  Reply reply = client.Receive();
  ASSERT_EQ(reply.type, kFxpExtendedReply);
  EXPECT_EQ(reply.U32(), 4u);
  Reply users{0, reply.String()};
  Reply groups{0, reply.String()};
  EXPECT_EQ(users.String(), "root");
  EXPECT_EQ(users.String(), "");
  EXPECT_EQ(groups.String(), "root");
}

TEST(SftpExtensions, CopyDataCopiesBetweenHandlesButNotOntoItself) {
  TempDir dir;
  testing::WriteFile(dir.Join("src"), "0123456789");
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  const std::string from = HandleOf(Open(client, "src", kFxfRead));
  const std::string to = HandleOf(Open(client, "dst", kFxfWrite | kFxfCreat));
  client.Send(PacketBuilder(kFxpExtended).U32(5).String("copy-data").String(from).U64(2).U64(0)
                  .String(to).U64(1));
  EXPECT_EQ(client.ReceiveStatus().code, kFxOk);
  EXPECT_EQ(testing::ReadFile(dir.Join("dst")), std::string("\0" "23456789", 9));
  client.Send(PacketBuilder(kFxpExtended).U32(6).String("copy-data").String(from).U64(0).U64(20)
                  .String(to).U64(0));
  EXPECT_EQ(client.ReceiveStatus().code, kFxEof) << "asked for more than the source has";
  client.Send(PacketBuilder(kFxpExtended).U32(7).String("copy-data").String(from).U64(0).U64(0)
                  .String(from).U64(0));
  EXPECT_EQ(client.ReceiveStatus().code, kFxFailure);
}

// OpenSSH's sftp-server blocks in open(2) here until a writer comes, and with it the session.
TEST(SftpPaths, OpeningAFifoWithNoWriterDoesNotStallTheSession) {
  TempDir dir;
  ASSERT_EQ(mkfifo(dir.Join("fifo").c_str(), 0600), 0);
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  const std::string handle = HandleOf(Open(client, "fifo", kFxfRead));
  client.Send(PacketBuilder(kFxpRead).U32(2).String(handle).U64(0).U32(100));
  EXPECT_EQ(client.ReceiveStatus().code, kFxEof);
  EXPECT_EQ(Close(client, handle).code, kFxOk);
  client.Send(PacketBuilder(kFxpOpen).U32(3).String("fifo").U32(kFxfWrite).U32(0));
  EXPECT_EQ(client.ReceiveStatus().code, kFxFailure) << "no reader: ENXIO";
  EXPECT_EQ(server.ExitCode(), 0);
}

TEST(SftpPaths, RelativePathsResolveFromHome) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  client.Send(PacketBuilder(kFxpMkdir).U32(1).String("made").U32(0));
  EXPECT_EQ(client.ReceiveStatus().code, kFxOk);
  struct stat st;
  EXPECT_EQ(stat(dir.Join("made").c_str(), &st), 0);
  client.Send(PacketBuilder(kFxpRealpath).U32(2).String(""));
  Reply reply = client.Receive();
  ASSERT_EQ(reply.type, kFxpName);
  reply.U32();
  reply.U32();
  EXPECT_EQ(reply.String(), dir.path());
}

TEST(SftpPaths, PathWithNulIsABadMessage) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  client.Send(PacketBuilder(kFxpStat).U32(1).String(std::string("a\0b", 3)));
  EXPECT_EQ(client.ReceiveStatus().code, kFxBadMessage);
}

TEST(SftpStatus, MapsErrnoToV3CodesWithMessages) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.Join("full").c_str(), 0755), 0);
  testing::WriteFile(dir.Join("full/x"), "");
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  client.Send(PacketBuilder(kFxpStat).U32(1).String("missing"));
  StatusReply missing = client.ReceiveStatus();
  EXPECT_EQ(missing.code, kFxNoSuchFile);
  EXPECT_EQ(missing.message, "No such file");
  client.Send(PacketBuilder(kFxpRmdir).U32(2).String("full"));
  StatusReply not_empty = client.ReceiveStatus();
  EXPECT_EQ(not_empty.code, kFxFailure);
  EXPECT_EQ(not_empty.message, "Directory not empty");
  client.Send(PacketBuilder(kFxpRename).U32(3).String("full/x").String("full"));
  StatusReply exists = client.ReceiveStatus();
  EXPECT_EQ(exists.code, kFxFailure);
  EXPECT_EQ(exists.message, "File exists");
}

}  // namespace
}  // namespace hatch::sftp
