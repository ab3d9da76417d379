#include "sandbox/session_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "sandbox/landlock.h"

namespace hatch::sandbox {
namespace {

// One prepared sandbox per combination of the policy's two switches, kept for the process's
// life.
const SessionSandbox* prepared[2][2];

}  // namespace

absl::StatusOr<const SessionSandbox*> SessionSandbox::For(const SandboxPolicy& policy) {
  const SessionSandbox*& slot = prepared[policy.syscall_filter][policy.read_only];
  if (slot == nullptr) {
    if (policy.read_only) {
      if (absl::Status s = CheckReadOnlyAbi(KernelLandlockAbi()); !s.ok()) return s;
    }
    absl::StatusOr<SyscallFilter> filter =
        SyscallFilter::Build(policy.syscall_filter, policy.read_only);
    if (!filter.ok()) return filter.status();
    slot = new SessionSandbox(policy, std::move(*filter));
  }
  return slot;
}

absl::Status SessionSandbox::Check(const SandboxPolicy& policy, int landlock_abi) {
  if (policy.read_only) {
    if (absl::Status s = CheckReadOnlyAbi(landlock_abi); !s.ok()) return s;
  }
  absl::StatusOr<const SessionSandbox*> sandbox = For(policy);
  if (!sandbox.ok()) return sandbox.status();
  if (!policy.any()) return absl::OkStatus();
  // The child reports the failed step and its errno through a pipe.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("pipe: ", strerror(errno)));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(report[0]);
    close(report[1]);
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    close(report[0]);
    const char* step = "";
    const int err = (*sandbox)->Apply(&step);
    if (err == 0) _exit(0);
    const std::string why = absl::StrCat(step, ": ", strerror(err));
    ssize_t unused = write(report[1], why.data(), why.size());
    (void)unused;
    _exit(1);
  }
  close(report[1]);
  char buf[256];
  ssize_t n;
  while ((n = read(report[0], buf, sizeof(buf))) < 0 && errno == EINTR) {
  }
  close(report[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the session sandbox cannot be applied: ",
      n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("its test process failed")));
}

int SessionSandbox::Apply(const char** failed_step) const {
  if (!policy_.any()) return 0;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    *failed_step = "prctl(PR_SET_NO_NEW_PRIVS)";
    return errno;
  }
  if (policy_.read_only) {
    if (int err = RestrictToReadOnly(failed_step); err != 0) return err;
  }
  if (int err = filter_.Load(); err != 0) {
    *failed_step = "seccomp";
    return err;
  }
  return 0;
}

}  // namespace hatch::sandbox
