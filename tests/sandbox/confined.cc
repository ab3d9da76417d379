#include "tests/sandbox/confined.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace hatch::sandbox {

int RunConfined(const SandboxPolicy& policy, const std::function<int()>& probe) {
  absl::StatusOr<const SessionSandbox*> sandbox = SessionSandbox::For(policy);
  if (!sandbox.ok()) return -1;
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const char* step = "";
    if ((*sandbox)->Apply(&step) != 0) _exit(255);
    _exit(probe() & 0xff);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) return -1;
  return WEXITSTATUS(status);
}

}  // namespace hatch::sandbox
