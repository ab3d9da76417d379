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

void PeerOf(const sockaddr_storage& ss, std::string* host, uint16_t* port) {
  char text[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    *port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    }
    *port = ntohs(in6->sin6_port);
  }
  *host = text;
}

socklen_t LengthOf(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

void TuneSocket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

// ---------------------------------------------------------------- TcpTunnel

TcpTunnel::TcpTunnel(ConnectionContext* ctx, ssh_channel channel, UniqueFd socket)
    : ctx_(ctx), channel_(channel), socket_(std::move(socket)), pump_(ctx, channel) {
  callbacks_.userdata = this;
  callbacks_.channel_data_function = &TcpTunnel::OnData;
  callbacks_.channel_eof_function = &TcpTunnel::OnEof;
  callbacks_.channel_close_function = &TcpTunnel::OnClose;
  ssh_callbacks_init(&callbacks_);
  ssh_set_channel_callbacks(channel_, &callbacks_);
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
    ssh_channel_send_eof(channel_);
    eof_sent_ = true;
  }
  if (peer_closed_ && pump_.sink_failed()) write_shut_ = true;  // the target is gone
  if (eof_sent_ && write_shut_) Close();
}

void TcpTunnel::Close() {
  if (finished_) return;
  finished_ = true;
  pump_.Stop();
  ssh_remove_channel_callbacks(channel_, &callbacks_);
  ssh_channel_close(channel_);
  ssh_channel_free(channel_);
  channel_ = nullptr;
  socket_.reset();
}

// ---------------------------------------------------------------- DirectTcpipChannel

DirectTcpipChannel::DirectTcpipChannel(ConnectionContext* ctx, ssh_message open_request)
    : ctx_(ctx), request_(open_request) {
  const char* host = ssh_message_channel_request_open_destination(request_);
  host_ = host != nullptr ? host : "";
  port_ = static_cast<uint16_t>(ssh_message_channel_request_open_destination_port(request_));
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

void DirectTcpipChannel::Refuse(int reason, const std::string& why) {
  LogInfo("forward.local.refused",
          {{"peer", ctx_->peer()}, {"host", host_}, {"port", port_}, {"error", why}});
  if (request_ != nullptr) {
    ssh_message_channel_request_open_reply_failure(request_, static_cast<uint32_t>(reason),
                                                   why.c_str());
    ssh_message_free(request_);
    request_ = nullptr;
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
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), LengthOf(ss)) != 0 &&
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
  ssh_channel channel = ssh_message_channel_request_open_reply_accept(request_);
  ssh_message_free(request_);
  request_ = nullptr;
  if (channel == nullptr) {
    finished_ = true;
    return;
  }
  LogInfo("forward.local.opened", {{"peer", ctx_->peer()}, {"host", host_}, {"port", port_}});
  tunnel_ = std::make_unique<TcpTunnel>(ctx_, channel, std::move(socket_));
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
  if (request_ != nullptr) {
    ssh_message_free(request_);  // the connection is going away: no reply needed
    request_ = nullptr;
  }
  if (tunnel_) tunnel_->Close();
  finished_ = true;
}

// ---------------------------------------------------------------- remote forwards

absl::StatusOr<UniqueFd> BindForwardListener(const std::string& raw, uint16_t port,
                                             uint16_t* bound_port) {
  std::string address = absl::AsciiStrToLower(raw);
  sockaddr_storage ss{};
  bool dual_stack = false;
  if (address.empty() || address == "*") {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_any;
    in6->sin6_port = htons(port);
    dual_stack = true;
  } else if (address == "localhost") {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = htons(port);
  } else {
    absl::StatusOr<sockaddr_storage> literal = ParseIpLiteral(address, port);
    if (!literal.ok()) return absl::InvalidArgumentError("listen address must be an IP or localhost");
    ss = *literal;
  }
  UniqueFd fd(socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd && dual_stack) {
    ss = {};
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    dual_stack = false;
    fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  }
  if (!fd) return absl::UnavailableError(strerror(errno));
  int one = 1, zero = 0;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (dual_stack) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), LengthOf(ss)) != 0 ||
      listen(fd.get(), 128) != 0) {
    return absl::UnavailableError(strerror(errno));
  }
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len);
  std::string ignored;
  PeerOf(local, &ignored, bound_port);
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
    : ctx_(ctx), listen_fd_(std::move(listen_fd)), address_(std::move(address)),
      bound_port_(bound_port) {
  watch_ = std::make_unique<FdWatch>(ctx_->event(), listen_fd_.get(),
                                     [this](short) { accept_ready_ = true; });
  watch_->Want(POLLIN);
}

RemoteForwardListener::~RemoteForwardListener() { Hangup(); }

void RemoteForwardListener::Cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  // Runs inside a libssh callback, where the fd may not leave the event: shutdown() stops a
  // Linux listening socket at once (new connects are refused); Poll() closes it.
  if (listen_fd_) shutdown(listen_fd_.get(), SHUT_RDWR);
}

bool RemoteForwardListener::Finished() const {
  return cancelled_ && opening_.empty() && tunnels_.empty();
}

void RemoteForwardListener::OnAcceptReady() {
  // A bounded batch per wake-up, so one busy listener cannot starve the loop.
  for (int i = 0; i < 64 && listen_fd_; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    UniqueFd fd(accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len,
                        SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    TuneSocket(fd.get());
    Pending p;
    PeerOf(peer, &p.peer_host, &p.peer_port);
    p.channel = ssh_channel_new(ctx_->session());
    if (p.channel == nullptr) continue;
    p.socket = std::move(fd);
    // Non-blocking: sends the open and returns SSH_AGAIN; Poll() asks again until answered.
    int rc = ssh_channel_open_reverse_forward(p.channel, address_.c_str(), bound_port_,
                                              p.peer_host.c_str(), p.peer_port);
    if (rc == SSH_ERROR) {
      ssh_channel_free(p.channel);
      continue;
    }
    ctx_->MarkActivity();
    opening_.push_back(std::move(p));
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
    int rc = ssh_channel_open_reverse_forward(it->channel, address_.c_str(), bound_port_,
                                              it->peer_host.c_str(), it->peer_port);
    if (rc == SSH_AGAIN) {
      ++it;
      continue;
    }
    if (rc == SSH_OK) {
      tunnels_.push_back(std::make_unique<TcpTunnel>(ctx_, it->channel, std::move(it->socket)));
    } else {
      LogInfo("forward.remote.open-refused", {{"peer", ctx_->peer()}, {"port", bound_port_}});
      ssh_channel_free(it->channel);
    }
    it = opening_.erase(it);
  }
  for (auto& t : tunnels_) t->Poll();
  std::erase_if(tunnels_, [](const std::unique_ptr<TcpTunnel>& t) { return t->finished(); });
  if (watch_) watch_->Sync();
}

void RemoteForwardListener::Hangup() {
  cancelled_ = true;
  watch_.reset();
  listen_fd_.reset();
  for (Pending& p : opening_) ssh_channel_free(p.channel);
  opening_.clear();
  tunnels_.clear();
}

}  // namespace hatch
