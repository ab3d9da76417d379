// The baseline filter and the read-only metadata filter, in forked children: every listed
// call fails with the table's errno, for 64-bit and i386 (int 0x80) programs, while the same
// calls reach the kernel unconfined.
#include "sandbox/syscall_filter.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <seccomp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "gtest/gtest.h"
#include "tests/sandbox/confined.h"

namespace hatch::sandbox {
namespace {

// The native number of a table row, or -1 when the call does not exist for x86-64 (i386-only
// rows such as stime).
long NativeNumber(const FilterRule& rule) {
  const int n = seccomp_syscall_resolve_name(rule.name);
  if (n == __NR_SCMP_ERROR) return rule.unified_number;
  return n < 0 ? -1 : n;
}

// Calls `rule` with arguments no kernel accepts (bad pointers, bad flags): if the filter let
// it through, it would fail harmlessly, with another errno.
int CallWithJunk(const FilterRule& rule) {
  if (rule.ioctl_request != 0) {
    const int fd = open("/dev/null", O_RDONLY);
    return Outcome(syscall(SYS_ioctl, fd, rule.ioctl_request, -1L));
  }
  return Outcome(syscall(NativeNumber(rule), -1L, -1L, -1L, -1L, -1L, -1L));
}

TEST(SyscallFilter, BaselineRefusesEveryListedCallWithEperm) {
  for (const FilterRule& rule : BaselineRules()) {
    if (NativeNumber(rule) < 0) continue;
    EXPECT_EQ(RunConfined(kBaseline, [&] { return CallWithJunk(rule); }), EPERM) << rule.name;
  }
}

TEST(SyscallFilter, ReadOnlyRefusesEveryMetadataCallWithErofs) {
  for (const FilterRule& rule : ReadOnlyMetadataRules()) {
    if (NativeNumber(rule) < 0) continue;
    EXPECT_EQ(RunConfined(kReadOnly, [&] { return CallWithJunk(rule); }), EROFS) << rule.name;
  }
}

TEST(SyscallFilter, MetadataCallsAreNotRefusedWithoutReadOnly) {
  for (const FilterRule& rule : ReadOnlyMetadataRules()) {
    if (NativeNumber(rule) < 0) continue;
    EXPECT_NE(RunConfined(kBaseline, [&] { return CallWithJunk(rule); }), EROFS) << rule.name;
  }
}

TEST(SyscallFilter, KeyctlWorksUnconfinedAndFailsWithEpermUnderTheBaseline) {
  // KEYCTL_GET_KEYRING_ID of the user keyring: any process may ask.
  auto probe = [] { return Outcome(syscall(SYS_keyctl, 0, -4, 0)); };
  EXPECT_EQ(RunConfined(kNone, probe), 0);
  EXPECT_EQ(RunConfined(kBaseline, probe), EPERM);
}

TEST(SyscallFilter, MountReachesThePathLookupUnconfinedAndFailsWithEpermUnderTheBaseline) {
  // The kernel looks the target up before it checks privileges: ENOENT for anyone.
  auto probe = [] {
    return Outcome(mount("none", "/nonexistent-hatch-target", "tmpfs", 0, nullptr));
  };
  EXPECT_EQ(RunConfined(kNone, probe), ENOENT);
  EXPECT_EQ(RunConfined(kBaseline, probe), EPERM);
}

TEST(SyscallFilter, OrdinaryWritesWorkUnderTheBaseline) {
  char dir[] = "/tmp/hatch-filter-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/f";
  EXPECT_EQ(RunConfined(kBaseline, [&] {
              const int fd = open(file.c_str(), O_CREAT | O_WRONLY, 0600);
              if (fd < 0) return errno;
              if (write(fd, "x", 1) != 1) return errno;
              close(fd);
              return Outcome(chmod(file.c_str(), 0644));
            }),
            0);
  struct stat st {};
  EXPECT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1);
  unlink(file.c_str());
  rmdir(dir);
}

#if defined(__x86_64__)
// An i386 system call from this 64-bit process: the kernel sees AUDIT_ARCH_I386, as for a
// 32-bit binary. Returns the raw result (-errno on failure).
long Int80(long nr, long a = 0, long b = 0, long c = 0) {
  long ret;
  asm volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}
constexpr long kI386Getpid = 20;
constexpr long kI386Mount = 21;
constexpr long kI386Keyctl = 288;
constexpr long kI386Chmod = 15;
constexpr long kI386Setxattrat = 463;  // unknown to Debian 12's libseccomp: the supplement

int I386Outcome(long rc) { return rc < 0 ? static_cast<int>(-rc) : 0; }

bool KernelRunsI386() {
  return RunConfined(kNone, [] { return Int80(kI386Getpid) == getpid() ? 0 : 1; }) == 0;
}

TEST(SyscallFilter, I386CallsAreFilteredToo) {
  if (!KernelRunsI386()) GTEST_SKIP() << "kernel without IA32 emulation";
  auto keyctl = [] { return I386Outcome(Int80(kI386Keyctl, 0, -4, 0)); };
  EXPECT_EQ(RunConfined(kNone, keyctl), 0);
  EXPECT_EQ(RunConfined(kBaseline, keyctl), EPERM);
  EXPECT_EQ(RunConfined(kBaseline, [] { return I386Outcome(Int80(kI386Mount, -1, -1, -1)); }),
            EPERM);
  EXPECT_EQ(RunConfined(kReadOnly, [] { return I386Outcome(Int80(kI386Chmod, -1, 0)); }), EROFS);
  EXPECT_EQ(RunConfined(kReadOnly, [] { return I386Outcome(Int80(kI386Setxattrat, -1, -1, -1)); }),
            EROFS);
  EXPECT_NE(RunConfined(kNone, [] { return I386Outcome(Int80(kI386Setxattrat, -1, -1, -1)); }),
            EROFS);
}
#endif

TEST(SyscallFilter, NothingToFilterIsAnEmptyProgram) {
  absl::StatusOr<SyscallFilter> none = SyscallFilter::Build(false, false);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->instruction_count(), 0u);
  absl::StatusOr<SyscallFilter> both = SyscallFilter::Build(true, true);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_GT(both->instruction_count(), 0u);
}

}  // namespace
}  // namespace hatch::sandbox
