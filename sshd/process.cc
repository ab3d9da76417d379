#include "sshd/process.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/pipe_size.h"
#include "pty/pty.h"
#include "sshd/fork_secrets.h"

namespace hatch {
namespace {

struct SignalName {
  int number;
  const char* name;
};

// Every standard signal, by the name SSH uses (the name without "SIG").
constexpr SignalName kSignals[] = {
    {SIGABRT, "ABRT"}, {SIGALRM, "ALRM"}, {SIGBUS, "BUS"},   {SIGCHLD, "CHLD"},
    {SIGCONT, "CONT"}, {SIGFPE, "FPE"},   {SIGHUP, "HUP"},   {SIGILL, "ILL"},
    {SIGINT, "INT"},   {SIGKILL, "KILL"}, {SIGPIPE, "PIPE"}, {SIGPROF, "PROF"},
    {SIGQUIT, "QUIT"}, {SIGSEGV, "SEGV"}, {SIGSTOP, "STOP"}, {SIGSYS, "SYS"},
    {SIGTERM, "TERM"}, {SIGTRAP, "TRAP"}, {SIGTSTP, "TSTP"}, {SIGTTIN, "TTIN"},
    {SIGTTOU, "TTOU"}, {SIGURG, "URG"},   {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"},
    {SIGVTALRM, "VTALRM"}, {SIGWINCH, "WINCH"}, {SIGXCPU, "XCPU"}, {SIGXFSZ, "XFSZ"},
    {SIGIO, "IO"}, {SIGPWR, "PWR"}, {SIGSTKFLT, "STKFLT"},
};

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// Writes a message to fd 2 with no allocation (runs between fork and exec).
void ChildError(const char* what, const char* arg, int err) {
  const char* parts[] = {"hatch: ", what, arg, ": ", strerror(err), "\n"};
  for (const char* p : parts) {
    ssize_t unused = write(STDERR_FILENO, p, strlen(p));
    (void)unused;
  }
}

bool MakePipe(UniqueFd* read_end, UniqueFd* write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end->reset(fds[0]);
  write_end->reset(fds[1]);
  return true;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// How long a built-in may take to end after a hangup (below).
constexpr unsigned kBuiltinHangupGraceSeconds = 5;

void OnBuiltinHangup(int) { alarm(kBuiltinHangupGraceSeconds); }

// In the child: a clean process as OpenSSH's session.c makes it.
[[noreturn]] void RunChild(const SpawnRequest& r, const sandbox::SessionSandbox* confinement,
                           char* const* argv, char* const* envp, int in_fd, int out_fd,
                           int err_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
  setsid();
  if (r.pty_slave != nullptr) {
    int rc = pty::AttachControllingTerminal(r.pty_slave);
    if (rc < 0) {
      ChildError("cannot open terminal ", r.pty_slave, -rc);
      _exit(126);
    }
  } else {
    // dup2 clears FD_CLOEXEC on the copies; the originals are closed below.
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
  }
  if (r.builtin && r.builtin_keep_fd > 2) {
    // The built-in writes its file events to the audit trail itself.
    const unsigned keep = static_cast<unsigned>(r.builtin_keep_fd);
    if (keep > 3) close_range(3, keep - 1, 0);
    close_range(keep + 1, ~0U, 0);
  } else {
    close_range(3, ~0U, 0);
  }
  if (chdir(r.cwd.c_str()) != 0 && chdir("/") != 0) {
    // Nothing better to do; the process runs where it is.
  }
  if (confinement != nullptr) {
    // Last, so that everything above (opening the terminal) is done unconfined; never run a
    // session unconfined when it should not be.
    const char* step = "";
    if (int err = confinement->Apply(&step); err != 0) {
      ChildError("cannot confine the session: ", step, err);
      _exit(126);
    }
    if (r.sandbox.read_only && !r.builtin) {
      ssize_t unused = write(STDERR_FILENO, sandbox::kReadOnlyNotice,
                             sizeof(sandbox::kReadOnlyNotice) - 1);
      (void)unused;
    }
  }
  if (r.builtin) {
    // Forked without exec: drop the host key and session keys this copy of the connection
    // process holds (after close_range, see sshd/fork_secrets.h).
    ForgetSecretsInForkedChild();
    // A built-in (sftp, scp) reads the client's upload from this pipe. With the default 64 KiB
    // pipe most of the 2 MiB channel window waits in libssh's channel buffer in the
    // connection process, whose pages stay resident after the transfer's peak; a 1 MiB pipe
    // (Linux's pipe-max-size, no privilege needed) holds it in the kernel instead, and the
    // built-in reads it in larger chunks. Best effort.
    if (r.pty_slave == nullptr) GrowPipe(STDIN_FILENO);
    // A hangup (the client or the connection went away: SessionChannel::Finish) must not
    // kill a built-in mid-file: the connection closes the built-in's pipes at the same
    // moment, so it reads EOF or fails a write (EPIPE, not SIGPIPE) and ends on its own,
    // reporting the files it had open to the audit trail. SIGALRM's default action ends one
    // stuck in a file operation (a FIFO, a hung mount) kBuiltinHangupGraceSeconds later.
    signal(SIGPIPE, SIG_IGN);
    struct sigaction hangup {};
    hangup.sa_handler = &OnBuiltinHangup;
    sigemptyset(&hangup.sa_mask);
    sigaction(SIGHUP, &hangup, nullptr);
    int status = r.builtin();
    _exit(status);
  }
  execve(argv[0], argv, envp);
  int err = errno;
  ChildError("cannot run ", argv[0], err);
  _exit(err == ENOENT ? 127 : 126);
}

}  // namespace

absl::StatusOr<SpawnedProcess> Spawn(const SpawnRequest& r) {
  if (!r.builtin && r.argv.empty()) return absl::InvalidArgumentError("nothing to run");
  // Everything the child needs is prepared before fork.
  std::vector<char*> argv;
  for (const std::string& a : r.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : r.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  const sandbox::SessionSandbox* confinement = nullptr;
  if (r.sandbox.any()) {
    absl::StatusOr<const sandbox::SessionSandbox*> prepared =
        sandbox::SessionSandbox::For(r.sandbox);
    if (!prepared.ok()) return prepared.status();
    confinement = *prepared;
  }

  SpawnedProcess p;
  UniqueFd child_in, child_out, child_err;
  if (r.pty_slave == nullptr) {
    if (!MakePipe(&child_in, &p.stdin_fd) || !MakePipe(&p.stdout_fd, &child_out) ||
        !MakePipe(&p.stderr_fd, &child_err)) {
      return absl::ResourceExhaustedError(absl::StrCat("pipe: ", strerror(errno)));
    }
  }
  pid_t pid = fork();
  if (pid < 0) return absl::ResourceExhaustedError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    RunChild(r, confinement, argv.data(), envp.data(), child_in.get(), child_out.get(),
             child_err.get());
  }
  p.pid = pid;
  for (UniqueFd* fd : {&p.stdin_fd, &p.stdout_fd, &p.stderr_fd}) {
    if (fd->valid()) SetNonBlocking(fd->get());
  }
  return p;
}

std::string LocateShell(const std::string& path_env) {
  for (const char* shell : {"/bin/bash", "/usr/local/bin/bash", "/bin/sh"}) {
    if (IsExecutableFile(shell)) return shell;
  }
  for (const char* name : {"bash", "sh"}) {
    for (absl::string_view dir : absl::StrSplit(path_env, ':', absl::SkipEmpty())) {
      std::string candidate = absl::StrCat(dir, "/", name);
      if (IsExecutableFile(candidate)) return candidate;
    }
  }
  return "/bin/sh";
}

void SignalProcessGroup(pid_t leader, int sig) {
  // Until the child has run setsid() its group does not exist yet; signal the child itself.
  if (kill(-leader, sig) != 0 && errno == ESRCH) kill(leader, sig);
}

std::vector<pid_t> ProcessesInSessions(const std::vector<pid_t>& sids) {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = readdir(proc)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    // /proc/<pid>/stat: "pid (comm) state ppid pgrp session ..."; comm may hold spaces and
    // parentheses, so fields are counted after its last ')'.
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    char buf[512];
    const ssize_t n = read(fd.get(), buf, sizeof buf - 1);
    if (n <= 0) continue;
    buf[n] = '\0';
    const char* paren = strrchr(buf, ')');
    char state = 0;
    int ppid = 0, pgrp = 0, session = 0;
    if (paren == nullptr || sscanf(paren + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4) {
      continue;
    }
    if (state == 'Z') continue;
    if (std::find(sids.begin(), sids.end(), session) != sids.end()) out.push_back(pid);
  }
  closedir(proc);
  return out;
}

int SignalFromSshName(const std::string& name) {
  for (const SignalName& s : kSignals) {
    if (name == s.name) return s.number;
  }
  return 0;
}

std::string SshNameFromSignal(int sig) {
  for (const SignalName& s : kSignals) {
    if (sig == s.number) return s.name;
  }
  // RFC 4254 §6.10 wants "name@domain" for anything else; this is what OpenSSH sends.
  return "SIG@openssh.com";
}

}  // namespace hatch
