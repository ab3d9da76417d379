#include "sshd/preauth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sshd/log.h"

namespace hatch {

absl::StatusOr<StartupLimits> ParseStartupLimits(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("-maxStartups: \"", text, "\": ", why, " (want start:rate:full or N)"));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  std::vector<int> n;
  for (absl::string_view p : parts) {
    int v = 0;
    if (!absl::SimpleAtoi(p, &v)) return bad("not a number");
    n.push_back(v);
  }
  StartupLimits l;
  if (n.size() == 1) {
    l = {n[0], 100, n[0]};
  } else if (n.size() == 3) {
    l = {n[0], n[1], n[2]};
  } else {
    return bad("wrong number of fields");
  }
  if (l.start <= 0 || l.full < l.start) return bad("need 0 < start <= full");
  if (l.rate < 0 || l.rate > 100) return bad("rate is a percentage, 0 to 100");
  return l;
}

bool ShouldDropStartup(const StartupLimits& l, int unauthenticated, int random_percent) {
  if (unauthenticated >= l.full) return true;
  if (unauthenticated < l.start) return false;
  // start <= unauthenticated < full, so full > start: rate% at start, rising linearly
  // towards 100% at full.
  const int percent = l.rate + (100 - l.rate) * (unauthenticated - l.start) / (l.full - l.start);
  return random_percent < percent;
}

PeerAddress PeerAddressOf(const sockaddr_storage& ss) {
  PeerAddress a;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    memcpy(a.bytes.data(), &in->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      memcpy(a.bytes.data(), &in6->sin6_addr.s6_addr[12], 4);
    } else {
      memcpy(a.bytes.data(), &in6->sin6_addr, 16);
      a.v6 = true;
    }
  }
  return a;
}

SourceKey SourceOf(const PeerAddress& addr) {
  SourceKey k;
  k.v6 = addr.v6;
  const size_t n = addr.v6 ? 8 : 4;
  for (size_t i = 0; i < n; ++i) k.bytes[i] = addr.bytes[i];
  return k;
}

absl::StatusOr<Cidr> Cidr::Parse(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": ", why));
  };
  absl::string_view host = text;
  int bits = -1;  // none given: the whole address
  if (size_t slash = text.find('/'); slash != absl::string_view::npos) {
    host = text.substr(0, slash);
    if (!absl::SimpleAtoi(text.substr(slash + 1), &bits) || bits < 0) {
      return bad("bad prefix length");
    }
  }
  Cidr c;
  const std::string h(host);
  if (inet_pton(AF_INET, h.c_str(), c.net_.bytes.data()) == 1) {
    c.net_.v6 = false;
    if (bits == -1) bits = 32;
    if (bits < 0 || bits > 32) return bad("IPv4 prefix length must be 0 to 32");
  } else if (inet_pton(AF_INET6, h.c_str(), c.net_.bytes.data()) == 1) {
    c.net_.v6 = true;
    if (bits == -1) bits = 128;
    if (bits < 0 || bits > 128) return bad("IPv6 prefix length must be 0 to 128");
    if (IN6_IS_ADDR_V4MAPPED(reinterpret_cast<const in6_addr*>(c.net_.bytes.data())) &&
        bits >= 96) {
      // ::ffff:a.b.c.d/n names the IPv4 peers PeerAddressOf unwraps.
      PeerAddress v4;
      memcpy(v4.bytes.data(), c.net_.bytes.data() + 12, 4);
      c.net_ = v4;
      bits -= 96;
    }
  } else {
    return bad("not an IP address or CIDR");
  }
  c.bits_ = bits;
  return c;
}

bool Cidr::Contains(const PeerAddress& addr) const {
  if (addr.v6 != net_.v6) return false;
  int bits = bits_;
  for (size_t i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((addr.bytes[i] & mask) != (net_.bytes[i] & mask)) return false;
  }
  return true;
}

absl::StatusOr<std::vector<Cidr>> ParseCidrList(absl::string_view text) {
  std::vector<Cidr> out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::StatusOr<Cidr> c = Cidr::Parse(absl::StripAsciiWhitespace(item));
    if (!c.ok()) return c.status();
    out.push_back(*c);
  }
  return out;
}

PreauthBudget::PreauthBudget(PreauthLimits limits) : limits_(std::move(limits)) {}

bool PreauthBudget::Exempt(const PeerAddress& addr) const {
  for (const Cidr& c : limits_.exempt) {
    if (c.Contains(addr)) return true;
  }
  return false;
}

int PreauthBudget::unauthenticated_from(const PeerAddress& addr) const {
  auto it = per_source_.find(SourceOf(addr));
  return it == per_source_.end() ? 0 : it->second;
}

