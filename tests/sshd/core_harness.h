// CoreHarness: an in-process libssh server and client joined by a socketpair, for unit tests
// of the connection core (ChannelPump, TcpTunnel, SessionChannel) that run in milliseconds.
//
// The server side is what a Connection gives its handlers: a non-blocking server session in a
// real ssh_event, and this harness as the ConnectionContext (it reaps the children handlers
// watch and reports their exit). Between two polls of the server event it joins the handlers
// opened inside callbacks and calls every handler's Poll(), as Connection::PollChannels does.
//
// The client side is a plain libssh client session (non-blocking, in an ssh_event of its own)
// whose channels record what arrives (ClientChannel) and write what a test queued.
//
// Key exchange needs both sides at once: the client connects and authenticates ("none") on a
// helper thread while this thread runs the server; after that everything runs on the calling
// thread, one Step() at a time.
#ifndef HATCH_TESTS_SSHD_CORE_HARNESS_H_
#define HATCH_TESTS_SSHD_CORE_HARNESS_H_

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "sshd/channel_handler.h"
#include "sshd/config.h"
#include "sshd/environment.h"
#include "sshd/ssh_handles.h"

namespace hatch::testing {

// One channel as the client sees it. Everything is recorded from libssh callbacks.
class ClientChannel {
 public:
  explicit ClientChannel(SshChannel channel);
  ~ClientChannel();
  ClientChannel(const ClientChannel&) = delete;
  ClientChannel& operator=(const ClientChannel&) = delete;

  ssh_channel get() const { return channel_.get(); }

  // Channel data received so far (stdout / extended), in arrival order.
  const std::string& data() const { return data_; }
  const std::string& extended() const { return extended_; }
  bool eof() const { return eof_; }
  bool closed() const { return closed_; }
  std::optional<int> exit_status() const { return exit_status_; }
  // data().size() when the peer's EOF / exit-status arrived.
  size_t data_at_eof() const { return data_at_eof_; }
  size_t data_at_exit() const { return data_at_exit_; }

  // While paused, received data is left in libssh's channel buffer unconsumed, so the
  // client's window stays closed (a slow reader). Resume() takes what libssh holds.
  void Pause() { paused_ = true; }
  void Resume();

  // Queues bytes to send; Flush() (called by every harness step) writes what the window
  // takes. SendEofWhenWritten(): the client's EOF follows the last queued byte.
  void Queue(const std::string& bytes) { out_.append(bytes); }
  void SendEofWhenWritten() { eof_wanted_ = true; }
  void Flush();
  size_t written() const { return written_; }
  bool all_written() const { return written_ == out_.size(); }
  bool eof_sent() const { return eof_sent_; }

 private:
  static int OnData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* self);
  static void OnEof(ssh_session, ssh_channel, void* self);
  static void OnClose(ssh_session, ssh_channel, void* self);
  static void OnExitStatus(ssh_session, ssh_channel, int status, void* self);

  SshChannel channel_;
  ssh_channel_callbacks_struct callbacks_{};
  std::string data_;
  std::string extended_;
  bool eof_ = false;
  bool closed_ = false;
  std::optional<int> exit_status_;
  size_t data_at_eof_ = 0;
  size_t data_at_exit_ = 0;
  bool paused_ = false;
  std::string out_;
  size_t written_ = 0;
  bool eof_wanted_ = false;
  bool eof_sent_ = false;
};

// A direct-tcpip channel the client opened, served by a TcpTunnel whose "target" is one end
// of a socketpair the test holds.
struct Tunnel {
  ClientChannel* client = nullptr;  // owned by the harness
  UniqueFd target;                  // the far end of the tunnel's socket (non-blocking)
  int server_socket = -1;           // the tunnel's own end (owned by its TcpTunnel)
  // Whether the server's handler for this tunnel is finished (its channel closed).
  std::function<bool()> finished;
};

class CoreHarness : public ConnectionContext {
 public:
  struct Options {
    // SSH_OPTIONS_REKEY_DATA for either side (0: libssh's default): a small value forces a
    // key re-exchange every that many bytes.
    uint64_t server_rekey_data = 0;
    uint64_t client_rekey_data = 0;
    // A loopback TCP connection (as the daemon has, TCP_NODELAY on the server's end) instead
    // of a socketpair: for what only TCP does (MSG_MORE, SO_RCVLOWAT).
    bool tcp = false;
  };

  // Key exchange and "none" authentication over a fresh socketpair.
  static absl::StatusOr<std::unique_ptr<CoreHarness>> Connect(const Options& options);
  static absl::StatusOr<std::unique_ptr<CoreHarness>> Connect() { return Connect(Options{}); }
  ~CoreHarness() override;

