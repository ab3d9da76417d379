#include "sshd/session_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "sshd/log.h"
#include "sshd/scp/scp.h"
#include "sshd/sftp/sftp_server.h"

// libssh marks the pixel-size accessors deprecated in favour of callbacks that do not carry
// the terminal modes; hatch needs the modes, so it reads pty-req as a message.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace hatch {
namespace {

// Stop reading process output while the socket holds this much unsent data.
constexpr size_t kMaxPendingOutput = 4 * 1024 * 1024;
constexpr size_t kReadChunk = 64 * 1024;

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

SessionChannel::SessionChannel(ConnectionContext* ctx, ssh_channel channel)
    : ctx_(ctx), channel_(channel), env_(ctx->base_environment()) {
  callbacks_.userdata = this;
  callbacks_.channel_data_function = &SessionChannel::OnData;
  callbacks_.channel_eof_function = &SessionChannel::OnEof;
  callbacks_.channel_close_function = &SessionChannel::OnClose;
  callbacks_.channel_signal_function = &SessionChannel::OnSignal;
  ssh_callbacks_init(&callbacks_);
  ssh_set_channel_callbacks(channel_, &callbacks_);
}

SessionChannel::~SessionChannel() { Finish(); }

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
      if (name == nullptr || value == nullptr || !env_.Set(name, value)) return 1;
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
  term_ = term != nullptr ? term : "";
  if (!term_.empty()) env_.SetTerm(term_);
  ssh_message_channel_request_reply_success(msg);
  return 0;
}

