#include "sshd/tcp_forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "sshd/log.h"

namespace hatch {
namespace {

// RFC 4254 §5.1 reason code.
constexpr int kOpenConnectFailed = 2;

void TuneSocket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

// ---------------------------------------------------------------- TcpTunnel

TcpTunnel::TcpTunnel(ConnectionContext* ctx, SshChannel channel, UniqueFd socket,
                     Forward forward)
    : ctx_(ctx),
      channel_(std::move(channel)),
      socket_(std::move(socket)),
      pump_(ctx, channel_.get()),
      forward_(std::move(forward)),
      opened_at_(absl::Now()) {
  forward_.channel = NextAuditChannelNumber();
  ctx_->audit().ForwardOpened(forward_);
  callbacks_.userdata = this;
  callbacks_.channel_data_function = &TcpTunnel::OnData;
  callbacks_.channel_eof_function = &TcpTunnel::OnEof;
  callbacks_.channel_close_function = &TcpTunnel::OnClose;
  ssh_callbacks_init(&callbacks_);
  ssh_set_channel_callbacks(channel_.get(), &callbacks_);
  pump_.AddSource(socket_.get(), /*extended=*/false);
  pump_.SetSink(socket_.get());
  // A forwarded-tcpip channel's first data can arrive with the client's open confirmation,
  // before these callbacks were set.
  pump_.PickUpEarlierInput();
}

TcpTunnel::~TcpTunnel() { Close(); }

int TcpTunnel::OnData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                      void* self) {
  if (is_stderr) return static_cast<int>(len);
  return static_cast<TcpTunnel*>(self)->pump_.OnChannelData(data, len);
}

void TcpTunnel::OnEof(ssh_session, ssh_channel, void* self) {
  static_cast<TcpTunnel*>(self)->pump_.OnChannelEof();
}

void TcpTunnel::OnClose(ssh_session, ssh_channel, void* self) {
  static_cast<TcpTunnel*>(self)->peer_closed_ = true;
}

void TcpTunnel::Poll() {
  if (finished_) return;
  if (peer_closed_ && !eof_sent_) {
    // The client closed the channel: send nothing more, but deliver what it sent before
    // (libssh may still hold some), then close.
    pump_.OnChannelClosed();
    eof_sent_ = true;
  }
  pump_.Poll();
  if (!write_shut_ && pump_.input_done()) {
    // Everything the client sent before its EOF was written: pass the half-close on.
    shutdown(socket_.get(), SHUT_WR);
    pump_.CloseSink();
    write_shut_ = true;
  }
  if (!eof_sent_ && pump_.sources_done()) {
    ssh_channel_send_eof(channel_.get());
    eof_sent_ = true;
  }
  if (peer_closed_ && pump_.sink_failed()) write_shut_ = true;  // the target is gone
  if (eof_sent_ && write_shut_) Close();
}

void TcpTunnel::Close() {
  if (finished_) return;
  finished_ = true;
  pump_.Stop();
  ctx_->audit().ForwardClosed(forward_, pump_.bytes_in(), pump_.bytes_out(),
                              absl::Now() - opened_at_);
  ssh_remove_channel_callbacks(channel_.get(), &callbacks_);
  ssh_channel_close(channel_.get());
  channel_.reset();
  socket_.reset();
}

// ---------------------------------------------------------------- DirectTcpipChannel

DirectTcpipChannel::DirectTcpipChannel(ConnectionContext* ctx, SshMessage open_request)
    : ChannelHandler(Kind::kDirectTcpip), ctx_(ctx), request_(std::move(open_request)) {
  const char* host = ssh_message_channel_request_open_destination(request_.get());
  host_ = host != nullptr ? host : "";
  const char* originator = ssh_message_channel_request_open_originator(request_.get());
  originator_ = absl::StrCat(originator != nullptr ? originator : "", ":",
                             ssh_message_channel_request_open_originator_port(request_.get()));
  port_ = static_cast<uint16_t>(
      ssh_message_channel_request_open_destination_port(request_.get()));
  LogDebug("forward.local.open", {{"peer", ctx_->peer()}, {"host", host_}, {"port", port_}});
  absl::StatusOr<sockaddr_storage> literal = ParseIpLiteral(host_, port_);
  if (literal.ok()) {
    addresses_.push_back(*literal);
    ConnectNext();
    return;
  }
  absl::StatusOr<std::unique_ptr<NameLookup>> lookup = NameLookup::Start(host_, port_);
  if (!lookup.ok()) {
    Refuse(kOpenConnectFailed, std::string(lookup.status().message()));
    return;
  }
  lookup_ = std::move(*lookup);
  lookup_watch_ = std::make_unique<FdWatch>(ctx_->event(), lookup_->fd(),
                                            [this](short) { lookup_ready_ = true; });
  lookup_watch_->Want(POLLIN);
}

DirectTcpipChannel::~DirectTcpipChannel() { Hangup(); }

ssh_channel DirectTcpipChannel::channel() const { return tunnel_ ? tunnel_->channel() : nullptr; }

void DirectTcpipChannel::Refuse(int reason, const std::string& why) {
  LogInfo("forward.local.refused",
          {{"peer", ctx_->peer()}, {"host", host_}, {"port", port_}, {"error", why}});
  if (request_) {
    ssh_message_channel_request_open_reply_failure(request_.get(), static_cast<uint32_t>(reason),
                                                   why.c_str());
    request_.reset();
  }
  finished_ = true;
}

// Tries the next resolved address; the outcome is seen in OnConnectReady.
void DirectTcpipChannel::ConnectNext() {
  connect_watch_.reset();
  socket_.reset();
  while (next_address_ < addresses_.size()) {
    const sockaddr_storage& ss = addresses_[next_address_++];
    UniqueFd fd(socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      last_error_ = strerror(errno);
      continue;
    }
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), SockaddrLength(ss)) != 0 &&
        errno != EINPROGRESS) {
      last_error_ = strerror(errno);
      continue;
    }
    socket_ = std::move(fd);
    connect_ready_ = false;
    connect_watch_ = std::make_unique<FdWatch>(ctx_->event(), socket_.get(),
                                               [this](short) { connect_ready_ = true; });
    connect_watch_->Want(POLLOUT);
    return;
  }
  Refuse(kOpenConnectFailed, last_error_.empty() ? "no address to connect to" : last_error_);
}

