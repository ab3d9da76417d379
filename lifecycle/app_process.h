// The environment of a running app process, for apps that have no droplet metadata (Docker
// images): what its /proc/<pid>/environ and /proc/<pid>/cwd say.
//
// Which process is the app, when none is named: the oldest process (by start time, then pid)
// of the calling user that is not part of hatch. "Part of hatch" is a process whose name
// (/proc/<pid>/comm) is diego-sshd, shell or launcher, everything below such a process (the
// shells and commands of ssh sessions), and the caller and its ancestors. Processes of other
// users (the runtime's init, root daemons) never qualify.
#ifndef HATCH_LIFECYCLE_APP_PROCESS_H_
#define HATCH_LIFECYCLE_APP_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hatch::lifecycle {

struct AppProcess {
  pid_t pid = 0;
  std::vector<std::string> environ;  // "NAME=value" entries, in the process's order
  std::string cwd;                   // its working directory (absolute)
};

// The pid of the app process as described above, for the processes of `uid` under
// `proc_root` (normally "/proc"). NotFound, naming the uid, when there is none.
absl::StatusOr<pid_t> FindAppProcess(uid_t uid, const std::string& proc_root = "/proc");

// Reads pid's environment and working directory. Errors name the pid and the cause
// (no such process, permission denied: another user's or a non-dumpable process).
absl::StatusOr<AppProcess> ReadAppProcess(pid_t pid, const std::string& proc_root = "/proc");

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_APP_PROCESS_H_
