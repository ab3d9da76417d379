// The event loop's framing and flow: packets split across reads, several per read, many
// requests in flight, the message size limit, EOF and a vanished client.
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>

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
using testing::TempDir;

SftpServerOptions OptionsFor(const TempDir& dir) {
  SftpServerOptions options;
  options.home = dir.path();
  return options;
}

std::string OpenHandle(PacketClient& client, const std::string& path, uint32_t pflags) {
  const uint32_t id = client.NextId();
  client.Send(PacketBuilder(kFxpOpen).U32(id).String(path).U32(pflags).U32(0));
  Reply reply = client.Receive();
  EXPECT_EQ(reply.type, kFxpHandle);
  EXPECT_EQ(reply.U32(), id);
  return reply.String();
}

std::string Pattern(size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 7 + i / 4096) & 0xff);
  return data;
}

TEST(SftpFraming, AnswersRequestSplitAtEveryByte) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.Join("sub").c_str(), 0755), 0);
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  const std::string first = PacketBuilder(kFxpRealpath).U32(1).String(".").Bytes();
  const std::string second = PacketBuilder(kFxpRealpath).U32(2).String("sub/../x").Bytes();
  for (size_t split = 1; split < second.size(); ++split) {
    // A whole packet plus the head of the next in one write; the tail only once the first
    // is answered, so the server must have held the partial packet between reads.
    client.SendRaw(first + second.substr(0, split));
    Reply reply = client.Receive();
    ASSERT_EQ(reply.type, kFxpName) << "split at " << split;
    EXPECT_EQ(reply.U32(), 1u);
    client.SendRaw(second.substr(split));
    reply = client.Receive();
    ASSERT_EQ(reply.type, kFxpName) << "split at " << split;
    EXPECT_EQ(reply.U32(), 2u);
    EXPECT_EQ(reply.U32(), 1u);
    EXPECT_EQ(reply.String(), dir.Join("x"));
  }
  EXPECT_EQ(server.ExitCode(), 0);
}

TEST(SftpFraming, AnswersSeveralRequestsSentInOneWrite) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  std::string batch = PacketBuilder(kFxpInit).U32(3).Bytes();
  for (uint32_t id = 10; id < 20; ++id) {
    batch += PacketBuilder(kFxpStat).U32(id).String(".").Bytes();
  }
  client.SendRaw(batch);
  EXPECT_EQ(client.Receive().type, kFxpVersion);
  for (uint32_t id = 10; id < 20; ++id) {
    Reply reply = client.Receive();
    ASSERT_EQ(reply.type, kFxpAttrs);
    EXPECT_EQ(reply.U32(), id);
  }
  EXPECT_EQ(server.ExitCode(), 0);
}

// More requests in flight than the server's queues hold: it must apply back-pressure, not
// deadlock or drop, and answer in order.
TEST(SftpFraming, AnswersManyReadsInFlightInOrder) {
  TempDir dir;
  constexpr size_t kChunk = 255 * 1024;
  constexpr uint32_t kRequests = 64;
  const std::string content = Pattern(kChunk * kRequests);
  testing::WriteFile(dir.Join("big"), content);
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  const std::string handle = OpenHandle(client, "big", kFxfRead);
  for (int round = 0; round < 2; ++round) {
    std::thread sender([&] {
      std::string batch;
      for (uint32_t i = 0; i < kRequests; ++i) {
        batch += PacketBuilder(kFxpRead).U32(1000 + i).String(handle).U64(i * kChunk)
                     .U32(kChunk).Bytes();
      }
      client.SendRaw(batch);
    });
    for (uint32_t i = 0; i < kRequests; ++i) {
      Reply reply = client.Receive();
      ASSERT_EQ(reply.type, kFxpData);
      ASSERT_EQ(reply.U32(), 1000 + i);
      ASSERT_EQ(reply.String(), content.substr(i * kChunk, kChunk)) << "chunk " << i;
    }
    sender.join();
  }
  EXPECT_EQ(server.ExitCode(), 0);
}

TEST(SftpFraming, AcceptsRequestOfExactlyMaxMessage) {
  TempDir dir;
  SftpServerOptions options = OptionsFor(dir);
  options.max_message = 4096;
  ServerThread server(options);
  PacketClient client(server.client_fd());
  client.Init();
  const std::string handle = OpenHandle(client, "f", kFxfWrite | kFxfCreat);
  // type(1) id(4) handle(4+8) offset(8) data(4+n) == 4096
  const size_t data_size = 4096 - 1 - 4 - 4 - handle.size() - 8 - 4;
  const std::string packet =
      PacketBuilder(kFxpWrite).U32(7).String(handle).U64(0).String(std::string(data_size, 'x'))
          .Bytes();
  ASSERT_EQ(packet.size(), 4u + 4096u);
  client.SendRaw(packet);
  EXPECT_EQ(client.ReceiveStatus().code, kFxOk);
  EXPECT_EQ(server.ExitCode(), 0);
  EXPECT_EQ(testing::ReadFile(dir.Join("f")).size(), data_size);
}

