// The contract between a connection and the handlers of its channels.
//
// Everything runs on the connection's one thread. libssh callbacks may fire nested inside
// other libssh calls, so handlers only record state and do I/O in callbacks; they change
// which fds are watched, free channels and are destroyed only in Poll() and by the
// connection between two ssh_event_dopoll() calls.
#ifndef HATCH_SSHD_CHANNEL_HANDLER_H_
#define HATCH_SSHD_CHANNEL_HANDLER_H_

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "lifecycle/app_launch.h"

#include "sshd/config.h"
#include "sshd/environment.h"

namespace hatch {

class ChannelHandler;

// What a channel handler may ask of its connection. Outlives every handler.
class ConnectionContext {
 public:
  virtual ~ConnectionContext() = default;
  virtual ssh_session session() = 0;
  virtual ssh_event event() = 0;
  virtual const Config& config() = 0;
  virtual const BaseEnvironment& base_environment() = 0;
  virtual const std::string& peer() = 0;  // "ip:port" of the client, for logs
  // Exit of `pid` is reported to `owner->OnChildExit` until ForgetChild/Abandon.
  virtual void WatchChild(pid_t pid, ChannelHandler* owner) = 0;
  // The owner goes away while `pid` (a process group leader) may still run: the connection
  // sends the group SIGHUP now, SIGKILL after -killGraceTime, and reaps it. `keep_open` (the
  // process's output pipes) stay open until the group is gone, so a hang-up handler that
  // writes is not killed by SIGPIPE before its grace time is over.
  virtual void AbandonChild(pid_t pid, std::vector<UniqueFd> keep_open) = 0;
  // Traffic that keeps the connection from being idle.
  virtual void MarkActivity() = 0;
  // With -appEnvironment: how to run a command in the app's environment. Prepared at the
  // first call (which may block for a credhub round trip) and kept for the connection's life;
  // an error is kept too, so every session of the connection reports the same one.
  virtual const absl::StatusOr<lifecycle::AppLaunch>& app_launch() = 0;
};

class ChannelHandler {
 public:
  virtual ~ChannelHandler() = default;
  // A channel request (SSH_REQUEST_CHANNEL message). Returns 0 when it replied itself, 1 for
  // libssh's default (failure) reply.
  virtual int OnRequest(ssh_message msg) = 0;
  virtual void OnChildExit(pid_t pid, int wait_status) {}
  // Called between polls: make progress, update fd watches.
  virtual void Poll() = 0;
  // True once the handler can be destroyed (its channel is closed or handed back).
  virtual bool Finished() const = 0;
  // The connection is ending: stop, abandon processes to the connection.
  virtual void Hangup() = 0;
};

}  // namespace hatch

#endif  // HATCH_SSHD_CHANNEL_HANDLER_H_
