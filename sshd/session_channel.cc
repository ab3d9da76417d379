#include "sshd/session_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lifecycle/app_launch.h"
#include "sshd/audit.h"
#include "sshd/log.h"
#include "sshd/scp/scp.h"
#include "sshd/sftp/sftp_server.h"

// libssh marks the pixel-size accessors deprecated in favour of callbacks that do not carry
// the terminal modes; hatch needs the modes, so it reads pty-req as a message.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace hatch {
SessionChannel::SessionChannel(ConnectionContext* ctx, SshChannel channel)
    : ChannelHandler(Kind::kSession),
      ctx_(ctx),
      channel_(std::move(channel)),
      env_(ctx->base_environment()) {
  callbacks_.userdata = this;
  callbacks_.channel_data_function = &SessionChannel::OnData;
  callbacks_.channel_eof_function = &SessionChannel::OnEof;
  callbacks_.channel_close_function = &SessionChannel::OnClose;
  callbacks_.channel_signal_function = &SessionChannel::OnSignal;
  ssh_callbacks_init(&callbacks_);
  ssh_set_channel_callbacks(channel_.get(), &callbacks_);
}

SessionChannel::~SessionChannel() { Finish(/*hang_up=*/true); }

int SessionChannel::OnRequest(ssh_message msg) {
  ctx_->MarkActivity();
  const int subtype = ssh_message_subtype(msg);
  switch (subtype) {
    case SSH_CHANNEL_REQUEST_PTY:
      return HandlePtyRequest(msg);
    case SSH_CHANNEL_REQUEST_ENV: {
      if (started_) return 1;
      const char* name = ssh_message_channel_request_env_name(msg);
      const char* value = ssh_message_channel_request_env_value(msg);
      if (name == nullptr || value == nullptr) return 1;
      if (!env_.Set(name, value)) {
        // Refused: a name that cannot be set, or past the per-session limits. Logged once per
        // session (a flood would otherwise be a line per request); never the value.
        if (!env_refusal_logged_) {
          env_refusal_logged_ = true;
          LogInfo("session.env-refused", {{"peer", ctx_->peer()}, {"name", std::string(name)}});
        }
        return 1;
      }
      env_names_.emplace_back(name);  // the audit trail gets names only
      ssh_message_channel_request_reply_success(msg);
      return 0;
    }
    case SSH_CHANNEL_REQUEST_EXEC:
    case SSH_CHANNEL_REQUEST_SHELL:
    case SSH_CHANNEL_REQUEST_SUBSYSTEM:
      return HandleStart(msg, subtype);
    case SSH_CHANNEL_REQUEST_WINDOW_CHANGE: {
      window_.cols = static_cast<uint32_t>(ssh_message_channel_request_pty_width(msg));
      window_.rows = static_cast<uint32_t>(ssh_message_channel_request_pty_height(msg));
      window_.width_px = static_cast<uint32_t>(ssh_message_channel_request_pty_pxwidth(msg));
      window_.height_px = static_cast<uint32_t>(ssh_message_channel_request_pty_pxheight(msg));
      if (!pty_.has_value()) return 1;
      // TIOCSWINSZ makes the kernel send SIGWINCH to the terminal's foreground group.
      if (!pty_->SetWindowSize(window_).ok()) return 1;
      if (recorder_) recorder_->Resize(static_cast<int>(window_.cols), static_cast<int>(window_.rows));
      ssh_message_channel_request_reply_success(msg);
      return 0;
    }
    default:
      return 1;  // x11, auth-agent, unknown: failure, the channel stays usable
  }
}

