// BulkReceive (sshd/bulk_receive.h) on a real loopback TCP socket, with the clock given.
#include "sshd/bulk_receive.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/unique_fd.h"

namespace hatch {
namespace {

constexpr uint64_t kMiB = 1 << 20;

UniqueFd TcpSocket() {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd.valid());
  return fd;
}

int LowWater(int fd) {
  int value = -1;
  socklen_t len = sizeof value;
  EXPECT_EQ(getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &value, &len), 0);
  return value;
}

// Feeds `bytes` in 64 KiB turns 100 us apart, starting at *now; returns the last timeout.
int Stream(BulkReceive* b, uint64_t* received, absl::Time* now, uint64_t bytes) {
  int timeout = 0;
  for (uint64_t done = 0; done < bytes; done += 64 * 1024) {
    *received += 64 * 1024;
    *now += absl::Microseconds(100);
    timeout = b->AfterTurn(*received, *now);
  }
  return timeout;
}

TEST(BulkReceive, SmallExchangesNeverRaiseTheMark) {
  UniqueFd fd = TcpSocket();
  BulkReceive b(fd.get(), 500);
  absl::Time now = absl::FromUnixSeconds(1000);
  uint64_t received = 0;
  for (int i = 0; i < 1000; ++i) {  // 1000 command lines, 10 ms apart: 1 MiB in all
    received += 1024;
    now += absl::Milliseconds(10);
    EXPECT_EQ(b.AfterTurn(received, now), 500);
  }
  EXPECT_FALSE(b.streaming());
  EXPECT_EQ(LowWater(fd.get()), 1);
}

TEST(BulkReceive, AStreamRaisesTheMarkAndAPauseLowersIt) {
  UniqueFd fd = TcpSocket();
  BulkReceive b(fd.get(), 500);
  absl::Time now = absl::FromUnixSeconds(1000);
  uint64_t received = 0;
  Stream(&b, &received, &now, BulkReceive::kStreamingBytes - 64 * 1024);
  EXPECT_FALSE(b.streaming());
  const int timeout = Stream(&b, &received, &now, 64 * 1024);
  EXPECT_TRUE(b.streaming());
  EXPECT_EQ(LowWater(fd.get()), BulkReceive::kLowWater);
  EXPECT_GE(timeout, 1);
  EXPECT_LE(timeout, absl::ToInt64Milliseconds(BulkReceive::kTail));

  // A turn with nothing new before kTail passed (another fd woke the loop): still raised.
  now += absl::Milliseconds(1);
  EXPECT_LE(b.AfterTurn(received, now), absl::ToInt64Milliseconds(BulkReceive::kTail));
  EXPECT_TRUE(b.streaming());
  // Nothing for kTail: the mark is back to 1 byte and the loop waits as before.
  now += BulkReceive::kTail;
  EXPECT_EQ(b.AfterTurn(received, now), 500);
  EXPECT_FALSE(b.streaming());
  EXPECT_EQ(LowWater(fd.get()), 1);
}

TEST(BulkReceive, APauseStartsTheCountAgain) {
  UniqueFd fd = TcpSocket();
  BulkReceive b(fd.get(), 500);
  absl::Time now = absl::FromUnixSeconds(1000);
  uint64_t received = 0;
  for (int i = 0; i < 8; ++i) {  // 8 bursts of 3 MiB, each after a pause
    Stream(&b, &received, &now, 3 * kMiB);
    now += BulkReceive::kTail;
    EXPECT_FALSE(b.streaming());
  }
}

TEST(BulkReceive, ShortStreamsDoubleTheBytesNeededAndALongOneResetsThem) {
  UniqueFd fd = TcpSocket();
  BulkReceive b(fd.get(), 500);
  absl::Time now = absl::FromUnixSeconds(1000);
  uint64_t received = 0;
  // Bursts that stop right after the mark went up (a client waiting for replies).
  Stream(&b, &received, &now, BulkReceive::kStreamingBytes);
  ASSERT_TRUE(b.streaming());
  now += BulkReceive::kTail;
  b.AfterTurn(received, now);
  EXPECT_EQ(b.threshold(), 2 * BulkReceive::kStreamingBytes);
  Stream(&b, &received, &now, BulkReceive::kStreamingBytes);
  EXPECT_FALSE(b.streaming());
  Stream(&b, &received, &now, BulkReceive::kStreamingBytes);
  ASSERT_TRUE(b.streaming());
  // This time the stream goes on for longer than kShortStream: the next needs the base again.
  for (int i = 0; i < 400; ++i) {
    received += 256 * 1024;
    now += absl::Milliseconds(1);
    b.AfterTurn(received, now);
  }
  EXPECT_TRUE(b.streaming());
  now += BulkReceive::kTail;
  b.AfterTurn(received, now);
  EXPECT_FALSE(b.streaming());
  EXPECT_EQ(b.threshold(), BulkReceive::kStreamingBytes);
}

TEST(BulkReceive, NotASocketStaysOff) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  BulkReceive b(r.get(), 500);
  absl::Time now = absl::FromUnixSeconds(1000);
  uint64_t received = 0;
  EXPECT_EQ(Stream(&b, &received, &now, 2 * BulkReceive::kStreamingBytes), 500);
  EXPECT_FALSE(b.streaming());
}

}  // namespace
}  // namespace hatch