int SessionChannel::HandleStart(ssh_message msg, int subtype) {
  if (started_) return 1;
  SpawnRequest request;
  request.env = env_.ToEnvp();
  request.cwd = env_.home();
  std::string what;
  const std::string shell = LocateShell(env_.Get("PATH"));
  if (subtype == SSH_CHANNEL_REQUEST_EXEC) {
    const char* command = ssh_message_channel_request_command(msg);
    command_ = command != nullptr ? command : "";
    std::vector<std::string> scp_args;
    if (scp::ParseScpCommand(command_, &scp_args)) {
      // Built in, so `scp -O` works in a rootfs with no scp binary (diego-sshd does the same).
      scp::ScpOptions options{.home = env_.home(), .read_only = false};
      request.builtin = [scp_args, options] { return scp::RunScp(scp_args, 0, 1, 2, options); };
      what = "scp";
    } else {
      request.argv = {shell, "-c", command_};
      what = "exec";
    }
  } else if (subtype == SSH_CHANNEL_REQUEST_SHELL) {
    request.argv = {shell};
    what = "shell";
  } else {
    const char* name = ssh_message_channel_request_subsystem(msg);
    command_ = name != nullptr ? name : "";
    if (command_ != "sftp") {
      LogInfo("session.unsupported-subsystem", {{"peer", ctx_->peer()}, {"subsystem", command_}});
      return 1;
    }
    sftp::SftpServerOptions options;
    options.home = env_.home();
    request.builtin = [options] { return sftp::RunSftpServer(0, 1, options); };
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

absl::Status SessionChannel::StartProcess(SpawnRequest request, const std::string& what) {
  if (pty_.has_value()) request.pty_slave = pty_->slave_path().c_str();
  absl::StatusOr<SpawnedProcess> p = Spawn(request);
  if (!p.ok()) return p.status();
  started_ = true;
  pid_ = p->pid;
  ctx_->WatchChild(pid_, this);
  if (pty_.has_value()) {
    out_.raw = pty_->master();
    err_.eof = true;  // a terminal merges stderr into its one stream
  } else {
    out_.fd = std::move(p->stdout_fd);
    out_.raw = out_.fd.get();
    err_.fd = std::move(p->stderr_fd);
    err_.raw = err_.fd.get();
    err_.is_stderr = true;
    stdin_ = std::move(p->stdin_fd);
    in_watch_ = std::make_unique<FdWatch>(ctx_->event(), stdin_.get(),
                                          [this](short ev) { OnFdReady(stdin_.get(), ev); });
    err_watch_ = std::make_unique<FdWatch>(ctx_->event(), err_.raw,
                                           [this](short ev) { OnFdReady(err_.raw, ev); });
  }
  out_watch_ = std::make_unique<FdWatch>(ctx_->event(), out_.raw,
                                         [this](short ev) { OnFdReady(out_.raw, ev); });
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
  self->ctx_->MarkActivity();
  if (is_stderr) return static_cast<int>(len);  // no meaning for a server; drop it
  if (self->stdin_closed_) return static_cast<int>(len);  // the process stopped reading
  if (!self->started_ || self->input_blocked_ || !self->pending_in_.empty()) {
    self->libssh_holds_input_ = true;  // keep it in libssh's buffer; its window stays closed
    return 0;
  }
  size_t n = self->WriteInput(static_cast<const char*>(data), len);
  self->libssh_holds_input_ = n < len;
  return static_cast<int>(n);
}

void SessionChannel::OnEof(ssh_session, ssh_channel, void* self_ptr) {
  static_cast<SessionChannel*>(self_ptr)->client_eof_ = true;
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

int SessionChannel::input_fd() const { return pty_.has_value() ? pty_->master() : stdin_.get(); }

size_t SessionChannel::WriteInput(const char* data, size_t len) {
  const int fd = input_fd();
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::write(fd, data + done, len - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && WouldBlock(errno)) {
      input_blocked_ = true;
      break;
    } else {
      // EPIPE: the process closed its stdin. Whatever else arrives is dropped, as a pipe to
      // a finished reader would.
      stdin_closed_ = true;
      stdin_.reset();
      return len;
    }
  }
  return done;
}

// Moves data libssh kept (because the fd was full) into the process, now that it drains.
void SessionChannel::PullBufferedInput() {
  while (!input_blocked_ && !stdin_closed_) {
    if (!pending_in_.empty()) {
      size_t n = WriteInput(pending_in_.data(), pending_in_.size());
      if (stdin_closed_) n = pending_in_.size();
      pending_in_.erase(0, n);
      if (!pending_in_.empty()) return;
    }
    if (!libssh_holds_input_) return;
    // The buffer is known to hold data, so this read handles no packets (no callbacks run).
    char buf[kReadChunk];
    int n = ssh_channel_read_timeout(channel_, buf, sizeof buf, 0, 0);
    if (n <= 0) {
      libssh_holds_input_ = false;
      return;
    }
    if (static_cast<size_t>(n) < sizeof buf) libssh_holds_input_ = false;
    pending_in_.assign(buf, static_cast<size_t>(n));
  }
  if (stdin_closed_) {
    pending_in_.clear();
  }
}

int SessionChannel::WindowBudget() const {
  if (exit_sent_ || peer_closed_) return 0;
  if (ssh_session_pending_output(ctx_->session()) > kMaxPendingOutput) return 0;
  uint32_t window = ssh_channel_window_size(channel_);
  return static_cast<int>(std::min<uint32_t>(window, kReadChunk));
}

SessionChannel::ReadResult SessionChannel::ReadOutput(Output* out) {
  if (out->eof || out->raw < 0) return ReadResult::kEof;
  const int budget = WindowBudget();
  if (budget <= 0) return ReadResult::kNoWindow;
  char buf[kReadChunk];
  ssize_t n = ::read(out->raw, buf, static_cast<size_t>(budget));
  if (n > 0) {
    ctx_->MarkActivity();
    int rc = out->is_stderr ? ssh_channel_write_stderr(channel_, buf, static_cast<uint32_t>(n))
                            : ssh_channel_write(channel_, buf, static_cast<uint32_t>(n));
    if (rc == SSH_ERROR) out->eof = true;
    return ReadResult::kData;
  }
  if (n < 0 && (errno == EINTR || WouldBlock(errno))) return ReadResult::kWouldBlock;
  // 0: end of the pipe. EIO: every slave fd of the pty is closed.
  out->eof = true;
  return ReadResult::kEof;
}

void SessionChannel::OnFdReady(int fd, short revents) {
  if ((revents & POLLOUT) != 0 && fd == input_fd()) input_blocked_ = false;
  if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
    if (fd == out_.raw) ReadOutput(&out_);
    if (fd == err_.raw) ReadOutput(&err_);
    if (fd == stdin_.get() && (revents & POLLERR) != 0) input_blocked_ = false;  // EPIPE next
  }
}

void SessionChannel::UpdateWatches() {
  const bool can_send = WindowBudget() > 0;
  const bool input_waits = input_blocked_ && !stdin_closed_;
  if (out_watch_) {
    short ev = (!out_.eof && can_send) ? POLLIN : 0;
    if (pty_.has_value() && input_waits) ev |= POLLOUT;
    out_watch_->Want(ev);
    out_watch_->Sync();
  }
  if (err_watch_) {
    err_watch_->Want((!err_.eof && can_send) ? POLLIN : 0);
    err_watch_->Sync();
  }
  if (in_watch_) {
    in_watch_->Want(input_waits && stdin_.valid() ? POLLOUT : 0);
    in_watch_->Sync();
  }
}

void SessionChannel::Poll() {
  if (finished_) return;
  if (peer_closed_) {
    LogInfo("session.closed-by-client", {{"peer", ctx_->peer()}, {"command", command_}});
    Finish();
    return;
  }
  if (!started_) return;
  PullBufferedInput();
  if (client_eof_ && !libssh_holds_input_ && pending_in_.empty() && stdin_.valid()) {
    if (in_watch_) in_watch_->Stop();
    stdin_.reset();  // the process reads EOF
    stdin_closed_ = true;
  }
  if (exited_ && pty_.has_value() && !out_.eof) {
    // The shell is gone: send what is left in the terminal, then stop even if a background
    // job still holds the slave open (OpenSSH does the same).
    ReadResult r;
    while ((r = ReadOutput(&out_)) == ReadResult::kData) {
    }
    if (r == ReadResult::kWouldBlock) out_.eof = true;
  }
  MaybeSendExit();
  if (!finished_) UpdateWatches();
}

void SessionChannel::MaybeSendExit() {
  if (exit_sent_ || !exited_ || !out_.eof || !err_.eof) return;
  if (WIFSIGNALED(wait_status_)) {
    const std::string name = SshNameFromSignal(WTERMSIG(wait_status_));
    ssh_channel_request_send_exit_signal(channel_, name.c_str(), WCOREDUMP(wait_status_) ? 1 : 0,
                                         "", "");
    LogInfo("session.exited", {{"peer", ctx_->peer()}, {"command", command_}, {"signal", name}});
  } else {
    const int code = WEXITSTATUS(wait_status_);
    ssh_channel_request_send_exit_status(channel_, code);
    LogInfo("session.exited", {{"peer", ctx_->peer()}, {"command", command_}, {"status", code}});
  }
  ssh_channel_send_eof(channel_);
  ssh_channel_close(channel_);
  exit_sent_ = true;
  Finish();
}

void SessionChannel::OnChildExit(pid_t pid, int wait_status) {
  if (pid != pid_) return;
  exited_ = true;
  wait_status_ = wait_status;
}

void SessionChannel::Hangup() {
  LogInfo("session.hangup", {{"peer", ctx_->peer()}, {"command", command_}});
  Finish();
}

void SessionChannel::Finish() {
  if (finished_) return;
  finished_ = true;
  out_watch_.reset();
  err_watch_.reset();
  in_watch_.reset();
  // Whatever is left of the session's process group gets SIGHUP, then SIGKILL.
  if (started_) ctx_->AbandonChild(pid_);
  ssh_remove_channel_callbacks(channel_, &callbacks_);
  ssh_channel_free(channel_);
  channel_ = nullptr;
}

}  // namespace hatch
