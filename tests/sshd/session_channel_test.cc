// SessionChannel (sshd/session_channel.h) with real processes, driven by an in-process
// libssh client.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/sshd/core_harness.h"

namespace hatch::testing {
namespace {

constexpr size_t kMiB = 1 << 20;
constexpr size_t kWindow = 2 * kMiB;  // what the client lets the server send before it reads

std::string WriteTempFile(const std::string& name, const std::string& bytes) {
  // /tmp is shared: the pid keeps two runs at once (two build trees) apart.
  const std::string path = absl::StrCat(::testing::TempDir(), name, ".", getpid());
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(SessionChannel, SendsExitStatusOnlyAfterTheOutputDrained) {
  auto h = CoreHarness::Connect();
  ASSERT_TRUE(h.ok()) << h.status();
  // The window plus one page (the smallest pipe the kernel makes): the process can write it
  // all and exit while the client reads nothing, so at its exit that page is undelivered.
  const std::string output = Pattern(kWindow + 4096, 21);
  const std::string path = WriteTempFile("exit-after-output", output);
  auto c = (*h)->Exec(absl::StrCat("cat ", path, "; exit 3"), /*paused=*/true);
  ASSERT_TRUE(c.ok()) << c.status();

  // The client's process is frozen: only the server runs, until well after the exit.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while ((*h)->exited_children().empty() && absl::Now() < deadline) (*h)->StepServer(1);
  ASSERT_FALSE((*h)->exited_children().empty()) << "the process did not exit";
  for (int i = 0; i < 20; ++i) (*h)->StepServer(1);

  (*c)->Resume();
  ASSERT_TRUE((*h)->RunUntil([&] { return (*c)->closed(); }));
  ASSERT_TRUE((*c)->exit_status().has_value());
  EXPECT_EQ(*(*c)->exit_status(), 3);
  EXPECT_EQ((*c)->data_at_exit(), output.size()) << "exit-status overtook the output";
  EXPECT_TRUE(SameBytes((*c)->data(), output));
  unlink(path.c_str());
}

TEST(SessionChannel, ProcessReadsEofOnlyAfterEveryByteTheClientSent) {
  auto h = CoreHarness::Connect();
  ASSERT_TRUE(h.ok()) << h.status();
  // `wc -c` answers only at its stdin's EOF: an early EOF would show as a short count.
  auto c = (*h)->Exec("wc -c");
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string input = Pattern(3 * kMiB, 22);
  (*c)->Queue(input);
  (*c)->SendEofWhenWritten();
  ASSERT_TRUE((*h)->RunUntil([&] { return (*c)->closed(); }));
  EXPECT_EQ((*c)->data(), absl::StrCat(input.size(), "\n"));
  EXPECT_EQ((*c)->exit_status(), 0);
}

// stdout and stderr both become bulk sources (their reads fill 64 KiB) and share the pump's
// 256 KiB buffer, while the server re-keys every 256 KiB: both streams arrive whole and in
// order. (A read nested inside the other source's ssh_channel_write uses the stack instead
// of the shared buffer; this test does not force that interleaving, it guards the rest.)
TEST(SessionChannel, TwoBulkStreamsStayIntactWhileTheServerRekeys) {
  CoreHarness::Options options;
  options.server_rekey_data = 256 * 1024;
  auto h = CoreHarness::Connect(options);
  ASSERT_TRUE(h.ok()) << h.status();
  RekeyCounter rekeys;
  const std::string out = Pattern(6 * kMiB, 23);
  const std::string err = Pattern(6 * kMiB, 24);
  const std::string out_path = WriteTempFile("bulk-out", out);
  const std::string err_path = WriteTempFile("bulk-err", err);
  auto c = (*h)->Exec(absl::StrCat("cat ", err_path, " >&2 & cat ", out_path, "; wait"));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*h)->RunUntil([&] { return (*c)->closed(); }, absl::Seconds(60)))
      << "got " << (*c)->data().size() << " and " << (*c)->extended().size();
  EXPECT_EQ((*c)->exit_status(), 0);
  EXPECT_TRUE(SameBytes((*c)->data(), out));
  EXPECT_TRUE(SameBytes((*c)->extended(), err));
  EXPECT_GE(rekeys.count(), 8);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
}

// A download over loopback TCP, where MSG_MORE acts (a packet may wait in the kernel for the
// next one), with key exchanges the server starts in the middle of writes: every byte
// arrives, in order, in bounded time. (Here the client keeps reading, so acknowledgements
// would also push out a held KEXINIT; libssh-socket-write-more.patch never holds one.)
TEST(SessionChannel, ServerRekeysMidDownloadOverTcpWithoutStalling) {
  CoreHarness::Options options;
  options.server_rekey_data = 256 * 1024;
  options.tcp = true;
  auto h = CoreHarness::Connect(options);
  ASSERT_TRUE(h.ok()) << h.status();
  RekeyCounter rekeys;
  const std::string out = Pattern(8 * kMiB, 25);
  const std::string path = WriteTempFile("tcp-rekey-out", out);
  auto c = (*h)->Exec(absl::StrCat("cat ", path));
  ASSERT_TRUE(c.ok()) << c.status();
  const absl::Time start = absl::Now();
  ASSERT_TRUE((*h)->RunUntil([&] { return (*c)->closed(); }, absl::Seconds(30)))
      << "got " << (*c)->data().size() << " of " << out.size();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "a re-key waited for something";
  EXPECT_TRUE(SameBytes((*c)->data(), out));
  EXPECT_GE(rekeys.count(), 4);  // several re-keys, each in the middle of the stream
  unlink(path.c_str());
}

}  // namespace
}  // namespace hatch::testing
