#include "sshd/name_lookup.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "sshd/fork_secrets.h"

namespace hatch {
namespace {

// The child's answer on the pipe: 'A' + sockaddr_storage per address, or 'E' + message.
struct LookupState {
  std::string out;
  bool done = false;
};

void OnAddrInfo(void* arg, int status, int /*timeouts*/, struct ares_addrinfo* result) {
  auto* state = static_cast<LookupState*>(arg);
  state->done = true;
  if (status != ARES_SUCCESS || result == nullptr) {
    state->out = absl::StrCat("E", ares_strerror(status));
    if (result != nullptr) ares_freeaddrinfo(result);
    return;
  }
  for (ares_addrinfo_node* n = result->nodes; n != nullptr; n = n->ai_next) {
    if (n->ai_addr == nullptr || n->ai_addrlen > sizeof(sockaddr_storage)) continue;
    sockaddr_storage ss{};
    memcpy(&ss, n->ai_addr, n->ai_addrlen);
    state->out.push_back('A');
    state->out.append(reinterpret_cast<const char*>(&ss), sizeof ss);
  }
  if (state->out.empty()) state->out = "Eno address for host";
  ares_freeaddrinfo(result);
}

[[noreturn]] void RunLookupChild(int out_fd, const std::string& host, uint16_t port) {
  // Only the result pipe stays open (and 0-2): a copy of the connection's other fds (other
  // sessions' pipes and pty masters, tunnel sockets, -R listeners) held here for the
  // lookup's seconds would delay their EOFs and hangups.
  if (out_fd > 3) close_range(3, static_cast<unsigned>(out_fd) - 1, 0);
  close_range(static_cast<unsigned>(out_fd) + 1, ~0U, 0);
  // Forked without exec, and it parses DNS replies: no host key or session keys in here
  // (after close_range, as in a forked built-in: see sshd/fork_secrets.h).
  ForgetSecretsInForkedChild();
  LookupState state;
  ares_channel channel = nullptr;
  ares_options options{};
  options.timeout = 2000;  // ms per try
  options.tries = 2;
  if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS ||
      ares_init_options(&channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS) {
    state.out = "Ecannot start the resolver";
  } else {
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NUMERICSERV;  // the port is a number: no services database
    std::string service = std::to_string(port);
    ares_getaddrinfo(channel, host.c_str(), service.c_str(), &hints, &OnAddrInfo, &state);
    while (!state.done) {
      fd_set r, w;
      FD_ZERO(&r);
      FD_ZERO(&w);
      int nfds = ares_fds(channel, &r, &w);
      if (nfds == 0) break;
      timeval tv{};
      timeval* tvp = ares_timeout(channel, nullptr, &tv);
      select(nfds, &r, &w, nullptr, tvp);
      ares_process(channel, &r, &w);
    }
    if (!state.done) state.out = "Elookup did not complete";
  }
  const char* p = state.out.data();
  size_t left = state.out.size();
  while (left > 0) {
    ssize_t n = write(out_fd, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
  _exit(0);
}

}  // namespace

absl::StatusOr<std::unique_ptr<NameLookup>> NameLookup::Start(const std::string& host,
                                                              uint16_t port) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::ResourceExhaustedError(strerror(errno));
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = fork();
  if (pid < 0) return absl::ResourceExhaustedError(strerror(errno));
  if (pid == 0) {
    read_end.reset();
    RunLookupChild(write_end.get(), host, port);
  }
  fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  return std::unique_ptr<NameLookup>(new NameLookup(std::move(read_end), pid));
}

NameLookup::~NameLookup() {
  if (child_ > 0) kill(child_, SIGKILL);  // harmless if it already exited; reaped by the connection
}

absl::StatusOr<std::vector<sockaddr_storage>> NameLookup::Read() {
  char buf[4096];
  while (true) {
    ssize_t n = read(pipe_.get(), buf, sizeof buf);
    if (n > 0) {
      received_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return absl::UnavailableError("lookup in progress");
    }
    break;  // EOF: the child is done
  }
  child_ = -1;
  if (received_.empty()) return absl::NotFoundError("name lookup failed");
  if (received_[0] == 'E') return absl::NotFoundError(received_.substr(1));
  std::vector<sockaddr_storage> out;
  const size_t record = 1 + sizeof(sockaddr_storage);
  for (size_t off = 0; off + record <= received_.size(); off += record) {
    sockaddr_storage ss;
    memcpy(&ss, received_.data() + off + 1, sizeof ss);
    out.push_back(ss);
  }
  return out;
}

}  // namespace hatch
