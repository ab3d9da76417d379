// The contract between a connection and the handlers of its channels.
//
// Everything runs on the connection's one thread. libssh callbacks may fire nested inside
// other libssh calls, so handlers only record state and do I/O in callbacks; they change
// which fds are watched, free channels and are destroyed only in Poll() and by the
// connection between two ssh_event_dopoll() calls. A handler created inside a callback (a
// channel open) waits in the connection's pending list and joins the served ones between
// polls; the connection is the only owner of both lists.
#ifndef HATCH_SSHD_CHANNEL_HANDLER_H_
#define HATCH_SSHD_CHANNEL_HANDLER_H_

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"

#include "sshd/audit.h"
#include "sshd/config.h"
#include "sshd/environment.h"

namespace hatch {
namespace lifecycle {
struct AppLaunch;
}  // namespace lifecycle

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
  // The exit of `pid` (a child this handler started) is reported to `owner->OnChildExit`
  // until the owner calls ReleaseChild.
  virtual void WatchChild(pid_t pid, ChannelHandler* owner) = 0;
  // The owner goes away. The connection still reaps `pid` if it exits while the connection
  // lives; it never signals it (hanging a session up is the owner's decision).
  virtual void ReleaseChild(pid_t pid) = 0;
  // Traffic that keeps the connection from being idle.
  virtual void MarkActivity() = 0;
  // Forwarded TCP channels open or being opened on the connection, both ways (-L
  // direct-tcpip and connections to -R listeners): together they are held to -maxTunnels.
  virtual int ForwardedChannels() const { return 0; }
  // The connection's audit trail (sshd/audit.h): its id and peer. The default (for test
  // contexts) is an unnamed connection's.
  virtual const ConnectionAudit& audit() {
    static const ConnectionAudit unnamed;
    return unnamed;
  }
  // With -appEnvironment: how to run a command in the app's environment. Prepared at the
  // first call (which may block for a credhub round trip) and kept for the connection's life;
  // an error is kept too, so every session of the connection reports the same one.
  virtual const absl::StatusOr<lifecycle::AppLaunch>& app_launch() = 0;
};

class ChannelHandler {
 public:
  // What a handler serves; the connection counts them against their limits.
  enum class Kind { kSession, kDirectTcpip, kRemoteForward };

  explicit ChannelHandler(Kind kind) : kind_(kind) {}
  virtual ~ChannelHandler() = default;
  ChannelHandler(const ChannelHandler&) = delete;
  ChannelHandler& operator=(const ChannelHandler&) = delete;

  Kind kind() const { return kind_; }
  // The channel whose requests this handler answers (null if none, or not yet open).
  virtual ssh_channel channel() const { return nullptr; }
  // A channel request (SSH_REQUEST_CHANNEL message). Returns 0 when it replied itself, 1 for
  // libssh's default (failure) reply.
  virtual int OnRequest(ssh_message msg) { return 1; }
  virtual void OnChildExit(pid_t pid, int wait_status) {}
  // Called between polls: make progress, update fd watches.
  virtual void Poll() = 0;
  // True once the handler can be destroyed (its channel is closed or handed back).
  virtual bool Finished() const = 0;
  // The connection is ending (the client is gone, or the daemon stops): stop serving; a
  // session still running is hung up.
  virtual void Hangup() = 0;
  // The session id (= the leader's pid) of a process this handler started and whose channel
  // is still open, so whatever still belongs to it is attached to the client; -1 if none.
  // The daemon's shutdown ends these sessions' processes.
  virtual pid_t AttachedSession() const { return -1; }

 private:
  const Kind kind_;
};

}  // namespace hatch

#endif  // HATCH_SSHD_CHANNEL_HANDLER_H_
