#include "sshd/connection.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sshd/bulk_receive.h"
#include "sshd/fork_secrets.h"
#include "sshd/keys.h"
#include "sshd/log.h"
#include "sshd/memory.h"
#include "sshd/preauth.h"
#include "sshd/preauth_phase.h"
#include "sshd/process.h"
#include "sshd/session_channel.h"
#include "sshd/tcp_forward.h"

namespace hatch {

Connection::Connection(const ServerState* state, UniqueFd socket, std::string peer)
    : state_(state),
      socket_(std::move(socket)),
      peer_(std::move(peer)),
      audit_(NewConnectionId(), peer_) {}

Connection::~Connection() {
  // Channels before their session; the session leaves the event before either is freed.
  pending_.clear();
  handlers_.clear();
  if (event_ && session_) ssh_event_remove_session(event_.get(), session_.get());
  event_.reset();
  session_.reset();
}

int Connection::Run() {
  const Config& config = *state_->config;
  // Banner and key exchange within -preauthTimeout, authentication within -loginGraceTime:
  // SIGALRM ends this process, after writing its connection.ended (sshd/preauth_phase.h).
  const absl::Time accepted = StartPreauthDeadline(config.preauth_timeout, &audit_);
  signal_fd_ = BlockedSignalFd({SIGCHLD, SIGTERM, SIGINT, SIGHUP});

  // libssh sends what it has queued in one send() once the socket polls writable; on a
  // blocking socket that call waits until the client has read it all, so a client that stops
  // reading (its machine gone, its link dead) would hold this process there: no keepalive or
  // idle timeout, no signal, no other channel. Non-blocking, libssh keeps what the kernel did
  // not take and waits for POLLOUT (scripts/libssh-preauth.patch: EAGAIN is no error), and
  // ChannelPump sees it queued.
  fcntl(socket_.get(), F_SETFL, fcntl(socket_.get(), F_GETFL) | O_NONBLOCK);
  session_.reset(ssh_new());
  if (!session_) return 1;
  ssh_session session = session_.get();
  if (ssh_bind_accept_fd(state_->bind, session, socket_.get()) != SSH_OK) {
    LogError("connection.accept-failed", {{"peer", peer_}, {"error", ssh_get_error(state_->bind)}});
    return 1;
  }
  socket_.release();  // the session owns the socket now
  RegisterForkSecrets(session);
  // Our banner goes out before anything is read, as OpenSSH's: a client that connects and at
  // once shuts its write side (a health check, nc -N) still gets it.
  WriteHandshakeEagerly(session);
  ssh_set_counters(session, &sent_, &received_);
  int methods = SSH_AUTH_METHOD_PUBLICKEY;
  if (config.allow_unauthenticated_clients) methods |= SSH_AUTH_METHOD_NONE;
  ssh_set_auth_methods(session, methods);
  ssh_set_message_callback(session, &Connection::OnMessage, this);

  if (ssh_handle_key_exchange(session) != SSH_OK) {
    LogInfo("connection.handshake-failed", {{"peer", peer_}, {"error", ssh_get_error(session)}});
    audit_.ConnectionEnded(absl::StrCat("key exchange failed: ", ssh_get_error(session)));
    return 1;
  }
  FinishKeyExchangePhase(accepted, config.login_grace_time);
  ssh_set_blocking(session, 0);
  event_.reset(ssh_event_new());
  ssh_event_add_session(event_.get(), session);
  ssh_event_add_fd(event_.get(), signal_fd_.get(), POLLIN,
                   [](socket_t, int, void* self) {
                     static_cast<Connection*>(self)->OnSignalFd();
                     return 0;
                   },
                   this);

  last_activity_ = absl::Now();
  next_keepalive_ = last_activity_ + config.keepalive_interval;
  BulkReceive bulk(ssh_get_fd(session), 500);
  int timeout_ms = 500;
  while (!stopping_) {
    int rc = ssh_event_dopoll(event_.get(), timeout_ms);
    ReapChildren();
    PollChannels();
    if (rc == SSH_ERROR || (ssh_get_status(session) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 ||
        !ssh_is_connected(session)) {
      stop_reason_ = "client disconnected";
      break;
    }
    CheckTimers();
    timeout_ms = bulk.AfterTurn(received_.in_bytes, absl::Now());
  }
  EndSessions(daemon_stopping_);
  if (ssh_is_connected(session)) ssh_disconnect(session);
  LogInfo("connection.closed", {{"peer", peer_}, {"user", user_}, {"reason", stop_reason_}});
  audit_.ConnectionEnded(stop_reason_);
  return 0;
}

int Connection::OnMessage(ssh_session, ssh_message msg, void* self_ptr) {
  auto* self = static_cast<Connection*>(self_ptr);
  switch (ssh_message_type(msg)) {
    case SSH_REQUEST_AUTH:
      return self->HandleAuth(msg);
    case SSH_REQUEST_CHANNEL_OPEN:
      return self->HandleChannelOpen(msg);
    case SSH_REQUEST_CHANNEL:
      return self->HandleChannelRequest(msg);
    case SSH_REQUEST_GLOBAL:
      return self->HandleGlobalRequest(msg);
    default:
      return 1;  // service requests: libssh accepts ssh-userauth / ssh-connection
  }
}

namespace {

const char* AuthMethodName(int method) {
  switch (method) {
    case SSH_AUTH_METHOD_NONE: return "none";
    case SSH_AUTH_METHOD_PASSWORD: return "password";
    case SSH_AUTH_METHOD_PUBLICKEY: return "publickey";
    case SSH_AUTH_METHOD_HOSTBASED: return "hostbased";
    case SSH_AUTH_METHOD_INTERACTIVE: return "keyboard-interactive";
    case SSH_AUTH_METHOD_GSSAPI_MIC: return "gssapi-with-mic";
    default: return "unknown";
  }
}

}  // namespace

int Connection::HandleAuth(ssh_message msg) {
  if (authenticated_) return 1;
  const Config& config = *state_->config;
  const char* user = ssh_message_auth_user(msg);
  const int method = ssh_message_subtype(msg);
  // The offered public key (owned by the message), for the check and the audit trail.
  ssh_key offered = method == SSH_AUTH_METHOD_PUBLICKEY ? ssh_message_auth_pubkey(msg) : nullptr;
  bool counts = true;
  if (method == SSH_AUTH_METHOD_NONE) {
    counts = false;  // clients probe with "none" first; OpenSSH does not count it either
    if (config.allow_unauthenticated_clients) authenticated_ = true;
  } else if (method == SSH_AUTH_METHOD_PUBLICKEY) {
    const bool match = !state_->authorized_key_blob.empty() && offered != nullptr &&
                       PublicKeyMatches(state_->authorized_key_blob, offered);
    const int sig_state = ssh_message_auth_publickey_state(msg);
    if (match && sig_state == SSH_PUBLICKEY_STATE_NONE) {
      ssh_message_auth_reply_pk_ok_simple(msg);  // "this key would do": no attempt used up
      return 0;
    }
    if (match && sig_state == SSH_PUBLICKEY_STATE_VALID) authenticated_ = true;
  }
  if (authenticated_) {
    StopPreauthDeadline();
    ReportAuthenticated();  // the listener moves this connection out of the pre-auth budget
    // Key exchange and authentication touched code (key parsing, signatures, curve25519)
    // that runs again only at a re-key: give those pages back (plain memory calls, safe in
    // a callback). Before the reply, so the client never sees this process mid-way (reading
    // /proc/self/smaps holds an fd for a moment).
    ReleaseUnusedCodePages();
    ssh_message_auth_reply_success(msg, 0);
    user_ = user != nullptr ? user : "";
    audit_.LoginSucceeded(user_, AuthMethodName(method), offered,
                          GetNegotiatedAlgorithms(session_.get()));
    MarkActivity();
    LogInfo("connection.authenticated", {{"peer", peer_}, {"user", user_}});
    return 0;
  }
  // A "none" probe is no login attempt; every other refusal is (one per offered key).
  if (counts) {
    audit_.LoginFailed(user != nullptr ? user : "", AuthMethodName(method), offered);
  }
  if (counts && ++failed_auths_ >= config.max_auth_tries) {
    LogInfo("connection.too-many-auth-failures", {{"peer", peer_}, {"attempts", failed_auths_}});
    ssh_message_reply_default(msg);
    stopping_ = true;  // Run() disconnects after the poll (never inside a libssh callback)
    stop_reason_ = "too many authentication failures";
    return 0;
  }
  return 1;  // failure, listing the methods left
}

int Connection::CountLive(ChannelHandler::Kind kind) const {
  int n = 0;
  for (const auto* list : {&handlers_, &pending_}) {
    for (const auto& h : *list) n += h->kind() == kind && !h->Finished();
  }
  return n;
}

int Connection::ForwardedChannels() const {
  int n = CountLive(ChannelHandler::Kind::kDirectTcpip);
  for (const auto* list : {&handlers_, &pending_}) {
    for (const auto& h : *list) {
      // Cancelled listeners too: their tunnels live on.
      if (h->kind() == ChannelHandler::Kind::kRemoteForward) {
        n += static_cast<const RemoteForwardListener*>(h.get())->open_channels();
      }
    }
  }
  return n;
}

template <typename F>
void Connection::ForEachListening(F f) const {
  for (const auto* list : {&handlers_, &pending_}) {
    for (const auto& h : *list) {
      if (h->kind() != ChannelHandler::Kind::kRemoteForward) continue;
      auto* listener = static_cast<RemoteForwardListener*>(h.get());
      if (!listener->cancelled()) f(listener);
    }
  }
}

ChannelHandler* Connection::HandlerOf(ssh_channel channel) const {
  if (channel == nullptr) return nullptr;
  for (const auto* list : {&handlers_, &pending_}) {
    for (const auto& h : *list) {
      if (h->channel() == channel && !h->Finished()) return h.get();
    }
  }
  return nullptr;
}

int Connection::HandleChannelOpen(ssh_message msg) {
  if (!authenticated_) return 1;
  MarkActivity();
  const Config& config = *state_->config;
  switch (ssh_message_subtype(msg)) {
    case SSH_CHANNEL_SESSION: {
      if (CountLive(ChannelHandler::Kind::kSession) >= config.max_sessions) {
        LogInfo("connection.too-many-channels", {{"peer", peer_}, {"limit", config.max_sessions}});
        return 1;
      }
      SshChannel channel(ssh_message_channel_request_open_reply_accept(msg));
      if (!channel) return 1;
      pending_.push_back(std::make_unique<SessionChannel>(this, std::move(channel)));
      return 0;
    }
    case SSH_CHANNEL_DIRECT_TCPIP:
      if (!config.allow_local_forwarding) {
        ssh_message_channel_request_open_reply_failure(msg, 1, "local forwarding is disabled");
        return 0;
      }
      if (ForwardedChannels() >= config.max_tunnels) {
        ssh_message_channel_request_open_reply_failure(msg, 4, "too many tunnels");
        return 0;
      }
      // The reply waits for the connect; the handler owns the message until then.
      pending_.push_back(std::make_unique<DirectTcpipChannel>(this, SshMessage(msg)));
      return SSH_MESSAGE_KEEP;
    default:
      return 1;  // x11, auth-agent, unknown types: "administratively prohibited"
  }
}

int Connection::HandleGlobalRequest(ssh_message msg) {
  MarkActivity();
  if (!authenticated_) return 1;
  const Config& config = *state_->config;
  const int type = ssh_message_subtype(msg);
  if (type != SSH_GLOBAL_REQUEST_TCPIP_FORWARD && type != SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD) {
    return 1;  // keepalive@openssh.com and friends: the failure reply is what clients expect
  }
  const char* raw_address = ssh_message_global_request_address(msg);
  const std::string address = raw_address != nullptr ? raw_address : "";
  const int port = ssh_message_global_request_port(msg);
  if (port < 0 || port > 65535) return 1;
  if (type == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
    int listening = 0;
    ForEachListening([&](RemoteForwardListener*) { ++listening; });
    if (!config.allow_remote_forwarding || listening >= config.max_remote_listeners) {
      return 1;
    }
    uint16_t bound = 0;
    absl::StatusOr<UniqueFd> fd = BindForwardListener(address, static_cast<uint16_t>(port), &bound);
    if (!fd.ok()) {
      LogInfo("forward.remote.bind-failed", {{"peer", peer_}, {"address", address}, {"port", port},
                                             {"error", fd.status().message()}});
      return 1;
    }
    pending_.push_back(
        std::make_unique<RemoteForwardListener>(this, std::move(*fd), address, bound));
    LogInfo("forward.remote.listening", {{"peer", peer_}, {"address", address}, {"port", bound}});
    // Carries the bound port when port 0 was asked (RFC 4254 §7.1).
    ssh_message_global_request_reply_success(msg, bound);
    return 0;
  }
  // cancel-tcpip-forward: clients send the port they were given when they asked for 0.
  RemoteForwardListener* match = nullptr;
  for (bool exact : {true, false}) {
    ForEachListening([&](RemoteForwardListener* l) {
      if (match != nullptr || l->bound_port() != port) return;
      if (exact ? l->address() == address : SameForwardAddress(l->address(), address)) match = l;
    });
    if (match != nullptr) break;
  }
  if (match == nullptr) return 1;
  match->Cancel();
  LogInfo("forward.remote.cancelled", {{"peer", peer_}, {"address", address}, {"port", port}});
  ssh_message_global_request_reply_success(msg, 0);
  return 0;
}

int Connection::HandleChannelRequest(ssh_message msg) {
  ChannelHandler* handler = HandlerOf(ssh_message_channel_request_channel(msg));
  return handler != nullptr ? handler->OnRequest(msg) : 1;
}

void Connection::OnSignalFd() {
  signalfd_siginfo info;
  while (read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
    if (info.ssi_signo == SIGCHLD) {
      child_exited_ = true;  // reaped after the poll
      continue;
    }
    stopping_ = true;
    daemon_stopping_ = true;
    stop_reason_ = absl::StrCat("daemon stopping (signal ", info.ssi_signo, ")");
  }
}

void Connection::WatchChild(pid_t pid, ChannelHandler* owner) { children_[pid] = owner; }

void Connection::ReleaseChild(pid_t pid) {
  if (auto it = children_.find(pid); it != children_.end()) it->second = nullptr;
}

const absl::StatusOr<lifecycle::AppLaunch>& Connection::app_launch() {
  if (app_launch_.has_value()) return *app_launch_;
  // What a session would get without any `env` request: the base the app's environment is
  // built on (the daemon's own, with -inheritDaemonEnv, as Diego starts it).
  const lifecycle::Environment base(SessionEnvironment(state_->base_environment).ToEnvp());
  lifecycle::AppLaunchOptions options;
  options.app_dir = state_->config->app_dir;
  options.app_pid = state_->config->app_pid;
  options.uid = ::getuid();
  const absl::Time start = absl::Now();
  app_launch_ = lifecycle::PrepareAppLaunch(base, options, [this](absl::string_view line) {
    LogError("app-environment.credhub-retry", {{"peer", peer_}, {"report", std::string(line)}});
  });
  const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
  if (app_launch_->ok()) {
    LogInfo("app-environment.prepared", {{"peer", peer_},
                                         {"kind", lifecycle::AppKindName((*app_launch_)->kind)},
                                         {"app_dir", (*app_launch_)->app_dir},
                                         {"ms", ms}});
  } else {
    LogError("app-environment.failed",
             {{"peer", peer_}, {"error", std::string(app_launch_->status().message())}});
  }
  return *app_launch_;
}

void Connection::ReapChildren() {
  if (!child_exited_) return;
  child_exited_ = false;
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    auto it = children_.find(pid);
    if (it == children_.end()) continue;  // a name lookup's child, for example
    ChannelHandler* owner = it->second;
    children_.erase(it);
    if (owner != nullptr) owner->OnChildExit(pid, status);
  }
}

void Connection::PollChannels() {
  // Callbacks that run inside a handler's Poll() (libssh may handle packets there) add to
  // pending_ only, so handlers_ never changes while it is iterated.
  for (std::unique_ptr<ChannelHandler>& h : pending_) handlers_.push_back(std::move(h));
  pending_.clear();
  for (std::unique_ptr<ChannelHandler>& h : handlers_) h->Poll();
  std::erase_if(handlers_, [](const std::unique_ptr<ChannelHandler>& h) { return h->Finished(); });
}

void Connection::CheckTimers() {
  const Config& config = *state_->config;
  const absl::Time now = absl::Now();
  // Any packet from the client is activity (as diego-sshd's idle timer sees every byte:
  // client keepalives count, whether libssh answered them itself or not), except the one
  // reply each of our own keepalives draws.
  const uint64_t arrived = received_.in_packets - packets_seen_;
  const uint64_t replies = std::min(arrived, keepalive_replies_due_);
  keepalive_replies_due_ -= replies;
  if (arrived > replies) last_activity_ = now;
  packets_seen_ = received_.in_packets;
  if (config.idle_timeout > absl::ZeroDuration() && now - last_activity_ > config.idle_timeout) {
    stopping_ = true;
    stop_reason_ = "idle timeout";
    return;
  }
  if (config.keepalive_interval > absl::ZeroDuration() && authenticated_ && now >= next_keepalive_) {
    // A peer that sent no packet at all since the last keepalive did not answer it.
    if (received_.in_packets == packets_at_keepalive_) {
      if (++missed_keepalives_ >= config.keepalive_count_max) {
        stopping_ = true;
        stop_reason_ = "keepalive timeout";
        return;
      }
    } else {
      missed_keepalives_ = 0;
    }
    packets_at_keepalive_ = received_.in_packets;
    ssh_send_keepalive(session_.get());
    ++keepalive_replies_due_;
    next_keepalive_ = now + config.keepalive_interval;
  }
}

void Connection::EndSessions(bool daemon_stopping) {
  std::vector<pid_t> attached;
  for (auto* list : {&handlers_, &pending_}) {
    for (std::unique_ptr<ChannelHandler>& h : *list) {
      if (pid_t sid = h->AttachedSession(); sid > 0) attached.push_back(sid);
      h->Hangup();
    }
  }
  pending_.clear();
  handlers_.clear();
  // The client is gone: the sessions were hung up, and what outlives a hangup (nohup) was
  // meant to. Nothing waits for them: whoever adopts them (the listener, a subreaper) reaps.
  if (!daemon_stopping || attached.empty()) return;
  // The daemon stops: the processes still attached to open sessions get -killGraceTime to end
  // after the hangup, then SIGKILL. Processes that left their session (setsid, tmux's server)
  // are not attached.
  const absl::Time deadline = absl::Now() + state_->config->kill_grace_time;
  while (true) {
    child_exited_ = true;  // no signalfd reads here: poll waitpid directly
    ReapChildren();
    const std::vector<pid_t> left = ProcessesInSessions(attached);
    if (left.empty()) break;
    if (absl::Now() >= deadline) {
      for (pid_t p : left) kill(p, SIGKILL);
      break;
    }
    usleep(10 * 1000);
  }
  child_exited_ = true;
  ReapChildren();
}

}  // namespace hatch
