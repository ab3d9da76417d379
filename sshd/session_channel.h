// SessionChannel: one "session" channel (RFC 4254 §6): its env, pty-req, window-change,
// signal, exec/shell/subsystem requests, the process it starts, and the data between them.
//
// Data moves through a ChannelPump, with back-pressure both ways.
//
// Lifetime (docs/ARCHITECTURE.md, "Session lifetime"): a process that exits on its own is
// never signalled; when the client closes the channel or the connection ends while the
// session still runs, the session is hung up like a terminal (SIGHUP and SIGCONT to its
// process group; with a pty, the terminal's hangup when the master closes). Nothing is
// escalated to SIGKILL: what ignores SIGHUP (nohup) or left the session (setsid, tmux) lives on.
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
#include "sshd/session_recorder.h"
#include "sshd/ssh_handles.h"

namespace hatch {

class SessionChannel : public ChannelHandler {
 public:
  // `channel` is open (freed when this handler finishes). `ctx` outlives this.
  SessionChannel(ConnectionContext* ctx, SshChannel channel);
  ~SessionChannel() override;

  ssh_channel channel() const override { return channel_.get(); }
  int OnRequest(ssh_message msg) override;
  void OnChildExit(pid_t pid, int wait_status) override;
  void Poll() override;
  bool Finished() const override { return finished_; }
  void Hangup() override;
  pid_t AttachedSession() const override { return started_ && !finished_ ? pid_ : -1; }

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
  // Ends the handler; `hang_up`: the session is cut off while it may still run.
  void Finish(bool hang_up);
  // The audit trail's session.ended (and the recording's end), once.
  void AuditEnded(bool hung_up);

  ConnectionContext* ctx_;
  SshChannel channel_;
  ssh_channel_callbacks_struct callbacks_{};
  SessionEnvironment env_;

  std::optional<pty::Pty> pty_;
  pty::WindowSize window_;

  bool started_ = false;
  pid_t pid_ = -1;
  bool exited_ = false;
  int wait_status_ = 0;
  std::string command_;  // for logs

  // The audit trail (sshd/audit.h) and the recording (-recordSessions).
  int audit_channel_ = 0;
  SessionKind kind_ = SessionKind::kShell;
  std::vector<std::string> env_names_;
  std::string term_;
  absl::Time started_at_;
  bool audit_ended_ = false;
  std::unique_ptr<SessionRecorder> recorder_;

  // The process's ends of its stdio (empty with a pty: the master serves both ways).
  UniqueFd stdin_;
  UniqueFd stdout_;
  UniqueFd stderr_;
  std::unique_ptr<ChannelPump> pump_;
  bool eof_before_start_ = false;
  bool env_refusal_logged_ = false;
  bool peer_closed_ = false;
  bool exit_sent_ = false;
  bool finished_ = false;
};

}  // namespace hatch

#endif  // HATCH_SSHD_SESSION_CHANNEL_H_
