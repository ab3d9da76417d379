#include "tests/sshd/core_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "lifecycle/app_launch.h"
#include "sshd/algorithms.h"
#include "sshd/keys.h"
#include "sshd/session_channel.h"
#include "sshd/tcp_forward.h"

namespace hatch::testing {
namespace {

// Serves one direct-tcpip channel with a TcpTunnel, as DirectTcpipChannel does once connected.
class TunnelHandler : public ChannelHandler {
 public:
  TunnelHandler(ConnectionContext* ctx, SshChannel channel, UniqueFd socket)
      : ChannelHandler(Kind::kDirectTcpip),
        channel_(channel.get()),
        tunnel_(ctx, std::move(channel), std::move(socket)) {}

  ssh_channel channel() const override { return tunnel_.finished() ? nullptr : channel_; }
  void Poll() override { tunnel_.Poll(); }
  bool Finished() const override { return tunnel_.finished(); }
  void Hangup() override { tunnel_.Close(); }

 private:
  ssh_channel channel_;
  TcpTunnel tunnel_;
};

}  // namespace

// ---------------------------------------------------------------- ClientChannel

ClientChannel::ClientChannel(SshChannel channel) : channel_(std::move(channel)) {
  callbacks_.userdata = this;
  callbacks_.channel_data_function = &ClientChannel::OnData;
  callbacks_.channel_eof_function = &ClientChannel::OnEof;
  callbacks_.channel_close_function = &ClientChannel::OnClose;
  callbacks_.channel_exit_status_function = &ClientChannel::OnExitStatus;
  ssh_callbacks_init(&callbacks_);
  ssh_set_channel_callbacks(channel_.get(), &callbacks_);
}

ClientChannel::~ClientChannel() { ssh_remove_channel_callbacks(channel_.get(), &callbacks_); }

int ClientChannel::OnData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                          void* self_ptr) {
  auto* self = static_cast<ClientChannel*>(self_ptr);
  if (self->paused_) return 0;
  (is_stderr ? self->extended_ : self->data_).append(static_cast<const char*>(data), len);
  return static_cast<int>(len);
}

void ClientChannel::OnEof(ssh_session, ssh_channel, void* self_ptr) {
  auto* self = static_cast<ClientChannel*>(self_ptr);
  self->eof_ = true;
  self->data_at_eof_ = self->data_.size();
}

void ClientChannel::OnClose(ssh_session, ssh_channel, void* self_ptr) {
  static_cast<ClientChannel*>(self_ptr)->closed_ = true;
}

void ClientChannel::OnExitStatus(ssh_session, ssh_channel, int status, void* self_ptr) {
  auto* self = static_cast<ClientChannel*>(self_ptr);
  self->exit_status_ = status;
  self->data_at_exit_ = self->data_.size();
}

void ClientChannel::Resume() {
  paused_ = false;
  // What libssh held while paused comes first; data arriving meanwhile goes through OnData
  // (which sees the whole buffer), so the order is kept either way.
  char buf[64 * 1024];
  for (bool is_stderr : {false, true}) {
    int n;
    while ((n = ssh_channel_read_nonblocking(channel_.get(), buf, sizeof buf, is_stderr)) > 0) {
      (is_stderr ? extended_ : data_).append(buf, static_cast<size_t>(n));
    }
  }
}

void ClientChannel::Flush() {
  if (written_ < out_.size() && ssh_channel_is_open(channel_.get())) {
    const size_t len = std::min<size_t>(out_.size() - written_, 1 << 20);
    const int n = ssh_channel_write(channel_.get(), out_.data() + written_, static_cast<uint32_t>(len));
    if (n > 0) written_ += static_cast<size_t>(n);
  }
  if (eof_wanted_ && !eof_sent_ && all_written() && ssh_channel_is_open(channel_.get())) {
    if (ssh_channel_send_eof(channel_.get()) == SSH_OK) eof_sent_ = true;
  }
}

// ---------------------------------------------------------------- CoreHarness

CoreHarness::CoreHarness() {
  base_env_.vars = {{"PATH", "/bin:/usr/bin"}, {"LANG", "C"}};
  base_env_.home = "/";
  base_env_.user = "test";
}

CoreHarness::~CoreHarness() {
  // Server channels and client channels before their sessions; sessions leave their events
  // before either is freed.
  pending_.clear();
  handlers_.clear();
  accepted_tunnels_.clear();
  new_tunnels_.clear();
  client_channels_.clear();
  if (server_event_ && server_) ssh_event_remove_session(server_event_.get(), server_.get());
  if (client_event_ && client_) ssh_event_remove_session(client_event_.get(), client_.get());
  server_event_.reset();
  client_event_.reset();
  server_.reset();
  client_.reset();
  // Whatever a test left running is not a zombie of the test binary.
  for (auto& [pid, owner] : children_) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
}

