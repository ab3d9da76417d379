// SessionChannel: one "session" channel (RFC 4254 §6): its env, pty-req, window-change,
// signal, exec/shell/subsystem requests, the process it starts, and the data between them.
//
// Data moves with back-pressure both ways (shared/DESIGN.md, "Process model"):
// - process -> client: an output fd is read only while the channel's remote window is open
//   and the connection's socket has not queued too much;
// - client -> process: channel data is written to the process without blocking; what the fd
//   does not take is left in libssh's buffer (the data callback reports less consumed), so
//   libssh holds back the window until the fd drains.
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
#include "sshd/event_loop.h"
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
  // One direction of process output (stdout, stderr, or the pty master).
  struct Output {
    UniqueFd fd;          // owned, unless it is the pty master (then fd is empty, see raw)
    int raw = -1;         // the fd to read
    bool is_stderr = false;
    bool eof = false;
  };

  static int OnData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* self);
  static void OnEof(ssh_session, ssh_channel, void* self);
  static void OnClose(ssh_session, ssh_channel, void* self);
  static void OnSignal(ssh_session, ssh_channel, const char* signal, void* self);

  int HandlePtyRequest(ssh_message msg);
  int HandleStart(ssh_message msg, int subtype);
  absl::Status StartProcess(SpawnRequest request, const std::string& what);
  void OnFdReady(int fd, short revents);
  enum class ReadResult { kData, kWouldBlock, kEof, kNoWindow };
  ReadResult ReadOutput(Output* out);
  size_t WriteInput(const char* data, size_t len);
  void PullBufferedInput();
  void UpdateWatches();
  void MaybeSendExit();
  void Finish();
  int input_fd() const;
  int WindowBudget() const;

  ConnectionContext* ctx_;
  ssh_channel channel_;
  ssh_channel_callbacks_struct callbacks_{};
  SessionEnvironment env_;

  std::optional<pty::Pty> pty_;
  pty::WindowSize window_;
  std::string term_;

  bool started_ = false;
  pid_t pid_ = -1;
  bool exited_ = false;
  int wait_status_ = 0;
  std::string command_;  // for logs

  Output out_;
  Output err_;
  UniqueFd stdin_;              // pipe to the process (empty with a pty: input goes to the master)
  std::string pending_in_;      // read out of libssh, not yet taken by the process (<= 64 KiB)
  bool input_blocked_ = false;  // the last write did not take everything: wait for POLLOUT
  bool libssh_holds_input_ = false;  // libssh's buffer has data our callback did not consume
  bool client_eof_ = false;
  bool stdin_closed_ = false;
  bool peer_closed_ = false;
  bool exit_sent_ = false;
  bool finished_ = false;

  std::unique_ptr<FdWatch> out_watch_;  // stdout, or the pty master (both directions)
  std::unique_ptr<FdWatch> err_watch_;
  std::unique_ptr<FdWatch> in_watch_;   // stdin pipe only
};

}  // namespace hatch

#endif  // HATCH_SSHD_SESSION_CHANNEL_H_
