// TcpTunnel (sshd/tcp_forward.h) between an in-process libssh client and a socketpair
// "target": half-close both ways, and back-pressure per tunnel.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>

#include "tests/sshd/core_harness.h"

namespace hatch::testing {
namespace {

constexpr size_t kMiB = 1 << 20;
// What libssh lets a peer send on one channel before it reads (its WINDOW_DEFAULT), and
// what a ChannelPump takes in one read.
constexpr size_t kWindow = 2 * kMiB;
constexpr size_t kChunk = 64 * 1024;

TEST(TcpTunnel, ClientEofBecomesShutdownOnlyAfterEveryByteReachedTheTarget) {
  auto h = CoreHarness::Connect();
  ASSERT_TRUE(h.ok()) << h.status();
  auto t = (*h)->OpenTunnel();
  ASSERT_TRUE(t.ok()) << t.status();

  // The target reads nothing yet, so when the client's EOF arrives most of the bytes before
  // it are still held in the tunnel (libssh's channel buffer, the socket).
  const std::string sent = Pattern(kMiB, 1);
  t->client->Queue(sent);
  t->client->SendEofWhenWritten();
  ASSERT_TRUE((*h)->RunUntil([&] { return t->client->eof_sent(); }));
  (*h)->RunUntilQuiet();
  ASSERT_GT(sent.size() - Unread(t->target.get()), 0u) << "nothing was held back";

  std::string got;
  ASSERT_TRUE((*h)->RunUntil([&] { return ReadAvailable(t->target.get(), &got); }))
      << "no EOF after " << got.size() << " bytes";
  EXPECT_TRUE(SameBytes(got, sent));

  // Half-closed: the other direction still carries data, then its own EOF closes the channel.
  EXPECT_FALSE(t->client->closed());
  const std::string reply = Pattern(300 * 1000, 2);
  size_t offset = 0;
  bool shut = false;
  ASSERT_TRUE((*h)->RunUntil([&] {
    WriteAvailable(t->target.get(), reply, &offset);
    if (offset == reply.size() && !shut) shut = shutdown(t->target.get(), SHUT_WR) == 0;
    return t->client->closed();
  }));
  EXPECT_TRUE(SameBytes(t->client->data(), reply));
  EXPECT_TRUE(t->client->eof());
  EXPECT_EQ(t->client->data_at_eof(), reply.size());
  EXPECT_TRUE(t->finished());
}

TEST(TcpTunnel, TargetEofBecomesChannelEofWhileClientInputStillFlows) {
  auto h = CoreHarness::Connect();
  ASSERT_TRUE(h.ok()) << h.status();
  auto t = (*h)->OpenTunnel();
  ASSERT_TRUE(t.ok()) << t.status();

  const std::string answer = Pattern(256 * 1024, 3);
  size_t offset = 0;
  bool shut = false;
  ASSERT_TRUE((*h)->RunUntil([&] {
    WriteAvailable(t->target.get(), answer, &offset);
    if (offset == answer.size() && !shut) shut = shutdown(t->target.get(), SHUT_WR) == 0;
    return t->client->eof();
  }));
  EXPECT_EQ(t->client->data_at_eof(), answer.size()) << "EOF overtook data";
  EXPECT_TRUE(SameBytes(t->client->data(), answer));

  // Only one direction is done: the channel stays open for the client's input.
  (*h)->RunUntilQuiet();
  EXPECT_FALSE(t->client->closed());
  EXPECT_FALSE(t->finished());

  const std::string sent = Pattern(kMiB, 4);
  t->client->Queue(sent);
  t->client->SendEofWhenWritten();
  std::string got;
  ASSERT_TRUE((*h)->RunUntil([&] { return ReadAvailable(t->target.get(), &got); }))
      << "no EOF after " << got.size() << " bytes";
  EXPECT_TRUE(SameBytes(got, sent));
  ASSERT_TRUE((*h)->RunUntil([&] { return t->client->closed(); }));
  EXPECT_TRUE(t->finished());
}

TEST(TcpTunnel, TargetThatStopsReadingStallsOnlyItsOwnTunnel) {
  auto h = CoreHarness::Connect();
  ASSERT_TRUE(h.ok()) << h.status();
  auto stalled = (*h)->OpenTunnel();
  ASSERT_TRUE(stalled.ok()) << stalled.status();
  auto flowing = (*h)->OpenTunnel();
  ASSERT_TRUE(flowing.ok()) << flowing.status();

  // More than every buffer on the way can hold.
  const std::string to_stalled = Pattern(8 * kMiB, 5);
  const std::string to_flowing = Pattern(4 * kMiB, 6);
  stalled->client->Queue(to_stalled);
  flowing->client->Queue(to_flowing);
  std::string got;
  ASSERT_TRUE((*h)->RunUntil([&] {
    ReadAvailable(flowing->target.get(), &got);
    return got.size() >= to_flowing.size();
  })) << "the flowing tunnel moved only " << got.size() << " bytes";
  EXPECT_TRUE(SameBytes(got, to_flowing));

  // The stalled tunnel's window closed; what the server holds for it (sent by the client,
  // not yet in the target's socket) is bounded by the window, not by what the client had.
  (*h)->RunUntilQuiet();
  EXPECT_LT(stalled->client->written(), to_stalled.size());
  EXPECT_EQ(ssh_channel_window_size(stalled->client->get()), 0u);
  const size_t held = stalled->client->written() - Unread(stalled->target.get());
  EXPECT_LE(held, kWindow + kChunk);

  // Nothing was lost: once the target reads, every byte arrives in order.
  std::string stalled_got;
  ASSERT_TRUE((*h)->RunUntil([&] {
    ReadAvailable(stalled->target.get(), &stalled_got);
    return stalled_got.size() >= to_stalled.size();
  })) << "the stalled tunnel delivered only " << stalled_got.size() << " bytes";
  EXPECT_TRUE(SameBytes(stalled_got, to_stalled));
}

TEST(TcpTunnel, ClientThatStopsReadingStallsOnlyItsOwnTunnel) {
  auto h = CoreHarness::Connect();
  ASSERT_TRUE(h.ok()) << h.status();
  auto stalled = (*h)->OpenTunnel();
  ASSERT_TRUE(stalled.ok()) << stalled.status();
  auto flowing = (*h)->OpenTunnel();
  ASSERT_TRUE(flowing.ok()) << flowing.status();
  stalled->client->Pause();

  const std::string from_stalled = Pattern(8 * kMiB, 7);
  const std::string from_flowing = Pattern(4 * kMiB, 8);
  size_t stalled_offset = 0;
  size_t flowing_offset = 0;
  ASSERT_TRUE((*h)->RunUntil([&] {
    WriteAvailable(stalled->target.get(), from_stalled, &stalled_offset);
    WriteAvailable(flowing->target.get(), from_flowing, &flowing_offset);
    return flowing->client->data().size() >= from_flowing.size();
  })) << "the flowing tunnel moved only " << flowing->client->data().size() << " bytes";
  EXPECT_TRUE(SameBytes(flowing->client->data(), from_flowing));

  // The server stopped reading the stalled target once the client's window closed: it took
  // at most the window and one read.
  WriteAvailable(stalled->target.get(), from_stalled, &stalled_offset);
  (*h)->RunUntilQuiet();
  EXPECT_LT(stalled_offset, from_stalled.size());
  const size_t taken = stalled_offset - Unread(stalled->server_socket);
  EXPECT_LE(taken, kWindow + kChunk);

  stalled->client->Resume();
  ASSERT_TRUE((*h)->RunUntil([&] {
    WriteAvailable(stalled->target.get(), from_stalled, &stalled_offset);
    return stalled->client->data().size() >= from_stalled.size();
  })) << "the stalled tunnel delivered only " << stalled->client->data().size() << " bytes";
  EXPECT_TRUE(SameBytes(stalled->client->data(), from_stalled));
}

}  // namespace
}  // namespace hatch::testing