namespace {

// fds[0]: the accepted end (TCP_NODELAY, as the listener sets it), fds[1]: the connecting end;
// both non-blocking, on 127.0.0.1.
absl::Status LoopbackTcpPair(int fds[2]) {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!listener.valid() || bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(listener.get(), 1) != 0 ||
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("listen: ", strerror(errno)));
  }
  UniqueFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!client.valid() || connect(client.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return absl::InternalError(absl::StrCat("connect: ", strerror(errno)));
  }
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!server.valid()) return absl::InternalError(absl::StrCat("accept: ", strerror(errno)));
  const int one = 1;
  setsockopt(server.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (int fd : {server.get(), client.get()}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fds[0] = server.release();
  fds[1] = client.release();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoreHarness>> CoreHarness::Connect(const Options& options) {
  std::unique_ptr<CoreHarness> h(new CoreHarness());
  if (absl::Status s = h->Handshake(options); !s.ok()) return s;
  return h;
}

absl::Status CoreHarness::Handshake(const Options& options) {
  ssh_init();
  // As the listener: a write to a target that went away is an EPIPE, not the end of us.
  signal(SIGPIPE, SIG_IGN);
  int fds[2];
  // Non-blocking: with a blocking fd even a non-blocking session blocks in send() while its
  // peer does not read (and here the peer runs on the same thread).
  if (options.tcp) {
    if (absl::Status s = LoopbackTcpPair(fds); !s.ok()) return s;
  } else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError(absl::StrCat("socketpair: ", strerror(errno)));
  }
  // Each session owns its end from here on (libssh closes it when the session is freed).
  const int server_fd = fds[0];
  const int client_fd = fds[1];

  absl::StatusOr<SshKey> key = LoadHostKey("");
  if (!key.ok()) return key.status();
  absl::StatusOr<AlgorithmPolicy> policy = BuildAlgorithmPolicy(config_, key->get());
  if (!policy.ok()) return policy.status();
  bind_.reset(ssh_bind_new());
  if (ssh_bind_options_set(bind_.get(), SSH_BIND_OPTIONS_IMPORT_KEY, key->get()) != SSH_OK) {
    return absl::InternalError(ssh_get_error(bind_.get()));
  }
  key->release();  // the bind owns it now
  if (absl::Status s = ApplyAlgorithmPolicy(*policy, bind_.get()); !s.ok()) return s;

  server_.reset(ssh_new());
  if (ssh_bind_accept_fd(bind_.get(), server_.get(), server_fd) != SSH_OK) {
    close(server_fd);
    close(client_fd);
    return absl::InternalError(ssh_get_error(bind_.get()));
  }
  if (options.server_rekey_data != 0) {
    ssh_options_set(server_.get(), SSH_OPTIONS_REKEY_DATA, &options.server_rekey_data);
  }
  ssh_set_counters(server_.get(), &server_out_, &server_in_);
  ssh_set_auth_methods(server_.get(), SSH_AUTH_METHOD_NONE);
  ssh_set_message_callback(server_.get(), &CoreHarness::OnMessage, this);

  client_.reset(ssh_new());
  ssh_session client = client_.get();
  const bool no = false;
  const long timeout_s = 20;
  ssh_options_set(client, SSH_OPTIONS_FD, &client_fd);
  ssh_options_set(client, SSH_OPTIONS_HOST, "127.0.0.1");
  ssh_options_set(client, SSH_OPTIONS_USER, "test");
  ssh_options_set(client, SSH_OPTIONS_PROCESS_CONFIG, &no);
  ssh_options_set(client, SSH_OPTIONS_TIMEOUT, &timeout_s);
  if (options.client_rekey_data != 0) {
    ssh_options_set(client, SSH_OPTIONS_REKEY_DATA, &options.client_rekey_data);
  }
  ssh_set_counters(client, &client_out_, &client_in_);

  // The client's half of the handshake blocks; it runs on a thread of its own until it is
  // authenticated, while this thread serves.
  std::atomic<bool> client_done = false;
  std::string client_error;
  std::thread client_thread([&] {
    if (ssh_connect(client) != SSH_OK) {
      client_error = absl::StrCat("connect: ", ssh_get_error(client));
    } else if (int rc = ssh_userauth_none(client, nullptr); rc != SSH_AUTH_SUCCESS) {
      client_error = absl::StrCat("auth none: ", rc, " ", ssh_get_error(client));
    }
    if (!client_error.empty()) shutdown(client_fd, SHUT_RDWR);  // ends the server's wait too
    client_done = true;
  });
  absl::Status status;
  if (ssh_handle_key_exchange(server_.get()) != SSH_OK) {
    status = absl::InternalError(absl::StrCat("server kex: ", ssh_get_error(server_.get())));
  } else {
    ssh_set_blocking(server_.get(), 0);
    server_event_.reset(ssh_event_new());
    ssh_event_add_session(server_event_.get(), server_.get());
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!client_done && absl::Now() < deadline) ssh_event_dopoll(server_event_.get(), 10);
  }
  client_thread.join();
  if (!client_error.empty()) return absl::InternalError(client_error);
  if (!status.ok()) return status;
  if (!authenticated_) return absl::InternalError("the server did not see the authentication");
  ssh_set_blocking(client, 0);
  // libssh made its socket blocking once connected; this one thread runs both sides, so a
  // client send() must never wait for the server to read.
  const int fd = ssh_get_fd(client);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  client_event_.reset(ssh_event_new());
  ssh_event_add_session(client_event_.get(), client);
  return absl::OkStatus();
}

