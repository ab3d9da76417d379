// Landlock for read-only sessions: the kernel refuses every change to the filesystem
// (creating, writing, truncating, removing, renaming, linking files, directories, fifos,
// sockets and device nodes, everywhere) except writes to terminals and to /dev/null and its
// kind; the process cannot bind TCP ports nor signal processes outside its own Landlock
// domain (the session). Raw system calls: no library.
#ifndef HATCH_SANDBOX_LANDLOCK_H_
#define HATCH_SANDBOX_LANDLOCK_H_

#include "absl/status/status.h"

namespace hatch::sandbox {

// ABI 6 (Linux 6.12): the first with signal scoping. ABI 3 (6.2) would be enough for the
// filesystem (it adds TRUNCATE; before it, truncate(2) is not controlled), but without signal
// scoping a "read-only" session could still kill the app.
constexpr int kReadOnlyMinimumAbi = 6;

// The running kernel's Landlock ABI version; 0 when Landlock is not built in or not enabled
// (lsm= boot parameter), or when the container's seccomp profile refuses its system calls.
int KernelLandlockAbi();

// OK when a kernel with Landlock ABI `abi` can enforce read-only sessions; otherwise an error
// naming what is missing, fit for a start-up error line.
absl::Status CheckReadOnlyAbi(int abi);

// In a forked, single-threaded child that has set PR_SET_NO_NEW_PRIVS, on a kernel that
// passed CheckReadOnlyAbi: restricts this process and everything it starts. Paths that do
// not exist in the rootfs (a missing /dev/full) are skipped. Returns 0 or an errno, with
// *failed_step naming the call that failed. Allocates nothing.
int RestrictToReadOnly(const char** failed_step);

}  // namespace hatch::sandbox

#endif  // HATCH_SANDBOX_LANDLOCK_H_
