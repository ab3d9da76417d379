// Runs a probe in a forked child under a session sandbox, as a session's process would be.
#ifndef HATCH_TESTS_SANDBOX_CONFINED_H_
#define HATCH_TESTS_SANDBOX_CONFINED_H_

#include <functional>

#include "sandbox/session_sandbox.h"

namespace hatch::sandbox {

// Forks; the child applies `policy` (none if it is empty), runs `probe` and exits with what
// it returns: 0 for success, else an errno. Returns that value, or -1 if the child failed to
// apply the sandbox or died.
int RunConfined(const SandboxPolicy& policy, const std::function<int()>& probe);

// A system call's outcome as a probe returns it: 0, or the errno it failed with.
inline int Outcome(long rc) { return rc < 0 ? errno : 0; }

inline constexpr SandboxPolicy kNone{};
inline constexpr SandboxPolicy kBaseline{.syscall_filter = true};
inline constexpr SandboxPolicy kReadOnly{.syscall_filter = true, .read_only = true};

}  // namespace hatch::sandbox

#endif  // HATCH_TESTS_SANDBOX_CONFINED_H_
