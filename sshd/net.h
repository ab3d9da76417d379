// Socket addresses and listening sockets: the one place the daemon's listener and the
// connection's remote-forward listeners share. Plain BSD sockets; nothing here blocks.
#ifndef HATCH_SSHD_NET_H_
#define HATCH_SSHD_NET_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace hatch {

// An address as logs and SSH messages carry it: IPv4-mapped IPv6 addresses as plain IPv4.
struct HostPort {
  std::string host;  // "" for an unknown family
  uint16_t port = 0;
  std::string ToString() const;  // "host:port"
};
HostPort HostPortOf(const sockaddr_storage& ss);

// sizeof the sockaddr_in or sockaddr_in6 inside `ss`.
socklen_t SockaddrLength(const sockaddr_storage& ss);

// An IPv4/IPv6 literal (brackets allowed) or "localhost" (always 127.0.0.1, RFC 6761) with
// `port`; NotFound if `host` is any other name. Never blocks.
absl::StatusOr<sockaddr_storage> ParseIpLiteral(const std::string& host, uint16_t port);

// The IPv6 wildcard ("::", dual-stack) with `port`.
sockaddr_storage AnyAddress(uint16_t port);

// A bound, listening TCP socket (SO_REUSEADDR, close-on-exec, plus `extra_flags` such as
// SOCK_NONBLOCK). The IPv6 wildcard listens dual-stack; where the container has no IPv6 it
// falls back to the IPv4 wildcard. Errors carry strerror's text.
absl::StatusOr<UniqueFd> ListenTcp(sockaddr_storage address, int extra_flags = 0);

// The local address a socket is bound to.
HostPort LocalAddressOf(int fd);

}  // namespace hatch

#endif  // HATCH_SSHD_NET_H_