  // One round: the server event polls (waiting up to `server_wait_ms`), children are reaped,
  // handlers join and Poll(); then the client event polls and client channels flush.
  void Step(int server_wait_ms = 0);
  // Only the server side runs (the client process is frozen, as a client that stopped
  // reading its socket).
  void StepServer(int server_wait_ms = 0);
  // Steps until `done()` holds; false if it still does not after `limit`. Waits briefly in
  // the server's poll only when a step moved nothing.
  bool RunUntil(const std::function<bool()>& done, absl::Duration limit = absl::Seconds(20));
  // Steps until neither session sent or received anything for `quiet_steps` steps in a row.
  void RunUntilQuiet(int quiet_steps = 20);

  // Client side: opens a direct-tcpip channel, served on the server by a TcpTunnel.
  absl::StatusOr<Tunnel> OpenTunnel();
  // Client side: opens a session channel and runs `command` (an exec request); the server
  // serves it with a real SessionChannel. `paused`: the client reads nothing until Resume().
  absl::StatusOr<ClientChannel*> Exec(const std::string& command, bool paused = false);

  // pids of watched children whose exit was reported to their owner.
  const std::vector<pid_t>& exited_children() const { return exited_; }
  // Server-side handlers still served (pending or polled).
  size_t live_handlers() const { return handlers_.size() + pending_.size(); }

  // ConnectionContext
  ssh_session session() override { return server_.get(); }
  ssh_event event() override { return server_event_.get(); }
  const Config& config() override { return config_; }
  const BaseEnvironment& base_environment() override { return base_env_; }
  const std::string& peer() override { return peer_; }
  void WatchChild(pid_t pid, ChannelHandler* owner) override { children_[pid] = owner; }
  void ReleaseChild(pid_t pid) override;
  void MarkActivity() override {}
  const absl::StatusOr<lifecycle::AppLaunch>& app_launch() override;

 private:
  CoreHarness();
  absl::Status Handshake(const Options& options);
  static int OnMessage(ssh_session, ssh_message msg, void* self);
  int HandleMessage(ssh_message msg);
  void ServerHalf(int server_wait_ms);
  void ReapChildren();
  uint64_t Traffic() const;

  Config config_;
  BaseEnvironment base_env_;
  std::string peer_ = "socketpair";
  SshBind bind_;
  SshSession server_;
  SshEvent server_event_;
  SshSession client_;
  SshEvent client_event_;
  ssh_counter_struct server_in_{}, server_out_{}, client_in_{}, client_out_{};
  bool authenticated_ = false;

  std::vector<std::unique_ptr<ChannelHandler>> handlers_;
  std::vector<std::unique_ptr<ChannelHandler>> pending_;
  std::vector<SshChannel> accepted_tunnels_;  // direct-tcpip opens accepted in a callback
  std::deque<Tunnel> new_tunnels_;            // their server sides, made between polls
  std::vector<std::unique_ptr<ClientChannel>> client_channels_;
  std::map<pid_t, ChannelHandler*> children_;
  std::vector<pid_t> exited_;
  std::unique_ptr<absl::StatusOr<lifecycle::AppLaunch>> app_launch_;  // made at first use
};

// `n` bytes of a reproducible pseudo-random stream: a byte dropped, repeated or moved
// anywhere changes what follows, so comparing with it checks order and count.
std::string Pattern(size_t n, uint32_t seed);

// Counts libssh's key re-exchanges (its "triggered rekey" log lines) while alive; libssh's
// logging is process-wide, so one at a time.
class RekeyCounter {
 public:
  RekeyCounter();
  ~RekeyCounter();
  int count() const { return count_; }

 private:
  static void OnLog(int priority, const char* function, const char* buffer, void* self);
  int count_ = 0;
  ssh_logging_callback previous_callback_;
  void* previous_userdata_;
  int previous_level_;
};

// Reads what `fd` (non-blocking) has now, appending to `out`; returns true once it read EOF.
bool ReadAvailable(int fd, std::string* out, size_t max = SIZE_MAX);
// Writes as much of `bytes` from `*offset` as `fd` (non-blocking) takes now.
void WriteAvailable(int fd, const std::string& bytes, size_t* offset);
// Bytes queued in `fd`'s receive buffer (FIONREAD).
size_t Unread(int fd);
// Compares two long byte strings, reporting sizes and the first difference (not the bytes).
::testing::AssertionResult SameBytes(const std::string& got, const std::string& want);

}  // namespace hatch::testing

#endif  // HATCH_TESTS_SSHD_CORE_HARNESS_H_
