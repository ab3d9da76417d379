// Connection: one client, served in its own forked process (shared/DESIGN.md, "Process
// model"): key exchange, authentication, and one non-blocking libssh event loop over the
// socket and every fd its channels own. Ends with the client; sessions it leaves running get
// SIGHUP, then SIGKILL after -killGraceTime, and every child is reaped.
#ifndef HATCH_SSHD_CONNECTION_H_
#define HATCH_SSHD_CONNECTION_H_

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "sshd/channel_handler.h"
#include "sshd/config.h"
#include "sshd/environment.h"

namespace hatch {

// What the listener hands every connection; lives as long as the daemon.
struct ServerState {
  const Config* config = nullptr;
  ssh_bind bind = nullptr;            // configured with the host key and algorithms
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
  ssh_session session() override { return session_; }
  ssh_event event() override { return event_; }
  const Config& config() override { return *state_->config; }
  const BaseEnvironment& base_environment() override { return state_->base_environment; }
  const std::string& peer() override { return peer_; }
  void WatchChild(pid_t pid, ChannelHandler* owner) override;
  void AbandonChild(pid_t pid, std::vector<UniqueFd> keep_open) override;
  void MarkActivity() override { last_activity_ = absl::Now(); }
  const absl::StatusOr<lifecycle::AppLaunch>& app_launch() override;

 private:
  struct Child {
    ChannelHandler* owner = nullptr;  // null once abandoned
    absl::Time kill_at = absl::InfiniteFuture();
    bool exited = false;              // the leader is reaped; its group may live on
    std::vector<UniqueFd> keep_open;  // its output pipes, open until the group is gone
  };
  struct Channel {
    ssh_channel channel;
    std::unique_ptr<ChannelHandler> handler;
  };

  static int OnMessage(ssh_session session, ssh_message msg, void* self);
  int HandleAuth(ssh_message msg);
  int HandleChannelOpen(ssh_message msg);
  int HandleChannelRequest(ssh_message msg);
  int HandleGlobalRequest(ssh_message msg);
  template <typename T>
  int Count() const;
  void OnSignalFd();
  void ReapChildren();
  void PollChannels();
  void CheckTimers();
  void KillOverdueGroups();
  void EndSessions();

  const ServerState* state_;
  std::optional<absl::StatusOr<lifecycle::AppLaunch>> app_launch_;
  UniqueFd socket_;
  std::string peer_;
  ssh_session session_ = nullptr;
  ssh_event event_ = nullptr;
  UniqueFd signal_fd_;
  bool child_exited_ = false;  // SIGCHLD seen since the last reap
  ssh_counter_struct received_{};
  ssh_counter_struct sent_{};

  bool authenticated_ = false;
  int failed_auths_ = 0;
  std::string user_;
  bool stopping_ = false;
  std::string stop_reason_;
  absl::Time last_activity_;
  absl::Time next_keepalive_;
  uint64_t packets_at_keepalive_ = 0;
  int missed_keepalives_ = 0;
  uint64_t packets_seen_ = 0;          // received_.in_packets at the last timer check
  uint64_t keepalive_replies_due_ = 0;  // replies our keepalives will still draw (not activity)

  std::vector<Channel> channels_;
  std::map<pid_t, Child> children_;
};

}  // namespace hatch

#endif  // HATCH_SSHD_CONNECTION_H_
