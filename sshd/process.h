// Starting a session's process the way OpenSSH's session.c does: its own session and process
// group (setsid), default signal dispositions and an empty signal mask (the daemon may have
// been started with signals ignored), no fds but 0-2, and with a pty, the pty as controlling
// terminal. The process either execs a program or runs a built-in (scp, sftp) in the forked
// child, so those work with no binary in the rootfs.
#ifndef HATCH_SSHD_PROCESS_H_
#define HATCH_SSHD_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "sandbox/session_sandbox.h"

namespace hatch {

struct SpawnRequest {
  std::vector<std::string> argv;     // program and arguments; argv[0] is looked up as a path
  std::function<int()> builtin;      // if set: run in the child instead of exec; its result is the exit status
  std::vector<std::string> env;      // the whole environment, "NAME=value"
  std::string cwd;                   // working directory (falls back to "/" if unusable)
  const char* pty_slave = nullptr;   // if set: 0/1/2 are this pty's slave, made the controlling tty
  // What confines the process (sandbox/session_sandbox.h), applied in the child last, just
  // before exec or the built-in. Read-only programs (not built-ins, which answer in their
  // protocol) also print sandbox::kReadOnlyNotice on their stderr first.
  sandbox::SandboxPolicy sandbox;
  int builtin_keep_fd = -1;          // a built-in keeps this fd open too (the audit trail's, > 2)
};

// The parent's ends. With a pty, stdin/stdout are left empty (the caller owns the master)
// and stderr is empty too: a terminal merges both streams.
struct SpawnedProcess {
  pid_t pid = -1;
  UniqueFd stdin_fd;   // write end, non-blocking, close-on-exec
  UniqueFd stdout_fd;  // read end, non-blocking, close-on-exec
  UniqueFd stderr_fd;  // read end, non-blocking, close-on-exec
};

// Fails without forking when the request's sandbox cannot be prepared; a child that cannot
// apply it exits 126 after saying why on its stderr.
absl::StatusOr<SpawnedProcess> Spawn(const SpawnRequest& request);

// The user's shell as diego-sshd picks it: /bin/bash, /usr/local/bin/bash, /bin/sh, then
// bash and sh on PATH; "/bin/sh" if none is found.
std::string LocateShell(const std::string& path_env);

// Sends `sig` to the process group led by `leader` (a Spawn()ed process).
void SignalProcessGroup(pid_t leader, int sig);

// Every live (not zombie) process whose session id is one of `sids`, from /proc.
std::vector<pid_t> ProcessesInSessions(const std::vector<pid_t>& sids);

// "HUP", "KILL", ... (the SSH names, RFC 4254 §6.10) <-> signal numbers. Unknown names give
// 0; signals without a standard name give "SIG@openssh.com", as OpenSSH sends them.
int SignalFromSshName(const std::string& name);
std::string SshNameFromSignal(int sig);

}  // namespace hatch

#endif  // HATCH_SSHD_PROCESS_H_
