#include "sshd/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "absl/strings/str_cat.h"

namespace hatch {

std::string HostPort::ToString() const { return absl::StrCat(host, ":", port); }

HostPort HostPortOf(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = "";
  HostPort out;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    out.port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    }
    out.port = ntohs(in6->sin6_port);
  }
  out.host = text;
  return out;
}

socklen_t SockaddrLength(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

absl::StatusOr<sockaddr_storage> ParseIpLiteral(const std::string& raw, uint16_t port) {
  std::string host = raw;
  // RFC 6761 §6.3: "localhost" is always loopback, even in a rootfs with no /etc/hosts.
  if (host == "localhost" || host == "localhost.") host = "127.0.0.1";
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    return ss;
  }
  ss = {};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    return ss;
  }
  return absl::NotFoundError("not an IP address");
}

sockaddr_storage AnyAddress(uint16_t port) {
  sockaddr_storage ss{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_addr = in6addr_any;
  in6->sin6_port = htons(port);
  return ss;
}

absl::StatusOr<UniqueFd> ListenTcp(sockaddr_storage ss, int extra_flags) {
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  const bool dual_stack =
      ss.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
  const int type = SOCK_STREAM | SOCK_CLOEXEC | extra_flags;
  UniqueFd fd(socket(ss.ss_family, type, 0));
  if (!fd && dual_stack && errno == EAFNOSUPPORT) {
    // No IPv6 in this container: every IPv4 interface instead.
    const uint16_t port = in6->sin6_port;
    ss = {};
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = port;
    fd.reset(socket(AF_INET, type, 0));
  }
  if (!fd) return absl::UnavailableError(strerror(errno));
  int one = 1, zero = 0;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6 && dual_stack) {
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), SockaddrLength(ss)) != 0 ||
      listen(fd.get(), 128) != 0) {
    return absl::UnavailableError(strerror(errno));
  }
  return fd;
}

HostPort LocalAddressOf(int fd) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  return HostPortOf(local);
}

}  // namespace hatch