PreauthBudget::Verdict PreauthBudget::Admit(const PeerAddress& addr, int random_percent) const {
  if (total() >= limits_.max_connections) return Verdict::kTooManyConnections;
  if (Exempt(addr)) return Verdict::kAccept;
  if (limits_.per_source > 0 && unauthenticated_from(addr) >= limits_.per_source) {
    return Verdict::kPerSource;
  }
  if (unauthenticated_ >= limits_.startups.full) return Verdict::kStartupsFull;
  if (ShouldDropStartup(limits_.startups, unauthenticated_, random_percent)) {
    return Verdict::kEarlyDrop;
  }
  return Verdict::kAccept;
}

void PreauthBudget::Add(pid_t pid, const PeerAddress& addr) {
  Entry e{SourceOf(addr), Exempt(addr), false};
  if (auto it = connections_.find(pid); it != connections_.end()) Uncount(it->second);
  connections_[pid] = e;
  if (Budgeted(e)) {
    ++unauthenticated_;
    ++per_source_[e.source];
  }
}

void PreauthBudget::Uncount(const Entry& e) {
  if (!Budgeted(e)) return;
  --unauthenticated_;
  auto it = per_source_.find(e.source);
  if (it != per_source_.end() && --it->second <= 0) per_source_.erase(it);
}

bool PreauthBudget::Authenticated(pid_t pid) {
  auto it = connections_.find(pid);
  if (it == connections_.end() || it->second.authenticated) return false;
  Uncount(it->second);
  it->second.authenticated = true;
  return true;
}

bool PreauthBudget::Remove(pid_t pid) {
  auto it = connections_.find(pid);
  if (it == connections_.end()) return false;
  const bool was_unauthenticated = !it->second.authenticated;
  Uncount(it->second);
  connections_.erase(it);
  return was_unauthenticated;
}

std::vector<pid_t> PreauthBudget::pids() const {
  std::vector<pid_t> out;
  for (const auto& [pid, e] : connections_) out.push_back(pid);
  return out;
}

const char* VerdictName(PreauthBudget::Verdict v) {
  switch (v) {
    case PreauthBudget::Verdict::kAccept:
      return "accepted";
    case PreauthBudget::Verdict::kTooManyConnections:
      return "too_many_connections";
    case PreauthBudget::Verdict::kPerSource:
      return "per_source";
    case PreauthBudget::Verdict::kStartupsFull:
      return "startups_full";
    case PreauthBudget::Verdict::kEarlyDrop:
      return "early_drop";
  }
  return "?";
}

IntervalLog::IntervalLog(std::string message, absl::Duration interval)
    : message_(std::move(message)), interval_(interval) {}

void IntervalLog::Note(absl::string_view reason, absl::string_view peer, absl::Time now) {
  Flush(now);
  ++pending_[std::string(reason)];
  last_peer_ = std::string(peer);
  if (now >= window_end_) {
    // Quiet for a whole interval: say so at once, then sum up what follows.
    Emit();
    window_end_ = now + interval_;
  }
}

void IntervalLog::Flush(absl::Time now) {
  if (pending_.empty() || now < window_end_) return;
  Emit();
  window_end_ = now + interval_;
}

absl::Time IntervalLog::NextFlush() const {
  return pending_.empty() ? absl::InfiniteFuture() : window_end_;
}

void IntervalLog::Emit() {
  nlohmann::json data = nlohmann::json::object();
  int count = 0;
  for (const auto& [reason, n] : pending_) {
    data[reason] = n;
    count += n;
  }
  data["count"] = count;
  if (!last_peer_.empty()) data["last_peer"] = last_peer_;
  data["interval_s"] = absl::ToInt64Seconds(interval_);
  LogError(message_, data);
  pending_.clear();
  ++lines_;
}

namespace {
int g_auth_report_fd = -1;
}  // namespace

void SetAuthReportFd(UniqueFd fd) {
  if (g_auth_report_fd >= 0) close(g_auth_report_fd);
  g_auth_report_fd = fd.release();
}

void ReportAuthenticated() {
  if (g_auth_report_fd < 0) return;
  const char byte = 'A';
  // The socket has a send timeout (MakeAuthReportSockets): a listener that no longer reads
  // (it is shutting down) cannot hold the connection here.
  while (send(g_auth_report_fd, &byte, 1, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
  close(g_auth_report_fd);
  g_auth_report_fd = -1;
}

absl::StatusOr<AuthReportSockets> MakeAuthReportSockets() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError(absl::StrCat("auth report socket: ", strerror(errno)));
  }
  AuthReportSockets s{UniqueFd(fds[0]), UniqueFd(fds[1])};
  int one = 1;
  if (setsockopt(s.listener_end.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
    return absl::InternalError(absl::StrCat("auth report socket: ", strerror(errno)));
  }
  timeval timeout{2, 0};
  setsockopt(s.child_end.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  fcntl(s.listener_end.get(), F_SETFL, fcntl(s.listener_end.get(), F_GETFL) | O_NONBLOCK);
  return s;
}

void ReadAuthReports(int listener_end, std::vector<pid_t>* pids) {
  while (true) {
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(listener_end, &msg, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof cred);
        pids->push_back(cred.pid);
      }
    }
  }
}

}  // namespace hatch