void DirectTcpipChannel::OnLookupReady() {
  absl::StatusOr<std::vector<sockaddr_storage>> result = lookup_->Read();
  if (!result.ok() && absl::IsUnavailable(result.status())) return;  // more to come
  lookup_watch_.reset();
  lookup_.reset();
  if (!result.ok()) {
    Refuse(kOpenConnectFailed, absl::StrCat("name lookup failed: ", result.status().message()));
    return;
  }
  addresses_ = std::move(*result);
  ConnectNext();
}

void DirectTcpipChannel::OnConnectReady() {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(socket_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    last_error_ = strerror(err);
    ConnectNext();
    return;
  }
  connect_watch_.reset();
  TuneSocket(socket_.get());
  SshChannel channel(ssh_message_channel_request_open_reply_accept(request_.get()));
  request_.reset();
  if (!channel) {
    finished_ = true;
    return;
  }
  LogInfo("forward.local.opened", {{"peer", ctx_->peer()}, {"host", host_}, {"port", port_}});
  tunnel_ = std::make_unique<TcpTunnel>(
      ctx_, std::move(channel), std::move(socket_),
      Forward{ForwardKind::kLocal, -1, host_, port_, originator_});
}

void DirectTcpipChannel::Poll() {
  if (finished_) return;
  if (lookup_ready_) {
    lookup_ready_ = false;
    OnLookupReady();
  }
  if (connect_ready_ && !finished_) {
    connect_ready_ = false;
    OnConnectReady();
  }
  if (finished_) return;
  if (lookup_watch_) lookup_watch_->Sync();
  if (connect_watch_) connect_watch_->Sync();
  if (tunnel_) {
    tunnel_->Poll();
    if (tunnel_->finished()) finished_ = true;
  }
}

void DirectTcpipChannel::Hangup() {
  lookup_watch_.reset();
  connect_watch_.reset();
  request_.reset();  // the connection is going away: no reply needed
  if (tunnel_) tunnel_->Close();
  finished_ = true;
}

// ---------------------------------------------------------------- remote forwards

absl::StatusOr<UniqueFd> BindForwardListener(const std::string& raw, uint16_t port,
                                             uint16_t* bound_port) {
  const std::string address = absl::AsciiStrToLower(raw);
  absl::StatusOr<sockaddr_storage> ss = AnyAddress(port);
  if (!address.empty() && address != "*") {
    ss = ParseIpLiteral(address, port);  // "localhost" is IPv4 loopback there
    if (!ss.ok()) return absl::InvalidArgumentError("listen address must be an IP or localhost");
  }
  absl::StatusOr<UniqueFd> fd = ListenTcp(*ss, SOCK_NONBLOCK);
  if (fd.ok()) *bound_port = LocalAddressOf(fd->get()).port;
  return fd;
}

bool SameForwardAddress(const std::string& listened, const std::string& address) {
  auto canonical = [](const std::string& raw) -> std::string {
    std::string a = absl::AsciiStrToLower(raw);
    if (a == "*" || a == "0.0.0.0" || a == "::" || a == "[::]") return "";
    if (a == "127.0.0.1" || a == "::1" || a == "[::1]") return "localhost";
    return a;
  };
  return canonical(listened) == canonical(address);
}

