// SessionChannel: one "session" channel (RFC 4254 §6): its env, pty-req, window-change,
// signal, exec/shell/subsystem requests, the process it starts, and the data between them.
//
// Data moves through a ChannelPump, with back-pressure both ways.
#ifndef HATCH_SSHD_SESSION_CHANNEL_H_
#define HATCH_SSHD_SESSION_CHANNEL_H_

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <memory>
#include <optional>
#include <string>

#include "base/unique_fd.h"
#include "pty/pty.h"
#include "sshd/channel_handler.h"
#include "sshd/environment.h"
#include "sshd/channel_pump.h"
#include "sshd/process.h"

namespace hatch {

class SessionChannel : public ChannelHandler {
 public:
  // Takes ownership of `channel` (freed when this handler finishes). `ctx` outlives this.
  SessionChannel(ConnectionContext* ctx, ssh_channel channel);
  ~SessionChannel() override;
  SessionChannel(const SessionChannel&) = delete;
  SessionChannel& operator=(const SessionChannel&) = delete;

  int OnRequest(ssh_message msg) override;
  void OnChildExit(pid_t pid, int wait_status) override;
  void Poll() override;
  bool Finished() const override { return finished_; }
  void Hangup() override;

 private:
  static int OnData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* self);
  static void OnEof(ssh_session, ssh_channel, void* self);
  static void OnClose(ssh_session, ssh_channel, void* self);
  static void OnSignal(ssh_session, ssh_channel, const char* signal, void* self);

  int HandlePtyRequest(ssh_message msg);
  int HandleStart(ssh_message msg, int subtype);
  absl::Status StartProcess(SpawnRequest request, const std::string& what);
  // -appEnvironment: the request runs command_ ("" for a shell) in the app's environment, or
  // reports on stderr why it cannot.
  void PrepareInApp(SpawnRequest* request);
  void MaybeSendExit();
  void Finish();

  ConnectionContext* ctx_;
  ssh_channel channel_;
  ssh_channel_callbacks_struct callbacks_{};
  SessionEnvironment env_;

  std::optional<pty::Pty> pty_;
  pty::WindowSize window_;

  bool started_ = false;
  pid_t pid_ = -1;
  bool exited_ = false;
  int wait_status_ = 0;
  std::string command_;  // for logs

  // The process's ends of its stdio (empty with a pty: the master serves both ways).
  UniqueFd stdin_;
  UniqueFd stdout_;
  UniqueFd stderr_;
  std::unique_ptr<ChannelPump> pump_;
  bool eof_before_start_ = false;
  bool peer_closed_ = false;
  bool exit_sent_ = false;
  bool finished_ = false;
};

}  // namespace hatch

#endif  // HATCH_SSHD_SESSION_CHANNEL_H_
