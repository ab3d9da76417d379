#include "sshd/connection.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <dirent.h>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
namespace {

// Children this process adopted as a subreaper (a session's daemonized grandchildren) plus
// its own: everything /proc lists as our children.
std::vector<pid_t> ListChildren() {
  std::vector<pid_t> out;
  std::ifstream in(absl::StrCat("/proc/self/task/", getpid(), "/children"));
  pid_t pid;
  while (in >> pid) out.push_back(pid);
  return out;
}

}  // namespace

Connection::Connection(const ServerState* state, UniqueFd socket, std::string peer)
    : state_(state), socket_(std::move(socket)), peer_(std::move(peer)) {}

Connection::~Connection() {
  if (event_ != nullptr) {
    if (session_ != nullptr) ssh_event_remove_session(event_, session_);
    ssh_event_free(event_);
  }
  if (session_ != nullptr) ssh_free(session_);
}

int Connection::Run() {
  const Config& config = *state_->config;
  // Banner and key exchange within -preauthTimeout, authentication within -loginGraceTime:
  // SIGALRM's default action ends this process (sshd/preauth_phase.h).
  const absl::Time accepted = StartPreauthDeadline(config.preauth_timeout);
  // Daemonized grandchildren of sessions are re-parented here, so they can be ended too.
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, sig);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal_fd_.reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));

  session_ = ssh_new();
  if (session_ == nullptr) return 1;
  if (ssh_bind_accept_fd(state_->bind, session_, socket_.get()) != SSH_OK) {
    LogError("connection.accept-failed", {{"peer", peer_}, {"error", ssh_get_error(state_->bind)}});
    return 1;
  }
  socket_.release();  // the session owns the socket now
  RegisterForkSecrets(session_);
  // Our banner goes out before anything is read, as OpenSSH's: a client that connects and at
  // once shuts its write side (a health check, nc -N) still gets it.
  WriteHandshakeEagerly(session_);
  ssh_set_counters(session_, &sent_, &received_);
  int methods = SSH_AUTH_METHOD_PUBLICKEY;
  if (config.allow_unauthenticated_clients) methods |= SSH_AUTH_METHOD_NONE;
  ssh_set_auth_methods(session_, methods);
  ssh_set_message_callback(session_, &Connection::OnMessage, this);

  if (ssh_handle_key_exchange(session_) != SSH_OK) {
    LogInfo("connection.handshake-failed", {{"peer", peer_}, {"error", ssh_get_error(session_)}});
    return 1;
  }
  FinishKeyExchangePhase(session_, accepted, config.login_grace_time);
  ssh_set_blocking(session_, 0);
  event_ = ssh_event_new();
  ssh_event_add_session(event_, session_);
  ssh_event_add_fd(event_, signal_fd_.get(), POLLIN,
                   [](socket_t, int, void* self) {
                     static_cast<Connection*>(self)->OnSignalFd();
                     return 0;
                   },
                   this);

  last_activity_ = absl::Now();
  next_keepalive_ = last_activity_ + config.keepalive_interval;
  while (!stopping_) {
    int rc = ssh_event_dopoll(event_, 500);
    ReapChildren();
    PollChannels();
    KillOverdueGroups();
    if (rc == SSH_ERROR || (ssh_get_status(session_) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 ||
        !ssh_is_connected(session_)) {
      stop_reason_ = "client disconnected";
      break;
    }
    CheckTimers();
  }
  EndSessions();
  if (ssh_is_connected(session_)) ssh_disconnect(session_);
  LogInfo("connection.closed", {{"peer", peer_}, {"user", user_}, {"reason", stop_reason_}});
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

int Connection::HandleAuth(ssh_message msg) {
  if (authenticated_) return 1;
  const Config& config = *state_->config;
  const char* user = ssh_message_auth_user(msg);
  const int method = ssh_message_subtype(msg);
  bool counts = true;
  if (method == SSH_AUTH_METHOD_NONE) {
    counts = false;  // clients probe with "none" first; OpenSSH does not count it either
    if (config.allow_unauthenticated_clients) authenticated_ = true;
  } else if (method == SSH_AUTH_METHOD_PUBLICKEY) {
    ssh_key key = ssh_message_auth_pubkey(msg);
    const bool match = !state_->authorized_key_blob.empty() && key != nullptr &&
                       PublicKeyMatches(state_->authorized_key_blob, key);
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
    // /proc/self/smaps holds an fd; about 0.1 ms with the static binary).
    ReleaseUnusedCodePages();
    ssh_message_auth_reply_success(msg, 0);
    user_ = user != nullptr ? user : "";
    MarkActivity();
    LogInfo("connection.authenticated", {{"peer", peer_}, {"user", user_}});
    return 0;
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

template <typename T>
int Connection::Count() const {
  return static_cast<int>(std::count_if(channels_.begin(), channels_.end(), [](const Channel& c) {
    return dynamic_cast<const T*>(c.handler.get()) != nullptr && !c.handler->Finished();
  }));
}

int Connection::HandleChannelOpen(ssh_message msg) {
  if (!authenticated_) return 1;
  MarkActivity();
  const Config& config = *state_->config;
  switch (ssh_message_subtype(msg)) {
    case SSH_CHANNEL_SESSION: {
      if (Count<SessionChannel>() >= config.max_sessions) {
        LogInfo("connection.too-many-channels", {{"peer", peer_}, {"limit", config.max_sessions}});
        return 1;
      }
      ssh_channel channel = ssh_message_channel_request_open_reply_accept(msg);
      if (channel == nullptr) return 1;
      channels_.push_back({channel, std::make_unique<SessionChannel>(this, channel)});
      return 0;
    }
    case SSH_CHANNEL_DIRECT_TCPIP:
      if (!config.allow_local_forwarding) {
        ssh_message_channel_request_open_reply_failure(msg, 1, "local forwarding is disabled");
        return 0;
      }
      if (Count<DirectTcpipChannel>() >= config.max_tunnels) {
        ssh_message_channel_request_open_reply_failure(msg, 4, "too many tunnels");
        return 0;
      }
      // The reply waits for the connect; the handler owns the message until then.
      channels_.push_back({nullptr, std::make_unique<DirectTcpipChannel>(this, msg)});
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
    const int listening = static_cast<int>(std::count_if(
        channels_.begin(), channels_.end(), [](const Channel& c) {
          auto* l = dynamic_cast<const RemoteForwardListener*>(c.handler.get());
          return l != nullptr && !l->cancelled();  // cancelled ones only carry old tunnels
        }));
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
    channels_.push_back({nullptr, std::make_unique<RemoteForwardListener>(this, std::move(*fd),
                                                                          address, bound)});
    LogInfo("forward.remote.listening", {{"peer", peer_}, {"address", address}, {"port", bound}});
    // Carries the bound port when port 0 was asked (RFC 4254 §7.1).
    ssh_message_global_request_reply_success(msg, bound);
    return 0;
  }
  // cancel-tcpip-forward: clients send the port they were given when they asked for 0.
  RemoteForwardListener* match = nullptr;
  for (bool exact : {true, false}) {
    for (Channel& c : channels_) {
      auto* l = dynamic_cast<RemoteForwardListener*>(c.handler.get());
      if (l == nullptr || l->cancelled() || l->bound_port() != port) continue;
      if (exact ? l->address() == address : SameForwardAddress(l->address(), address)) {
        match = l;
        break;
      }
    }
    if (match != nullptr) break;
  }
  if (match == nullptr) return 1;
  match->Cancel();
  LogInfo("forward.remote.cancelled", {{"peer", peer_}, {"address", address}, {"port", port}});
  ssh_message_global_request_reply_success(msg, 0);
  return 0;
}

int Connection::HandleChannelRequest(ssh_message msg) {
  ssh_channel channel = ssh_message_channel_request_channel(msg);
  for (Channel& c : channels_) {
    if (c.channel != nullptr && c.channel == channel && !c.handler->Finished()) {
      return c.handler->OnRequest(msg);
    }
  }
  return 1;
}

void Connection::OnSignalFd() {
  signalfd_siginfo info;
  while (read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
    if (info.ssi_signo == SIGCHLD) {
      child_exited_ = true;  // reaped after the poll
      continue;
    }
    stopping_ = true;
    stop_reason_ = absl::StrCat("daemon stopping (signal ", info.ssi_signo, ")");
  }
}

void Connection::WatchChild(pid_t pid, ChannelHandler* owner) { children_[pid].owner = owner; }

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

void Connection::AbandonChild(pid_t pid, std::vector<UniqueFd> keep_open) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  it->second.owner = nullptr;
  for (UniqueFd& fd : keep_open) it->second.keep_open.push_back(std::move(fd));
  if (it->second.kill_at != absl::InfiniteFuture()) return;
  // SIGCONT too, so a stopped job (Ctrl-Z) sees the hangup. Once the leader is reaped its
  // pid may be reused: then only its group (which keeps the id reserved) is signalled.
  for (int sig : {SIGHUP, SIGCONT}) {
    if (it->second.exited) {
      kill(-pid, sig);
    } else {
      SignalProcessGroup(pid, sig);
    }
  }
  it->second.kill_at = absl::Now() + state_->config->kill_grace_time;
}

void Connection::ReapChildren() {
  if (!child_exited_) return;
  child_exited_ = false;
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    auto it = children_.find(pid);
    if (it == children_.end()) continue;  // an adopted orphan
    it->second.exited = true;
    if (it->second.owner != nullptr) it->second.owner->OnChildExit(pid, status);
  }
}

void Connection::PollChannels() {
  // By index: a handler's Poll() may run libssh, which may open a channel (appending to
  // channels_ and moving its elements). The handlers themselves never move.
  for (size_t i = 0; i < channels_.size(); ++i) channels_[i].handler->Poll();
  std::erase_if(channels_, [](const Channel& c) { return c.handler->Finished(); });
}

void Connection::KillOverdueGroups() {
  if (children_.empty()) return;
  const absl::Time now = absl::Now();
  for (auto it = children_.begin(); it != children_.end();) {
    Child& child = it->second;
    if (child.owner != nullptr) {  // still a live session's: nothing to sweep
      ++it;
      continue;
    }
    const bool group_alive = kill(-it->first, 0) == 0;
    if (child.exited && !group_alive) {
      it = children_.erase(it);
      continue;
    }
    if (now >= child.kill_at) {
      if (group_alive) kill(-it->first, SIGKILL);
      if (!child.exited) kill(it->first, SIGKILL);
    }
    ++it;
  }
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
    ssh_send_keepalive(session_);
    ++keepalive_replies_due_;
    next_keepalive_ = now + config.keepalive_interval;
  }
}

void Connection::EndSessions() {
  for (size_t i = 0; i < channels_.size(); ++i) channels_[i].handler->Hangup();
  channels_.clear();
  // Give hung-up groups their grace time, then SIGKILL; adopted orphans go the same way.
  const absl::Time deadline = absl::Now() + state_->config->kill_grace_time + absl::Seconds(1);
  bool orphans_hup = false;
  while (true) {
    child_exited_ = true;  // no signalfd reads here: poll waitpid directly
    ReapChildren();
    KillOverdueGroups();
    std::vector<pid_t> left = ListChildren();
    if (children_.empty() && left.empty()) break;
    if (!orphans_hup) {
      for (pid_t p : left) {
        if (!children_.contains(p)) kill(p, SIGHUP);
      }
      orphans_hup = true;
    }
    if (absl::Now() >= deadline) {
      for (pid_t p : left) kill(p, SIGKILL);
      for (auto& [pid, child] : children_) kill(-pid, SIGKILL);
      while (waitpid(-1, nullptr, 0) > 0) {
      }
      break;
    }
    usleep(10 * 1000);
  }
}

}  // namespace hatch
