// What a session's process is confined by, applied in the forked child before it execs or
// runs a built-in (sshd/process.h's Spawn):
//   - the baseline syscall filter (syscall_filter.h) in every session, unless turned off;
//   - in read-only mode, Landlock (landlock.h) and the metadata filter.
// Both need PR_SET_NO_NEW_PRIVS, which the child sets first: setuid and file-capability
// programs (sudo, su) gain no privilege in a confined session.
#ifndef HATCH_SANDBOX_SESSION_SANDBOX_H_
#define HATCH_SANDBOX_SESSION_SANDBOX_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sandbox/syscall_filter.h"

namespace hatch::sandbox {

struct SandboxPolicy {
  bool syscall_filter = false;  // the baseline table
  bool read_only = false;       // Landlock + the metadata table

  bool any() const { return syscall_filter || read_only; }
};

// The line a read-only shell or exec session prints on its stderr (the terminal with a pty)
// when it starts, so that its user is not surprised by EACCES and EROFS.
inline constexpr char kReadOnlyNotice[] =
    "hatch: read-only session: the filesystem cannot be changed\n";

// A policy made ready to apply: its filters compiled. Immutable.
class SessionSandbox {
 public:
  // The sandbox for `policy`, prepared at its first use and kept for the process's life (a
  // forked connection inherits what the daemon prepared at start-up). A read-only policy is
  // refused when the kernel cannot enforce it (CheckReadOnlyAbi). Not thread-safe (the
  // daemon has no threads).
  static absl::StatusOr<const SessionSandbox*> For(const SandboxPolicy& policy);

  // For start-up: For(policy), then applies it in a forked child and waits for it, so that a
  // kernel or container that refuses any step is found before the first session, with the
  // step named. `landlock_abi` is the ABI to check read-only against (tests pass a lower one
  // to see the refusal; see the daemon's HATCH_TEST_LANDLOCK_ABI).
  static absl::Status Check(const SandboxPolicy& policy, int landlock_abi);

  // In the forked, single-threaded child: no_new_privs, then Landlock, then seccomp. Returns
  // 0 or an errno, with *failed_step naming the call that failed. Allocates nothing.
  int Apply(const char** failed_step) const;

  const SandboxPolicy& policy() const { return policy_; }
  const SyscallFilter& filter() const { return filter_; }

 private:
  SessionSandbox(SandboxPolicy policy, SyscallFilter filter)
      : policy_(policy), filter_(std::move(filter)) {}

  SandboxPolicy policy_;
  SyscallFilter filter_;
};

}  // namespace hatch::sandbox

#endif  // HATCH_SANDBOX_SESSION_SANDBOX_H_