int SessionChannel::HandlePtyRequest(ssh_message msg) {
  if (started_ || pty_.has_value()) return 1;
  absl::StatusOr<pty::Pty> pty = pty::Pty::Open();
  if (!pty.ok()) {
    LogError("session.pty-failed", {{"peer", ctx_->peer()}, {"error", pty.status().ToString()}});
    return 1;
  }
  pty_.emplace(std::move(*pty));
  fcntl(pty_->master(), F_SETFL, fcntl(pty_->master(), F_GETFL) | O_NONBLOCK);
  size_t modes_len = 0;
  const unsigned char* modes = ssh_message_channel_request_pty_modes(msg, &modes_len);
  if (modes != nullptr && modes_len > 0) {
    absl::Status s = pty_->ApplyModes(
        absl::string_view(reinterpret_cast<const char*>(modes), modes_len));
    if (!s.ok()) LogDebug("session.pty-modes-ignored", {{"error", s.ToString()}});
  }
  window_.cols = static_cast<uint32_t>(ssh_message_channel_request_pty_width(msg));
  window_.rows = static_cast<uint32_t>(ssh_message_channel_request_pty_height(msg));
  window_.width_px = static_cast<uint32_t>(ssh_message_channel_request_pty_pxwidth(msg));
  window_.height_px = static_cast<uint32_t>(ssh_message_channel_request_pty_pxheight(msg));
  (void)pty_->SetWindowSize(window_);
  const char* term = ssh_message_channel_request_pty_term(msg);
  if (term != nullptr && *term != '\0') {
    env_.SetTerm(term);
    term_ = term;
  }
  ssh_message_channel_request_reply_success(msg);
  return 0;
}

int SessionChannel::HandleStart(ssh_message msg, int subtype) {
  if (started_) return 1;
  SpawnRequest request;
  request.env = env_.ToEnvp();
  request.cwd = env_.home();
  request.sandbox = ctx_->config().session_sandbox();
  std::string what;
  const std::string shell = LocateShell(env_.Get("PATH"));
  if (subtype == SSH_CHANNEL_REQUEST_EXEC) {
    const char* command = ssh_message_channel_request_command(msg);
    command_ = command != nullptr ? command : "";
    std::vector<std::string> scp_args;
    if (scp::ParseScpCommand(command_, &scp_args)) {
      // Built in, so `scp -O` works in a rootfs with no scp binary (diego-sshd does the same).
      scp::ScpOptions options{.home = env_.home(), .read_only = request.sandbox.read_only};
      request.builtin = [scp_args, options, audit = ctx_->audit()]() mutable {
        AuditFileObserver observer(audit);  // file events from the forked child
        options.observer = &observer;
        return scp::RunScp(scp_args, 0, 1, 2, options);
      };
      request.builtin_keep_fd = AuditFd();
      what = "scp";
    } else if (ctx_->config().app_environment) {
      what = "exec";
      PrepareInApp(&request);
    } else {
      request.argv = {shell, "-c", command_};
      what = "exec";
    }
  } else if (subtype == SSH_CHANNEL_REQUEST_SHELL) {
    what = "shell";
    if (ctx_->config().app_environment) {
      PrepareInApp(&request);
    } else {
      request.argv = {shell};
    }
  } else {
    // Every byte of the name (scripts/libssh-subsystem-name.patch): "sftp\0junk" is no "sftp".
    const char* name = ssh_message_channel_request_subsystem(msg);
    command_.assign(name != nullptr ? name : "",
                    name != nullptr ? ssh_message_channel_request_subsystem_len(msg) : 0);
    if (command_ != "sftp") {
      LogInfo("session.unsupported-subsystem", {{"peer", ctx_->peer()}, {"subsystem", command_}});
      return 1;
    }
    sftp::SftpServerOptions options;
    options.home = env_.home();
    options.read_only = request.sandbox.read_only;
    request.builtin = [options, audit = ctx_->audit()]() mutable {
      AuditFileObserver observer(audit);  // file events from the forked child
      options.observer = &observer;
      return sftp::RunSftpServer(0, 1, options);
    };
    request.builtin_keep_fd = AuditFd();
    what = "subsystem";
  }
  absl::Status s = StartProcess(std::move(request), what);
  if (!s.ok()) {
    LogError("session.start-failed", {{"peer", ctx_->peer()}, {"error", s.ToString()}});
    return 1;
  }
  ssh_message_channel_request_reply_success(msg);
  return 0;
}

