#include "sshd/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sshd/event_loop.h"
#include "sshd/log.h"
#include "sshd/memory.h"
#include "sshd/net.h"

namespace hatch {
absl::StatusOr<UniqueFd> Listen(const std::string& address) {
  auto fail = [&](absl::string_view why) {
    return absl::UnavailableError(absl::StrCat("listen tcp ", address, ": ", why));
  };
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return fail("missing port (want host:port)");
  const std::string host = address.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return fail("invalid port");
  }
  absl::StatusOr<sockaddr_storage> ss = AnyAddress(static_cast<uint16_t>(port));
  if (!host.empty()) ss = ParseIpLiteral(host, static_cast<uint16_t>(port));
  if (!ss.ok()) return fail("host must be an IP address or localhost");
  absl::StatusOr<UniqueFd> fd = ListenTcp(*ss);
  if (!fd.ok()) return fail(fd.status().message());
  return fd;
}

Listener::Listener(const ServerState* state, UniqueFd listen_fd)
    : state_(state), listen_fd_(std::move(listen_fd)) {}

int Listener::Run() {
  signal_fd_ = BlockedSignalFd({SIGCHLD, SIGTERM, SIGINT, SIGHUP});
  signal(SIGPIPE, SIG_IGN);
  // What users leave running when their connection ends (nohup, setsid, tmux's server) is
  // re-parented here rather than to the container's init, which may be an app that never
  // reaps (a Docker image without an init); Reap() collects it. hatch as PID 1 does anyway.
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  LogInfo("started", {{"address", LocalAddressOf(listen_fd_.get()).ToString()}});
  // Start-up (OpenSSL, libssh and flag initialisation) touched megabytes of program text the
  // idle listener never runs again. After the "started" line, whose formatting and logging
  // code would otherwise fault back in and stay; for a moment after that
  // line the listener holds an fd on /proc/self/smaps.
  ReleaseUnusedCodePages();

  while (true) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {signal_fd_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[1].revents & POLLIN) {
      bool stop = false;
      signalfd_siginfo info;
      while (read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
        if (info.ssi_signo != SIGCHLD) stop = true;
      }
      Reap();
      if (stop) break;
    }
    if (fds[0].revents & POLLIN) Accept();
  }
  Shutdown();
  return 0;
}

void Listener::Accept() {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  UniqueFd fd(accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
  if (!fd) return;  // the client gave up already, or fds ran out: keep serving
  const std::string peer_name = HostPortOf(peer).ToString();
  if (static_cast<int>(connections_.size()) >= state_->config->max_connections) {
    LogError("connection.refused", {{"peer", peer_name}, {"reason", "too many connections"}});
    return;
  }
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  pid_t pid = fork();
  if (pid < 0) {
    LogError("connection.fork-failed", {{"peer", peer_name}, {"error", strerror(errno)}});
    return;
  }
  if (pid == 0) {
    listen_fd_.reset();
    signal_fd_.reset();
    int status;
    {
      Connection connection(state_, std::move(fd), peer_name);
      status = connection.Run();
    }
    _exit(status);
  }
  connections_.insert(pid);
}

void Listener::Reap() {
  // Connection processes, and any adopted process that outlived its session.
  pid_t pid;
  while ((pid = waitpid(-1, nullptr, WNOHANG)) > 0) connections_.erase(pid);
}

void Listener::Shutdown() {
  listen_fd_.reset();  // stop accepting
  LogInfo("stopping", {{"connections", connections_.size()}});
  for (pid_t pid : connections_) kill(pid, SIGTERM);
  // Each connection gives its attached sessions -killGraceTime after SIGHUP; allow that and a
  // margin.
  const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(state_->config->kill_grace_time)) + 3000;
  for (int waited = 0; !connections_.empty() && waited < wait_ms; waited += 10) {
    Reap();
    if (!connections_.empty()) usleep(10 * 1000);
  }
  for (pid_t pid : connections_) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  // Adopted survivors are not waited for: they were left running on purpose, and pass to the
  // container's init when this process exits.
  Reap();
  LogInfo("stopped");
}

}  // namespace hatch