int CoreHarness::OnMessage(ssh_session, ssh_message msg, void* self) {
  return static_cast<CoreHarness*>(self)->HandleMessage(msg);
}

// What Connection's message callback does, reduced to what the tests need.
int CoreHarness::HandleMessage(ssh_message msg) {
  switch (ssh_message_type(msg)) {
    case SSH_REQUEST_AUTH:
      if (ssh_message_subtype(msg) != SSH_AUTH_METHOD_NONE) return 1;
      authenticated_ = true;
      ssh_message_auth_reply_success(msg, 0);
      return 0;
    case SSH_REQUEST_CHANNEL_OPEN: {
      const int subtype = ssh_message_subtype(msg);
      if (subtype != SSH_CHANNEL_SESSION && subtype != SSH_CHANNEL_DIRECT_TCPIP) return 1;
      SshChannel channel(ssh_message_channel_request_open_reply_accept(msg));
      if (!channel) return 1;
      if (subtype == SSH_CHANNEL_SESSION) {
        pending_.push_back(std::make_unique<SessionChannel>(this, std::move(channel)));
      } else {
        accepted_tunnels_.push_back(std::move(channel));  // served from the next poll on
      }
      return 0;
    }
    case SSH_REQUEST_CHANNEL: {
      ssh_channel channel = ssh_message_channel_request_channel(msg);
      for (const auto* list : {&handlers_, &pending_}) {
        for (const auto& h : *list) {
          if (h->channel() == channel && !h->Finished()) return h->OnRequest(msg);
        }
      }
      return 1;
    }
    default:
      return 1;
  }
}

void CoreHarness::ReleaseChild(pid_t pid) {
  if (auto it = children_.find(pid); it != children_.end()) it->second = nullptr;
}

const absl::StatusOr<lifecycle::AppLaunch>& CoreHarness::app_launch() {
  if (!app_launch_) {
    app_launch_ = std::make_unique<absl::StatusOr<lifecycle::AppLaunch>>(
        absl::UnimplementedError("no app environment in unit tests"));
  }
  return *app_launch_;
}

void CoreHarness::ReapChildren() {
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    if (waitpid(it->first, &status, WNOHANG) != it->first) {
      ++it;
      continue;
    }
    if (it->second != nullptr) {
      it->second->OnChildExit(it->first, status);
      exited_.push_back(it->first);
    }
    it = children_.erase(it);
  }
}

void CoreHarness::ServerHalf(int server_wait_ms) {
  ssh_event_dopoll(server_event_.get(), server_wait_ms);
  ReapChildren();
  for (SshChannel& channel : accepted_tunnels_) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) continue;
    Tunnel t;
    t.server_socket = sv[0];
    t.target.reset(sv[1]);
    auto handler = std::make_unique<TunnelHandler>(this, std::move(channel), UniqueFd(sv[0]));
    ChannelHandler* raw = handler.get();
    t.finished = [this, raw] {
      for (const auto* list : {&handlers_, &pending_}) {
        for (const auto& h : *list) {
          if (h.get() == raw) return h->Finished();
        }
      }
      return true;  // already destroyed
    };
    pending_.push_back(std::move(handler));
    new_tunnels_.push_back(std::move(t));
  }
  accepted_tunnels_.clear();
  // As Connection::PollChannels: handlers opened in callbacks join between polls.
  for (auto& h : pending_) handlers_.push_back(std::move(h));
  pending_.clear();
  for (auto& h : handlers_) h->Poll();
  std::erase_if(handlers_, [](const std::unique_ptr<ChannelHandler>& h) { return h->Finished(); });
}

void CoreHarness::StepServer(int server_wait_ms) { ServerHalf(server_wait_ms); }

void CoreHarness::Step(int server_wait_ms) {
  ServerHalf(server_wait_ms);
  ssh_event_dopoll(client_event_.get(), 0);
  for (auto& c : client_channels_) c->Flush();
}

uint64_t CoreHarness::Traffic() const {
  return server_in_.in_bytes + server_out_.out_bytes + client_in_.in_bytes +
         client_out_.out_bytes;
}

