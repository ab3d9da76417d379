// Connection: one client, served in its own forked process (shared/DESIGN.md, "Process
// model"): key exchange, authentication, and one non-blocking libssh event loop over the
// socket and every fd its channels own. Ends as soon as the client is gone: sessions still
// running are hung up (SIGHUP, as a terminal hangup) and nothing waits for them; what a user
// detached (nohup, setsid, tmux) outlives it. Only the daemon's shutdown ends the processes
// still attached to open sessions (SIGKILL after -killGraceTime).
#ifndef HATCH_SSHD_CONNECTION_H_
#define HATCH_SSHD_CONNECTION_H_

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle/app_launch.h"

#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "sshd/channel_handler.h"
#include "sshd/config.h"
#include "sshd/environment.h"
#include "sshd/ssh_handles.h"

namespace hatch {

// What the listener hands every connection; lives as long as the daemon.
struct ServerState {
  const Config* config = nullptr;
  ssh_bind bind = nullptr;            // configured with the host key and algorithms; not owned
  std::string authorized_key_blob;    // empty: no key is authorized
  BaseEnvironment base_environment;
};

class Connection : public ConnectionContext {
 public:
  // `state` must outlive this; `socket` is the accepted TCP connection.
  Connection(const ServerState* state, UniqueFd socket, std::string peer);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Serves the connection to its end; returns the exit status for the connection process.
  int Run();

  // ConnectionContext
  ssh_session session() override { return session_.get(); }
  ssh_event event() override { return event_.get(); }
  const Config& config() override { return *state_->config; }
  const BaseEnvironment& base_environment() override { return state_->base_environment; }
  const std::string& peer() override { return peer_; }
  void WatchChild(pid_t pid, ChannelHandler* owner) override;
  void ReleaseChild(pid_t pid) override;
  void MarkActivity() override { last_activity_ = absl::Now(); }
  int ForwardedChannels() const override;
  const ConnectionAudit& audit() override { return audit_; }
  const absl::StatusOr<lifecycle::AppLaunch>& app_launch() override;

 private:
  static int OnMessage(ssh_session session, ssh_message msg, void* self);
  int HandleAuth(ssh_message msg);
  int HandleChannelOpen(ssh_message msg);
  int HandleChannelRequest(ssh_message msg);
  int HandleGlobalRequest(ssh_message msg);
  // Live handlers of `kind`, served and pending.
  int CountLive(ChannelHandler::Kind kind) const;
  // Calls f(RemoteForwardListener*) for each remote-forward listener still listening
  // (cancelled ones only carry their old tunnels).
  template <typename F>
  void ForEachListening(F f) const;
  // The handler (served or pending) that answers `channel`'s requests.
  ChannelHandler* HandlerOf(ssh_channel channel) const;
  void OnSignalFd();
  void ReapChildren();
  void PollChannels();
  void CheckTimers();
  void EndSessions(bool daemon_stopping);

  const ServerState* state_;
  std::optional<absl::StatusOr<lifecycle::AppLaunch>> app_launch_;
  UniqueFd socket_;
  std::string peer_;
  ConnectionAudit audit_;
  SshSession session_;
  SshEvent event_;
  UniqueFd signal_fd_;
  bool child_exited_ = false;  // SIGCHLD seen since the last reap
  ssh_counter_struct received_{};
  ssh_counter_struct sent_{};

  bool authenticated_ = false;
  int failed_auths_ = 0;
  std::string user_;
  bool stopping_ = false;
  bool daemon_stopping_ = false;  // SIGTERM/SIGINT/SIGHUP from the listener
  std::string stop_reason_;
  absl::Time last_activity_;
  absl::Time next_keepalive_;
  uint64_t packets_at_keepalive_ = 0;
  int missed_keepalives_ = 0;
  uint64_t packets_seen_ = 0;          // received_.in_packets at the last timer check
  uint64_t keepalive_replies_due_ = 0;  // replies our keepalives will still draw (not activity)

  // Served handlers, and those created inside libssh callbacks since the last poll (they join
  // `handlers_` between polls, so nothing is ever added to a list being iterated).
  std::vector<std::unique_ptr<ChannelHandler>> handlers_;
  std::vector<std::unique_ptr<ChannelHandler>> pending_;
  // Children whose exit a handler waits for; the owner is null once it released the child.
  std::map<pid_t, ChannelHandler*> children_;
};

}  // namespace hatch

#endif  // HATCH_SSHD_CONNECTION_H_