void SessionChannel::PrepareInApp(SpawnRequest* request) {
  const absl::StatusOr<lifecycle::AppLaunch>& launch = ctx_->app_launch();
  if (!launch.ok()) {
    // The client sees why on stderr and exit status 1, as if a shell had failed to start.
    const std::string message =
        absl::StrCat("hatch: cannot enter the app's environment: ", launch.status().message(), "\n");
    request->argv.clear();
    request->builtin = [message] {
      for (size_t done = 0; done < message.size();) {
        const ssize_t n = ::write(2, message.data() + done, message.size() - done);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
      return 1;
    };
    return;
  }
  // argv0 names the interpreter (bash, or sh in an image without bash) in its messages.
  request->argv = lifecycle::AppLaunchArgv(*launch, launch->default_command, command_);
  request->env = env_.ToEnvpOver(launch->env.entries());
  request->cwd = launch->app_dir;
}

absl::Status SessionChannel::StartProcess(SpawnRequest request, const std::string& what) {
  if (pty_.has_value()) request.pty_slave = pty_->slave_path().c_str();
  absl::StatusOr<SpawnedProcess> p = Spawn(request);
  if (!p.ok()) return p.status();
  started_ = true;
  pid_ = p->pid;
  ctx_->WatchChild(pid_, this);
  pump_ = std::make_unique<ChannelPump>(ctx_, channel_.get());
  if (pty_.has_value()) {
    // A terminal merges stdout and stderr into its one stream.
    pump_->AddSource(pty_->master(), /*extended=*/false);
    pump_->SetSink(pty_->master());
  } else {
    stdin_ = std::move(p->stdin_fd);
    stdout_ = std::move(p->stdout_fd);
    stderr_ = std::move(p->stderr_fd);
    pump_->AddSource(stdout_.get(), /*extended=*/false);
    pump_->AddSource(stderr_.get(), /*extended=*/true);
    pump_->SetSink(stdin_.get());
  }
  // The audit trail's session.started, and a recording for every shell and exec session.
  audit_channel_ = NextAuditChannelNumber();
  kind_ = what == "shell" ? SessionKind::kShell
          : what == "subsystem" ? SessionKind::kSubsystem : SessionKind::kExec;
  started_at_ = absl::Now();
  if (what == "shell" || what == "exec") {
    RecordingHeader header;
    if (pty_.has_value()) {
      header.width = static_cast<int>(window_.cols);
      header.height = static_cast<int>(window_.rows);
    }
    header.term = term_;
    header.command = command_;
    header.title = absl::StrCat(what, " from ", ctx_->peer());
    recorder_ = SessionRecorder::Start(ctx_->config().record_sessions,
                                       ctx_->config().record_max_bytes, &ctx_->audit(),
                                       audit_channel_, header, pty_.has_value());
    if (recorder_) pump_->SetTap(recorder_.get());
  }
  SessionStart start;
  start.channel = audit_channel_;
  start.kind = kind_;
  start.command = command_;
  start.pty = pty_.has_value();
  start.term = term_;
  start.env_requests = env_names_;
  start.recording = recorder_ ? recorder_->path() : "";
  ctx_->audit().SessionStarted(start);
  pump_->PickUpEarlierInput();  // data the client sent before the process existed
  LogInfo("session.started", {{"peer", ctx_->peer()},
                              {"type", what},
                              {"command", command_},
                              {"pty", pty_.has_value()},
                              {"pid", pid_}});
  return absl::OkStatus();
}

int SessionChannel::OnData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                           void* self_ptr) {
  auto* self = static_cast<SessionChannel*>(self_ptr);
  if (is_stderr) return static_cast<int>(len);  // no meaning for a server; drop it
  if (!self->pump_) return 0;  // before exec: libssh keeps it until the process exists
  return self->pump_->OnChannelData(data, len);
}

void SessionChannel::OnEof(ssh_session, ssh_channel, void* self_ptr) {
  auto* self = static_cast<SessionChannel*>(self_ptr);
  if (self->pump_) {
    self->pump_->OnChannelEof();
  } else {
    self->eof_before_start_ = true;
  }
}

void SessionChannel::OnClose(ssh_session, ssh_channel, void* self_ptr) {
  static_cast<SessionChannel*>(self_ptr)->peer_closed_ = true;
}

void SessionChannel::OnSignal(ssh_session, ssh_channel, const char* signal, void* self_ptr) {
  auto* self = static_cast<SessionChannel*>(self_ptr);
  self->ctx_->MarkActivity();
  const std::string name = signal != nullptr ? signal : "";
  const int sig = SignalFromSshName(name);
  LogInfo("session.signal", {{"peer", self->ctx_->peer()}, {"signal", name}, {"known", sig != 0}});
  if (sig != 0 && self->started_ && !self->exited_) SignalProcessGroup(self->pid_, sig);
}