TEST(SftpFraming, RequestLongerThanMaxMessageEndsTheSessionWithAnError) {
  TempDir dir;
  SftpServerOptions options = OptionsFor(dir);
  options.max_message = 4096;
  ServerThread server(options);
  PacketClient client(server.client_fd());
  client.Init();
  // Only the length field is needed for the server to know.
  client.SendRaw(std::string("\x00\x00\x10\x01", 4) + std::string(100, 'x'));
  EXPECT_NE(server.WaitExit(), 0);
  EXPECT_EQ(client.Receive().type, 0) << "the server closed without a reply";
}

TEST(SftpFraming, RequestBeforeInitEndsTheSessionWithAnError) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Send(PacketBuilder(kFxpStat).U32(1).String("."));
  EXPECT_NE(server.WaitExit(), 0);
}

TEST(SftpFraming, SecondInitEndsTheSessionWithAnError) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  client.Send(PacketBuilder(kFxpInit).U32(3));
  EXPECT_NE(server.WaitExit(), 0);
  EXPECT_EQ(client.Receive().type, 0) << "the server closed without a second VERSION";
}

TEST(SftpFraming, TruncatedRequestEndsTheSessionWithAnError) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  client.Send(PacketBuilder(kFxpOpen).U32(1).String("f"));  // no pflags, no attrs
  EXPECT_NE(server.WaitExit(), 0);
}

TEST(SftpFraming, UnknownRequestTypeGetsOpUnsupported) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  client.Send(PacketBuilder(99).U32(5).String("whatever"));
  const testing::StatusReply status = client.ReceiveStatus();
  EXPECT_EQ(status.id, 5u);
  EXPECT_EQ(status.code, kFxOpUnsupported);
  EXPECT_EQ(server.ExitCode(), 0);
}

// A client that sends its last writes and closes at once still gets them applied.
TEST(SftpFraming, AppliesRequestsReceivedBeforeEof) {
  TempDir dir;
  ServerThread server(OptionsFor(dir));
  PacketClient client(server.client_fd());
  client.Init();
  const std::string handle = OpenHandle(client, "out", kFxfWrite | kFxfCreat | kFxfTrunc);
  std::string batch;
  for (uint32_t i = 0; i < 100; ++i) {
    batch += PacketBuilder(kFxpWrite).U32(100 + i).String(handle).U64(i * 1000)
                 .String(std::string(1000, static_cast<char>('a' + i % 26))).Bytes();
  }
  batch += PacketBuilder(kFxpClose).U32(500).String(handle).Bytes();
  batch += std::string("\x00\x00\x00\x30\x11", 5);  // a trailing partial packet is dropped
  client.SendRaw(batch);
  shutdown(server.client_fd(), SHUT_WR);
  EXPECT_EQ(server.WaitExit(), 0);
  const std::string written = testing::ReadFile(dir.Join("out"));
  ASSERT_EQ(written.size(), 100000u);
  EXPECT_EQ(written[99 * 1000], 'a' + 99 % 26);
}

TEST(SftpFraming, ClientVanishingMidTransferEndsTheSessionCleanly) {
  TempDir dir;
  testing::WriteFile(dir.Join("big"), Pattern(8 << 20));
  const int fds_before = CountOpenFds();
  {
    ServerThread server(OptionsFor(dir));
    PacketClient client(server.client_fd());
    client.Init();
    std::string handles[4];
    for (std::string& h : handles) h = OpenHandle(client, "big", kFxfRead);
    std::string batch;
    for (uint32_t i = 0; i < 32; ++i) {
      batch += PacketBuilder(kFxpRead).U32(100 + i).String(handles[i % 4])
                   .U64(i * 256 * 1024).U32(255 * 1024).Bytes();
    }
    client.SendRaw(batch);
    client.Receive();  // mid-transfer: one reply read, the rest still queued
    EXPECT_EQ(server.ExitCode(), 0);
  }
  EXPECT_EQ(CountOpenFds(), fds_before) << "the session left fds open";
}

}  // namespace
}  // namespace hatch::sftp