RemoteForwardListener::RemoteForwardListener(ConnectionContext* ctx, UniqueFd listen_fd,
                                             std::string address, uint16_t bound_port)
    : ChannelHandler(Kind::kRemoteForward),
      ctx_(ctx),
      listen_fd_(std::move(listen_fd)),
      address_(std::move(address)),
      bound_port_(bound_port) {
  watch_ = std::make_unique<FdWatch>(ctx_->event(), listen_fd_.get(),
                                     [this](short) { accept_ready_ = true; });
  watch_->Want(POLLIN);
  // The listener itself: no channel, no originator.
  ctx_->audit().ForwardOpened(Forward{ForwardKind::kRemote, -1, address_, bound_port_, ""});
  listening_since_ = absl::Now();
}

RemoteForwardListener::~RemoteForwardListener() { Hangup(); }

void RemoteForwardListener::Cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  ctx_->audit().ForwardClosed(Forward{ForwardKind::kRemote, -1, address_, bound_port_, ""}, 0, 0,
                              absl::Now() - listening_since_);
  // Runs inside a libssh callback, where the fd may not leave the event: shutdown() stops a
  // Linux listening socket at once (new connects are refused); Poll() closes it.
  if (listen_fd_) shutdown(listen_fd_.get(), SHUT_RDWR);
}

bool RemoteForwardListener::Finished() const {
  return cancelled_ && opening_.empty() && tunnels_.empty();
}

int RemoteForwardListener::open_channels() const {
  int n = static_cast<int>(opening_.size());
  for (const auto& t : tunnels_) n += !t->finished();
  return n;
}

void RemoteForwardListener::OnAcceptReady() {
  // A bounded batch per wake-up, so one busy listener cannot starve the loop.
  bool refused = false;
  for (int i = 0; i < 64 && listen_fd_; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    UniqueFd fd(accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len,
                        SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) break;
    // At -maxTunnels the connection is closed at once (its peer sees EOF) rather than left
    // in the backlog, where it would keep the listener readable and wait for nothing.
    const int limit = ctx_->config().max_tunnels;
    if (ctx_->ForwardedChannels() >= limit) {
      refused = true;
      continue;
    }
    TuneSocket(fd.get());
    Pending p;
    const HostPort from = HostPortOf(peer);
    p.peer_host = from.host;
    p.peer_port = from.port;
    p.channel.reset(ssh_channel_new(ctx_->session()));
    if (!p.channel) continue;
    p.socket = std::move(fd);
    // Non-blocking: sends the open and returns SSH_AGAIN; Poll() asks again until answered.
    int rc = ssh_channel_open_reverse_forward(p.channel.get(), address_.c_str(), bound_port_,
                                              p.peer_host.c_str(), p.peer_port);
    if (rc == SSH_ERROR) continue;
    ctx_->MarkActivity();
    opening_.push_back(std::move(p));
  }
  if (refused) {
    LogInfo("forward.remote.too-many-tunnels", {{"peer", ctx_->peer()},
                                                {"port", bound_port_},
                                                {"limit", ctx_->config().max_tunnels}});
  }
}

void RemoteForwardListener::Poll() {
  if (cancelled_ && listen_fd_) {
    watch_.reset();
    listen_fd_.reset();
  }
  if (accept_ready_) {
    accept_ready_ = false;
    if (!cancelled_) OnAcceptReady();
  }
  for (auto it = opening_.begin(); it != opening_.end();) {
    int rc = ssh_channel_open_reverse_forward(it->channel.get(), address_.c_str(), bound_port_,
                                              it->peer_host.c_str(), it->peer_port);
    if (rc == SSH_AGAIN) {
      ++it;
      continue;
    }
    if (rc == SSH_OK) {
      tunnels_.push_back(std::make_unique<TcpTunnel>(
          ctx_, std::move(it->channel), std::move(it->socket),
          Forward{ForwardKind::kRemote, -1, address_, bound_port_,
                  absl::StrCat(it->peer_host, ":", it->peer_port)}));
    } else {
      LogInfo("forward.remote.open-refused", {{"peer", ctx_->peer()}, {"port", bound_port_}});
    }
    it = opening_.erase(it);
  }
  for (auto& t : tunnels_) t->Poll();
  std::erase_if(tunnels_, [](const std::unique_ptr<TcpTunnel>& t) { return t->finished(); });
  if (watch_) watch_->Sync();
}

void RemoteForwardListener::Hangup() {
  if (!cancelled_) {
    ctx_->audit().ForwardClosed(Forward{ForwardKind::kRemote, -1, address_, bound_port_, ""}, 0,
                                0, absl::Now() - listening_since_);
  }
  cancelled_ = true;
  watch_.reset();
  listen_fd_.reset();
  opening_.clear();
  tunnels_.clear();
}

}  // namespace hatch
