#include "sandbox/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace hatch::sandbox {
namespace {

// Debian 12's headers (Linux 6.1) stop at ABI 2; the later values are the kernel's uapi.
constexpr uint64_t kAccessFsTruncate = 1ULL << 14;   // ABI 3
constexpr uint64_t kAccessNetBindTcp = 1ULL << 0;    // ABI 4
constexpr uint64_t kScopeSignal = 1ULL << 1;         // ABI 6

// struct landlock_ruleset_attr as of ABI 6 (the kernel accepts this size from ABI 6 on).
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

// Everything that changes the filesystem. Not handled, so still allowed: EXECUTE,
// READ_FILE, READ_DIR, and IOCTL_DEV (device ioctls change no file; the destructive ones need
// a device opened for writing, which WRITE_FILE refuses, and GPU or terminal tools need them).
constexpr uint64_t kWriteAccess =
    LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
    LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
    LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM |
    LANDLOCK_ACCESS_FS_REFER | kAccessFsTruncate;

// What stays writable: terminals (a session's own pty is already open on 0-2; programs
// reopen it as /dev/tty or /dev/pts/N, and `script` or tmux clients open new ones) and the
// devices whose writes store nothing.
struct Exception {
  const char* path;
  uint64_t access;
};
constexpr uint64_t kWriteDevice = LANDLOCK_ACCESS_FS_WRITE_FILE | kAccessFsTruncate;
constexpr Exception kExceptions[] = {
    {"/dev/pts", kWriteDevice},  // every pty slave, beneath the directory
    {"/dev/ptmx", kWriteDevice},
    {"/dev/tty", kWriteDevice},
    {"/dev/null", kWriteDevice},
    {"/dev/zero", kWriteDevice},
    {"/dev/full", kWriteDevice},
    {"/dev/random", kWriteDevice},   // a write only stirs the entropy pool
    {"/dev/urandom", kWriteDevice},
};

int CreateRuleset(const RulesetAttr* attr, size_t size, uint32_t flags) {
  return static_cast<int>(syscall(SYS_landlock_create_ruleset, attr, size, flags));
}

}  // namespace

int KernelLandlockAbi() {
  const int abi = CreateRuleset(nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : abi;
}

absl::Status CheckReadOnlyAbi(int abi) {
  if (abi <= 0) {
    return absl::FailedPreconditionError(
        "-readOnly needs Landlock, which this kernel does not offer (not built in, not in "
        "the lsm= boot list, or refused by the container's seccomp profile); Linux 6.12 or "
        "later is needed");
  }
  if (abi < 3) {
    return absl::FailedPreconditionError(absl::StrCat(
        "-readOnly needs Landlock ABI ", kReadOnlyMinimumAbi, " (Linux 6.12); this kernel has ABI ",
        abi, ", without LANDLOCK_ACCESS_FS_TRUNCATE (ABI 3) and signal scoping (ABI 6)"));
  }
  if (abi < kReadOnlyMinimumAbi) {
    return absl::FailedPreconditionError(absl::StrCat(
        "-readOnly needs Landlock ABI ", kReadOnlyMinimumAbi, " (Linux 6.12); this kernel has ABI ",
        abi, ", without LANDLOCK_SCOPE_SIGNAL (ABI 6): sessions could signal the app"));
  }
  return absl::OkStatus();
}

int RestrictToReadOnly(const char** failed_step) {
  const RulesetAttr attr{kWriteAccess, kAccessNetBindTcp, kScopeSignal};
  const int ruleset = CreateRuleset(&attr, sizeof(attr), 0);
  if (ruleset < 0) {
    *failed_step = "landlock_create_ruleset";
    return errno;
  }
  for (const Exception& e : kExceptions) {
    const int fd = open(e.path, O_PATH | O_CLOEXEC);
    if (fd < 0) continue;  // not in this rootfs
    landlock_path_beneath_attr rule{e.access, fd};
    const long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    const int err = errno;
    close(fd);
    if (rc != 0) {
      close(ruleset);
      *failed_step = "landlock_add_rule";
      return err;
    }
  }
  const long rc = syscall(SYS_landlock_restrict_self, ruleset, 0);
  const int err = errno;
  close(ruleset);
  if (rc != 0) {
    *failed_step = "landlock_restrict_self";
    return err;
  }
  return 0;
}

}  // namespace hatch::sandbox
