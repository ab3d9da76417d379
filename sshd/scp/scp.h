// hatch's built-in legacy scp (the `scp -t` / `scp -f` side of `scp -O`), so file copies work
// in a container whose rootfs has no scp binary.
//
// The daemon recognises the exec request with ParseScpCommand, forks, and in the child calls
// RunScp on the channel's pipes instead of exec'ing a shell. This module knows nothing of SSH:
// it speaks OpenSSH's rcp-style protocol (see OpenSSH scp.c: source(), sink(), response()) on
// plain blocking fds.
#ifndef HATCH_SSHD_SCP_SCP_H_
#define HATCH_SSHD_SCP_SCP_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "sshd/file_observer.h"

namespace hatch::scp {

// True when `command` (an exec request's string) is an `scp ... -t|-f ...` invocation hatch
// serves itself; then *args holds its words (args[0] is the program word, "scp" or a path
// ending in "/scp"), split and unquoted as /bin/sh would for what scp clients send: blanks,
// single quotes, double quotes and backslashes. Commands using anything else a shell would
// interpret ($, `, ;, |, &, <, >, (, ), #, newlines) are not served: false, the daemon runs
// them through the shell as usual. *args may be modified even when false is returned.
bool ParseScpCommand(absl::string_view command, std::vector<std::string>* args);

struct ScpOptions {
  // Directory relative paths resolve from, and what a leading "~" means. Empty: the current
  // working directory.
  std::string home;
  // Sink mode (-t) refuses with "Read-only file system"; source mode (-f) still works.
  bool read_only = false;
  // Audit events (sshd/file_observer.h): one per file received or sent, mkdir; not owned.
  FileObserver* observer = nullptr;
};

// Runs the scp protocol on the fds: sink for -t, source for -f, with -r, -p, -d, -v, -q as
// OpenSSH's scp. Protocol data is read from in_fd and written to out_fd; usage errors and -v
// diagnostics go to err_fd. Source operands are globbed (glob(3)) when they name no existing
// file. Returns the exit status scp would: 0 on success, 1 after any error.
//
// Takes no ownership of the fds. While it runs, the process's working directory is
// options.home (restored before returning), so it must not run concurrently with other code
// that depends on the working directory; in the daemon it runs alone in a forked child.
// Writing to a closed out_fd raises SIGPIPE as for any program, unless the caller ignores it.
int RunScp(const std::vector<std::string>& args, int in_fd, int out_fd, int err_fd,
           const ScpOptions& options);

}  // namespace hatch::scp

#endif  // HATCH_SSHD_SCP_SCP_H_