bool CoreHarness::RunUntil(const std::function<bool()>& done, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  uint64_t traffic = Traffic();
  bool moved = true;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    Step(moved ? 0 : 1);
    const uint64_t now = Traffic();
    moved = now != traffic;
    traffic = now;
  }
  return true;
}

void CoreHarness::RunUntilQuiet(int quiet_steps) {
  int quiet = 0;
  uint64_t traffic = Traffic();
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (quiet < quiet_steps && absl::Now() < deadline) {
    Step(quiet > 0 ? 1 : 0);
    const uint64_t now = Traffic();
    quiet = now == traffic ? quiet + 1 : 0;
    traffic = now;
  }
}

absl::StatusOr<Tunnel> CoreHarness::OpenTunnel() {
  SshChannel channel(ssh_channel_new(client_.get()));
  if (!channel) return absl::InternalError("ssh_channel_new");
  int rc = SSH_AGAIN;
  const bool opened = RunUntil([&] {
    rc = ssh_channel_open_forward(channel.get(), "127.0.0.1", 9, "127.0.0.1", 40000);
    return rc != SSH_AGAIN && !new_tunnels_.empty();
  });
  if (!opened || rc != SSH_OK) {
    return absl::InternalError(absl::StrCat("direct-tcpip open: ", ssh_get_error(client_.get())));
  }
  Tunnel t = std::move(new_tunnels_.front());
  new_tunnels_.pop_front();
  client_channels_.push_back(std::make_unique<ClientChannel>(std::move(channel)));
  t.client = client_channels_.back().get();
  return t;
}

absl::StatusOr<ClientChannel*> CoreHarness::Exec(const std::string& command, bool paused) {
  SshChannel channel(ssh_channel_new(client_.get()));
  if (!channel) return absl::InternalError("ssh_channel_new");
  int rc = SSH_AGAIN;
  if (!RunUntil([&] { return (rc = ssh_channel_open_session(channel.get())) != SSH_AGAIN; }) ||
      rc != SSH_OK) {
    return absl::InternalError(absl::StrCat("session open: ", ssh_get_error(client_.get())));
  }
  // Recording starts before the exec, so no output can come first.
  client_channels_.push_back(std::make_unique<ClientChannel>(std::move(channel)));
  ClientChannel* c = client_channels_.back().get();
  if (paused) c->Pause();
  rc = SSH_AGAIN;
  if (!RunUntil([&] { return (rc = ssh_channel_request_exec(c->get(), command.c_str())) != SSH_AGAIN; }) ||
      rc != SSH_OK) {
    return absl::InternalError(absl::StrCat("exec: ", ssh_get_error(client_.get())));
  }
  return c;
}

// ---------------------------------------------------------------- helpers

std::string Pattern(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

RekeyCounter::RekeyCounter()
    : previous_callback_(ssh_get_log_callback()),
      previous_userdata_(ssh_get_log_userdata()),
      previous_level_(ssh_get_log_level()) {
  ssh_set_log_userdata(this);
  ssh_set_log_callback(&RekeyCounter::OnLog);
  ssh_set_log_level(SSH_LOG_PACKET);  // where libssh reports a re-key being triggered
}

RekeyCounter::~RekeyCounter() {
  ssh_set_log_level(previous_level_);
  ssh_set_log_callback(previous_callback_);
  ssh_set_log_userdata(previous_userdata_);
}

void RekeyCounter::OnLog(int, const char*, const char* buffer, void* self) {
  if (self != nullptr && strstr(buffer, "triggered rekey") != nullptr) {
    ++static_cast<RekeyCounter*>(self)->count_;
  }
}

bool ReadAvailable(int fd, std::string* out, size_t max) {
  char buf[64 * 1024];
  while (max > 0) {
    const ssize_t n = read(fd, buf, std::min(sizeof buf, max));
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
      max -= static_cast<size_t>(n);
    } else if (n == 0) {
      return true;
    } else if (errno != EINTR) {
      return false;  // EAGAIN: nothing more now
    }
  }
  return false;
}

void WriteAvailable(int fd, const std::string& bytes, size_t* offset) {
  while (*offset < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + *offset, bytes.size() - *offset);
    if (n > 0) {
      *offset += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return;
    }
  }
}

}  // namespace hatch::testing

namespace hatch::testing {

size_t Unread(int fd) {
  int n = 0;
  if (ioctl(fd, FIONREAD, &n) != 0) return 0;
  return static_cast<size_t>(n);
}

::testing::AssertionResult SameBytes(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  const auto diff = std::mismatch(got.begin(), got.end(), want.begin(), want.end());
  return ::testing::AssertionFailure() << "got " << got.size() << " bytes, want " << want.size()
                                       << "; first difference at offset "
                                       << (diff.first - got.begin());
}

}  // namespace hatch::testing
