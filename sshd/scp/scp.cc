// RunScp: the command line of `scp -t/-f` (OpenSSH scp.c main(), server flags only), then the
// sink or the source.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"
#include "sshd/scp/peer.h"
#include "sshd/scp/scp.h"
#include "sshd/scp/sink.h"
#include "sshd/scp/source.h"
#include "sshd/scp/transfer.h"

namespace hatch::scp {
namespace {

constexpr absl::string_view kUsage =
    "usage: scp -t [-dpqrv] [--] target\n"
    "       scp -f [-pqrv] [--] source ...\n";

struct ScpCommandLine {
  bool sink = false;    // -t
  bool source = false;  // -f
  TransferFlags flags;
  std::vector<std::string> operands;
};

// getopt-style: clustered flags ("-rpt"), "--" ends the options, so does the first operand.
// On an unknown flag returns false with *bad set to it.
bool ParseCommandLine(const std::vector<std::string>& args, ScpCommandLine* out, char* bad) {
  size_t i = 1;
  for (; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--") {
      ++i;
      break;
    }
    if (word.size() < 2 || word[0] != '-') break;
    for (char c : word.substr(1)) {
      switch (c) {
        case 't': out->sink = true; break;
        case 'f': out->source = true; break;
        case 'r': out->flags.recursive = true; break;
        case 'p': out->flags.preserve = true; break;
        case 'd': out->flags.target_must_be_dir = true; break;
        case 'v': out->flags.verbose = true; break;
        case 'q': break;  // no progress meter is ever shown on this side
        case 'T': break;  // a client-side flag (no file name checks); harmless here
        default:
          *bad = c;
          return false;
      }
    }
  }
  out->operands.assign(args.begin() + static_cast<std::ptrdiff_t>(std::min(i, args.size())),
                       args.end());
  return true;
}

// The shell's tilde expansion for "~" and "~/..." (what clients send for remote home paths).
std::string ExpandTilde(const std::string& path, const std::string& home) {
  if (home.empty()) return path;
  if (path == "~") return home;
  if (path.rfind("~/", 0) == 0) return absl::StrCat(home, path.substr(1));
  return path;
}

// Changes the working directory for its lifetime, returning to the old one afterwards.
class ScopedWorkingDirectory {
 public:
  ScopedWorkingDirectory() : saved_(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}
  ~ScopedWorkingDirectory() {
    if (entered_ && saved_) (void)::fchdir(saved_.get());
  }
  ScopedWorkingDirectory(const ScopedWorkingDirectory&) = delete;
  ScopedWorkingDirectory& operator=(const ScopedWorkingDirectory&) = delete;

  bool Enter(const std::string& dir) {
    entered_ = ::chdir(dir.c_str()) == 0;
    return entered_;
  }

 private:
  UniqueFd saved_;
  bool entered_ = false;
};

}  // namespace

int RunScp(const std::vector<std::string>& args, int in_fd, int out_fd, int err_fd,
           const ScpOptions& options) {
  ScpCommandLine command;
  char bad = 0;
  bool parsed = ParseCommandLine(args, &command, &bad);
  ScpPeer peer(in_fd, out_fd, err_fd, command.flags.verbose);
  if (!parsed) {
    peer.Diagnose(absl::StrCat("scp: unknown option -- ", absl::string_view(&bad, 1), "\n",
                               kUsage));
    return 1;
  }
  if (command.sink == command.source) {
    peer.Diagnose(absl::StrCat("scp: exactly one of -t and -f is needed\n", kUsage));
    return 1;
  }
  ScopedWorkingDirectory cwd;
  if (!options.home.empty() && !cwd.Enter(options.home)) {
    peer.SendError(absl::StrCat(options.home, ": ", strerror(errno)));
    return 1;
  }
  for (std::string& operand : command.operands) {
    operand = ExpandTilde(operand, options.home);
  }

  command.flags.observer = options.observer;
  bool completed;
  if (command.sink) {
    if (options.read_only) {
      std::string target = command.operands.empty() ? "." : command.operands[0];
      peer.SendError(absl::StrCat(target, ": ", strerror(EROFS)));
      return 1;
    }
    completed = ScpSink(&peer, command.flags).Run(command.operands);
  } else {
    // The peer (a sink) starts with a "\0" when it is ready.
    completed = peer.ReadReply() != ScpPeer::Reply::kFatal &&
                ScpSource(&peer, command.flags).Run(command.operands);
  }
  return completed && peer.errors() == 0 ? 0 : 1;
}

}  // namespace hatch::scp
