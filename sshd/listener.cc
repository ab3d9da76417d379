#include "sshd/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sshd/log.h"
#include "sshd/memory.h"

namespace hatch {
namespace {

std::string PeerString(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof host);
    }
  }
  return absl::StrCat(host, ":", port);
}

}  // namespace

absl::StatusOr<UniqueFd> Listen(const std::string& address) {
  auto fail = [&](absl::string_view why) {
    return absl::UnavailableError(absl::StrCat("listen tcp ", address, ": ", why));
  };
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return fail("missing port (want host:port)");
  std::string host = address.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return fail("invalid port");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";

  sockaddr_storage ss{};
  socklen_t len = 0;
  bool dual_stack = false;
  if (host.empty()) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_any;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *in6;
    dual_stack = true;
  } else if (auto* in = reinterpret_cast<sockaddr_in*>(&ss);
             inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *in;
  } else if (auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
             inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *in6;
  } else {
    return fail("host must be an IP address or localhost");
  }

  UniqueFd fd(socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd && dual_stack && errno == EAFNOSUPPORT) {
    // No IPv6 in this container: every IPv4 interface instead.
    ss = {};
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *in;
    dual_stack = false;
    fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  if (!fd) return fail(strerror(errno));
  int one = 1, zero = 0;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (dual_stack) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return fail(strerror(errno));
  if (listen(fd.get(), 128) != 0) return fail(strerror(errno));
  return fd;
}

namespace {

PreauthLimits LimitsOf(const Config& c) {
  PreauthLimits l;
  l.max_connections = c.max_connections;
  l.startups = c.max_startups;
  // Below -maxConnections the total limit comes first anyway.
  l.startups.full = std::min(l.startups.full, c.max_connections);
  l.startups.start = std::min(l.startups.start, l.startups.full);
  l.per_source = c.per_source_max_startups;
  l.exempt = c.preauth_exempt;
  return l;
}

}  // namespace

Listener::Listener(const ServerState* state, UniqueFd listen_fd)
    : state_(state),
      listen_fd_(std::move(listen_fd)),
      budget_(LimitsOf(*state->config)),
      refusals_("connection.refused", state->config->refusal_log_interval),
      expiries_("connection.preauth-expired", state->config->refusal_log_interval) {}

int Listener::Run() {
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, sig);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal_fd_.reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<AuthReportSockets> report = MakeAuthReportSockets();
  if (!report.ok()) {
    LogError("listener.failed", {{"error", std::string(report.status().message())}});
    return 1;
  }
  report_fd_ = std::move(report->listener_end);
  report_child_fd_ = std::move(report->child_end);

  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&local), &local_len);
  LogInfo("started", {{"address", PeerString(local)}});
  // Start-up (OpenSSL, libssh and flag initialisation) touched megabytes of program text the
  // idle listener never runs again. After the "started" line, whose formatting and logging
  // code would otherwise fault back in and stay (about 0.4 MiB); for a moment after that
  // line the listener holds an fd on /proc/self/smaps.
  ReleaseUnusedCodePages();

  while (true) {
    pollfd fds[3] = {{listen_fd_.get(), POLLIN, 0},
                     {signal_fd_.get(), POLLIN, 0},
                     {report_fd_.get(), POLLIN, 0}};
    if (poll(fds, 3, PollTimeoutMs()) < 0 && errno != EINTR) break;
    // Reports before reaping: a pid is only reused once reaped, so a report is never
    // credited to the wrong connection.
    if (fds[2].revents & POLLIN) ReadReports();
    if (fds[1].revents & POLLIN) {
      bool stop = false;
      signalfd_siginfo info;
      while (read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
        if (info.ssi_signo != SIGCHLD) stop = true;
      }
      ReadReports();
      Reap();
      if (stop) break;
    }
    if (fds[0].revents & POLLIN) Accept();
    const absl::Time now = absl::Now();
    refusals_.Flush(now);
    expiries_.Flush(now);
  }
  Shutdown();
  return 0;
}

int Listener::PollTimeoutMs() const {
  const absl::Time next = std::min(refusals_.NextFlush(), expiries_.NextFlush());
  if (next == absl::InfiniteFuture()) return -1;
  const int64_t ms = absl::ToInt64Milliseconds(next - absl::Now()) + 1;
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 60 * 1000));
}

void Listener::Accept() {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  UniqueFd fd(accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
  if (!fd) return;  // the client gave up already, or fds ran out: keep serving
  const std::string peer_name = PeerString(peer);
  const PeerAddress address = PeerAddressOf(peer);
  const PreauthBudget::Verdict verdict =
      budget_.Admit(address, static_cast<int>(arc4random_uniform(100)));
  if (verdict != PreauthBudget::Verdict::kAccept) {
    // Closed before any byte: the client sees the connection closed without a banner.
    refusals_.Note(VerdictName(verdict), peer_name, absl::Now());
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
    report_fd_.reset();
    SetAuthReportFd(std::move(report_child_fd_));
    int status;
    {
      Connection connection(state_, std::move(fd), peer_name);
      status = connection.Run();
    }
    _exit(status);
  }
  budget_.Add(pid, address);
}

void Listener::ReadReports() {
  std::vector<pid_t> pids;
  ReadAuthReports(report_fd_.get(), &pids);
  for (pid_t pid : pids) budget_.Authenticated(pid);
}

void Listener::Reap() {
  pid_t pid;
  int status = 0;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    const bool unauthenticated = budget_.Remove(pid);
    // SIGALRM ends a connection process at -preauthTimeout or -loginGraceTime.
    if (unauthenticated && WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
      expiries_.Note("deadline", "", absl::Now());
    }
  }
}

void Listener::Shutdown() {
  listen_fd_.reset();  // stop accepting
  refusals_.Flush(absl::InfiniteFuture());
  expiries_.Flush(absl::InfiniteFuture());
  LogInfo("stopping", {{"connections", budget_.total()}});
  for (pid_t pid : budget_.pids()) kill(pid, SIGTERM);
  // Each connection gives its sessions -killGraceTime after SIGHUP; allow that and a margin.
  const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(state_->config->kill_grace_time)) + 3000;
  for (int waited = 0; budget_.total() > 0 && waited < wait_ms; waited += 10) {
    Reap();
    if (budget_.total() > 0) usleep(10 * 1000);
  }
  for (pid_t pid : budget_.pids()) kill(pid, SIGKILL);
  while (waitpid(-1, nullptr, 0) > 0) {
  }
  LogInfo("stopped");
}

}  // namespace hatch
