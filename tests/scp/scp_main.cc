// hatch-scp: serves one `scp -t/-f` the way the daemon's session child does, on fds 0/1/2.
// Its arguments are the exec request's command, joined with spaces as ssh joins its own.
// HATCH_SCP_HOME sets ScpOptions::home, HATCH_SCP_READ_ONLY=1 sets read_only. Used by the
// end-to-end tests as the remote side of `scp -O -S fake-ssh`.
#include <stdio.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "sshd/scp/scp.h"

int main(int argc, char** argv) {
  std::string command = absl::StrJoin(argv + 1, argv + argc, " ");
  std::vector<std::string> args;
  if (!hatch::scp::ParseScpCommand(command, &args)) {
    fprintf(stderr, "hatch-scp: not an scp -t/-f command: %s\n", command.c_str());
    return 127;
  }
  hatch::scp::ScpOptions options;
  if (const char* home = getenv("HATCH_SCP_HOME")) options.home = home;
  const char* read_only = getenv("HATCH_SCP_READ_ONLY");
  options.read_only = read_only != nullptr && std::string(read_only) == "1";
  return hatch::scp::RunScp(args, 0, 1, 2, options);
}
