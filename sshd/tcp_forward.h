// TCP forwarding (RFC 4254 §7).
//
// DirectTcpipChannel serves a client's "direct-tcpip" open (ssh -L): it keeps the open
// request unanswered while it resolves the name (NameLookup, off the loop) and connects
// without blocking, then accepts the channel, or refuses it with "connect failed" and the
// reason (the client prints "open failed: connect failed: Connection refused").
//
// ForwardedTcpipChannel carries one connection accepted on a "tcpip-forward" listener
// (ssh -R) as a "forwarded-tcpip" channel the server opens.
//
// Both move data with a ChannelPump over the one socket (its own back-pressure per tunnel,
// so a slow reader on one tunnel never stalls another) and half-close both ways: the
// client's EOF becomes shutdown(SHUT_WR) once delivered, the socket's EOF becomes a channel
// EOF, and the channel closes when both directions are done.
#ifndef HATCH_SSHD_TCP_FORWARD_H_
#define HATCH_SSHD_TCP_FORWARD_H_

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "sshd/channel_handler.h"
#include "sshd/channel_pump.h"
#include "absl/time/time.h"
#include "sshd/audit.h"
#include "sshd/event_loop.h"
#include "sshd/name_lookup.h"
#include "sshd/ssh_handles.h"

namespace hatch {

// The data half shared by both kinds: a connected socket pumped over an open channel.
class TcpTunnel {
 public:
  // `ctx` outlives this; `channel` is open, `socket` connected. `forward` describes it for
  // the audit trail: forward.opened now, forward.closed (bytes, duration) at Close().
  TcpTunnel(ConnectionContext* ctx, SshChannel channel, UniqueFd socket, Forward forward = {});
  ~TcpTunnel();
  TcpTunnel(const TcpTunnel&) = delete;
  TcpTunnel& operator=(const TcpTunnel&) = delete;

  void Poll();
  bool finished() const { return finished_; }
  void Close();
  ssh_channel channel() const { return channel_.get(); }

 private:
  static int OnData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr, void* self);
  static void OnEof(ssh_session, ssh_channel, void* self);
  static void OnClose(ssh_session, ssh_channel, void* self);

  ConnectionContext* ctx_;
  SshChannel channel_;
  UniqueFd socket_;
  ssh_channel_callbacks_struct callbacks_{};
  ChannelPump pump_;
  Forward forward_;
  absl::Time opened_at_;
  bool peer_closed_ = false;
  bool eof_sent_ = false;
  bool write_shut_ = false;
  bool finished_ = false;
};

class DirectTcpipChannel : public ChannelHandler {
 public:
  // `open_request` is a kept SSH_REQUEST_CHANNEL_OPEN message, answered once connected.
  DirectTcpipChannel(ConnectionContext* ctx, SshMessage open_request);
  ~DirectTcpipChannel() override;

  ssh_channel channel() const override;
  void Poll() override;
  bool Finished() const override { return finished_; }
  void Hangup() override;

 private:
  void Refuse(int reason, const std::string& why);
  void ConnectNext();
  void OnLookupReady();
  void OnConnectReady();

  ConnectionContext* ctx_;
  SshMessage request_;
  std::string host_;
  uint16_t port_;
  std::string originator_;  // "host:port" the client named as the connection's source
  std::unique_ptr<NameLookup> lookup_;
  std::unique_ptr<FdWatch> lookup_watch_;
  bool lookup_ready_ = false;
  std::vector<sockaddr_storage> addresses_;
  size_t next_address_ = 0;
  UniqueFd socket_;
  std::unique_ptr<FdWatch> connect_watch_;
  bool connect_ready_ = false;
  std::string last_error_;
  std::unique_ptr<TcpTunnel> tunnel_;
  bool finished_ = false;
};

// One "tcpip-forward" listener and the connections it accepted.
class RemoteForwardListener : public ChannelHandler {
 public:
  // `listen_fd` is bound and listening; `address`/`port` are what the client asked for
  // (port 0: bound_port was chosen by the kernel).
  RemoteForwardListener(ConnectionContext* ctx, UniqueFd listen_fd, std::string address,
                        uint16_t bound_port);
  ~RemoteForwardListener() override;

  const std::string& address() const { return address_; }
  uint16_t bound_port() const { return bound_port_; }
  bool cancelled() const { return cancelled_; }
  // Channels this listener has open or is opening (counted against -maxTunnels).
  int open_channels() const;
  // cancel-tcpip-forward: stops listening at once; tunnels already open carry on (as
  // OpenSSH). Safe inside a libssh callback.
  void Cancel();

  void Poll() override;
  bool Finished() const override;
  void Hangup() override;

 private:
  struct Pending {
    SshChannel channel;
    UniqueFd socket;
    std::string peer_host;
    uint16_t peer_port;
  };
  void OnAcceptReady();

  ConnectionContext* ctx_;
  UniqueFd listen_fd_;
  std::unique_ptr<FdWatch> watch_;
  std::string address_;
  uint16_t bound_port_;
  bool accept_ready_ = false;
  bool cancelled_ = false;
  absl::Time listening_since_;
  std::vector<Pending> opening_;
  std::vector<std::unique_ptr<TcpTunnel>> tunnels_;
};

// Binds a listener for a tcpip-forward request, RFC 4254 §7.1: "" means every address
// family, "0.0.0.0" every IPv4 address, "::" every IPv6 one, "localhost" loopback.
absl::StatusOr<UniqueFd> BindForwardListener(const std::string& address, uint16_t port,
                                             uint16_t* bound_port);

// Whether a cancel-tcpip-forward for `address` names a listener opened for `listened`: the
// same string, or spellings of the same thing ("" and "*"; "localhost" and its literals;
// "0.0.0.0", "::" and "" as "every address").
bool SameForwardAddress(const std::string& listened, const std::string& address);

}  // namespace hatch

#endif  // HATCH_SSHD_TCP_FORWARD_H_