void SessionChannel::Poll() {
  if (finished_) return;
  if (peer_closed_) {
    LogInfo("session.closed-by-client", {{"peer", ctx_->peer()}, {"command", command_}});
    Finish(/*hang_up=*/true);
    return;
  }
  if (!started_) return;
  if (eof_before_start_) {
    pump_->OnChannelEof();
    eof_before_start_ = false;
  }
  pump_->Poll();
  if (stdin_.valid() && pump_->input_done()) {
    // Everything the client sent before its EOF reached the process: it reads EOF now.
    pump_->CloseSink();
    stdin_.reset();
  }
  if (exited_ && pty_.has_value() && !pump_->sources_done()) {
    // The shell is gone: send what is left in the terminal, then stop even if a background
    // job still holds the slave open (OpenSSH does the same).
    pump_->DrainSources();
  }
  MaybeSendExit();
}

void SessionChannel::MaybeSendExit() {
  if (exit_sent_ || !exited_ || !pump_->sources_done()) return;
  if (WIFSIGNALED(wait_status_)) {
    const std::string name = SshNameFromSignal(WTERMSIG(wait_status_));
    ssh_channel_request_send_exit_signal(channel_.get(), name.c_str(), WCOREDUMP(wait_status_) ? 1 : 0,
                                         "", "");
    LogInfo("session.exited", {{"peer", ctx_->peer()}, {"command", command_}, {"signal", name}});
  } else {
    const int code = WEXITSTATUS(wait_status_);
    ssh_channel_request_send_exit_status(channel_.get(), code);
    LogInfo("session.exited", {{"peer", ctx_->peer()}, {"command", command_}, {"status", code}});
  }
  ssh_channel_send_eof(channel_.get());
  ssh_channel_close(channel_.get());
  exit_sent_ = true;
  Finish(/*hang_up=*/false);
}

void SessionChannel::OnChildExit(pid_t pid, int wait_status) {
  if (pid != pid_) return;
  exited_ = true;
  wait_status_ = wait_status;
}

void SessionChannel::Hangup() {
  if (!finished_) LogInfo("session.hangup", {{"peer", ctx_->peer()}, {"command", command_}});
  Finish(/*hang_up=*/true);
}

void SessionChannel::AuditEnded(bool hung_up) {
  if (!started_ || audit_ended_) return;
  audit_ended_ = true;
  SessionEnd end;
  end.channel = audit_channel_;
  end.kind = kind_;
  end.command = command_;
  if (exited_ && WIFSIGNALED(wait_status_)) {
    end.exit_signal = SshNameFromSignal(WTERMSIG(wait_status_));
  } else if (exited_) {
    end.exit_status = WEXITSTATUS(wait_status_);
  }
  end.hung_up = hung_up;
  end.duration = absl::Now() - started_at_;
  if (pump_) {
    end.bytes_in = pump_->bytes_in();
    end.bytes_out = pump_->bytes_out();
    pump_->SetTap(nullptr);
  }
  if (recorder_) {
    recorder_->Finish();
    end.recording = recorder_->path();
    end.recording_sha256 = recorder_->sha256();
  }
  ctx_->audit().SessionEnded(end);
}

void SessionChannel::Finish(bool hang_up) {
  if (finished_) return;
  finished_ = true;
  AuditEnded(hang_up && !exit_sent_);
  // Still attached: the process runs, or (without a pty) something of its group still holds
  // the output open. A process that ended on its own and let go of its output is never
  // signalled: its background work (`cmd >log 2>&1 &`) was left on purpose.
  const bool attached = started_ && (!exited_ || (!pty_.has_value() && pump_ && !pump_->sources_done()));
  if (pump_) pump_->Stop();
  if (hang_up && attached) {
    // As a terminal hangup: SIGCONT too, so a stopped job (Ctrl-Z) sees the SIGHUP. Once the
    // leader is reaped its pid may be reused: then only its group (which keeps the id
    // reserved while it has members) is signalled.
    for (int sig : {SIGHUP, SIGCONT}) {
      if (exited_) {
        kill(-pid_, sig);
      } else {
        SignalProcessGroup(pid_, sig);
      }
    }
  }
  if (started_ && !exited_) ctx_->ReleaseChild(pid_);
  // Closing the pty master hangs the terminal up: the kernel signals the session's
  // foreground job and its leader, and a shell passes SIGHUP on to its jobs.
  pty_.reset();
  pump_.reset();
  stdin_.reset();
  stdout_.reset();
  stderr_.reset();
  ssh_remove_channel_callbacks(channel_.get(), &callbacks_);
  channel_.reset();
}

}  // namespace hatch
