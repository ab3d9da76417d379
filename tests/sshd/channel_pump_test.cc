// ChannelPump (sshd/channel_pump.h) during key re-exchanges: libssh takes no channel data
// while one runs, and the pump must hold what it read back and send it in order afterwards.
#include <gtest/gtest.h>

#include <string>

#include "tests/sshd/core_harness.h"

namespace hatch::testing {
namespace {

constexpr size_t kMiB = 1 << 20;

// 8 MiB each way through one tunnel at once, re-keying every 256 KiB.
void MoveBothWaysWhileRekeying(const CoreHarness::Options& options) {
  auto h = CoreHarness::Connect(options);
  ASSERT_TRUE(h.ok()) << h.status();
  auto t = (*h)->OpenTunnel();
  ASSERT_TRUE(t.ok()) << t.status();
  RekeyCounter rekeys;

  const std::string down = Pattern(8 * kMiB, 11);  // target -> client
  const std::string up = Pattern(8 * kMiB, 12);    // client -> target
  t->client->Queue(up);
  size_t offset = 0;
  std::string got;
  ASSERT_TRUE((*h)->RunUntil([&] {
    WriteAvailable(t->target.get(), down, &offset);
    ReadAvailable(t->target.get(), &got);
    return got.size() >= up.size() && t->client->data().size() >= down.size();
  })) << "moved " << got.size() << " up and " << t->client->data().size() << " down";
  EXPECT_TRUE(SameBytes(t->client->data(), down));
  EXPECT_TRUE(SameBytes(got, up));
  // At one re-key per 256 KiB of traffic: many, or the test proved nothing.
  EXPECT_GE(rekeys.count(), 8);
}

TEST(ChannelPump, HoldsBackBytesWhileTheServerRekeys) {
  CoreHarness::Options options;
  options.server_rekey_data = 256 * 1024;
  MoveBothWaysWhileRekeying(options);
}

TEST(ChannelPump, HoldsBackBytesWhileTheServerRekeysOverTcp) {
  CoreHarness::Options options;
  options.server_rekey_data = 256 * 1024;
  options.tcp = true;  // MSG_MORE and the receive low-water mark only act on TCP
  MoveBothWaysWhileRekeying(options);
}

TEST(ChannelPump, HoldsBackBytesWhileTheClientRekeys) {
  CoreHarness::Options options;
  options.client_rekey_data = 256 * 1024;
  MoveBothWaysWhileRekeying(options);
}

}  // namespace
}  // namespace hatch::testing
