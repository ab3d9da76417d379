// The start-up check: which Landlock ABI read-only mode accepts, and what it says otherwise.
#include "sandbox/landlock.h"

#include "gtest/gtest.h"
#include "sandbox/session_sandbox.h"

namespace hatch::sandbox {
namespace {

TEST(Landlock, ReadOnlyNeedsAbi6) {
  for (int abi = 6; abi <= 9; ++abi) EXPECT_TRUE(CheckReadOnlyAbi(abi).ok()) << abi;
  for (int abi = 0; abi < 6; ++abi) {
    absl::Status s = CheckReadOnlyAbi(abi);
    EXPECT_FALSE(s.ok()) << abi;
    EXPECT_NE(s.message().find("-readOnly needs Landlock"), absl::string_view::npos) << s;
  }
}

TEST(Landlock, RefusalNamesTheMissingFeature) {
  EXPECT_NE(CheckReadOnlyAbi(0).message().find("does not offer"), absl::string_view::npos);
  EXPECT_NE(CheckReadOnlyAbi(2).message().find("LANDLOCK_ACCESS_FS_TRUNCATE"),
            absl::string_view::npos);
  EXPECT_NE(CheckReadOnlyAbi(5).message().find("LANDLOCK_SCOPE_SIGNAL"), absl::string_view::npos);
  EXPECT_NE(CheckReadOnlyAbi(5).message().find("has ABI 5"), absl::string_view::npos);
}

TEST(Landlock, StartUpCheckRefusesReadOnlyBelowTheMinimumAndAcceptsTheBaseline) {
  const SandboxPolicy read_only{.syscall_filter = true, .read_only = true};
  EXPECT_FALSE(SessionSandbox::Check(read_only, 5).ok());
  EXPECT_FALSE(SessionSandbox::Check(read_only, 0).ok());
  EXPECT_TRUE(SessionSandbox::Check({.syscall_filter = true}, 0).ok());
  if (KernelLandlockAbi() >= kReadOnlyMinimumAbi) {
    EXPECT_TRUE(SessionSandbox::Check(read_only, KernelLandlockAbi()).ok());
  }
}

}  // namespace
}  // namespace hatch::sandbox
