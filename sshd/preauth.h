// The pre-authentication budget (shared/DESIGN.md, "Security"): which new connections the
// listener accepts, so that a flood of connections that never authenticate cannot lock
// users out. The listener never parses SSH; it learns that a connection authenticated from
// one datagram the connection process sends (ReportAuthenticated, below).
//
// The rule, in the order the listener applies it to each accepted socket:
//  1. every connection, authenticated or not, counts against -maxConnections;
//  2. sources in -preauthExemptSources (the platform's proxy) skip 3-5;
//  3. at most -perSourceMaxStartups unauthenticated connections per source (an IPv4
//     address; an IPv6 /64, what one host or one customer usually gets);
//  4. at or above `full` unauthenticated connections (exempt ones not counted), refuse;
//  5. from `start` on, refuse at random with probability rate% at `start`, rising linearly
//     to 100% at `full` (OpenSSH's MaxStartups random early drop).
// So non-exempt unauthenticated connections never hold more than `full` of the
// -maxConnections slots: the rest stay for authenticated connections and exempt sources.
#ifndef HATCH_SSHD_PREAUTH_H_
#define HATCH_SSHD_PREAUTH_H_

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"

namespace hatch {

// -maxStartups=start:rate:full (or a single number N, meaning N:100:N: refuse at N).
struct StartupLimits {
  int start = 20;
  int rate = 30;  // percent
  int full = 60;
  bool operator==(const StartupLimits&) const = default;
};

// Parses "start:rate:full" or "N". Requires 0 < start <= full and 0 <= rate <= 100.
absl::StatusOr<StartupLimits> ParseStartupLimits(absl::string_view text);

// Whether a new connection is dropped when `unauthenticated` connections are already in the
// budget. `random_percent` is uniform in [0, 100): the caller's dice, so tests can pass any.
bool ShouldDropStartup(const StartupLimits& limits, int unauthenticated, int random_percent);

// A peer address as the budget groups it: IPv4 (and IPv4-mapped IPv6) by address, IPv6 by
// its /64. Comparable, so it keys a map.
struct SourceKey {
  std::array<uint8_t, 16> bytes{};  // IPv4: the first 4; IPv6: the first 8 (the /64)
  bool v6 = false;
  auto operator<=>(const SourceKey&) const = default;
};

// An address with its family, IPv4-mapped IPv6 unwrapped to IPv4.
struct PeerAddress {
  std::array<uint8_t, 16> bytes{};
  bool v6 = false;
};
PeerAddress PeerAddressOf(const sockaddr_storage& ss);
SourceKey SourceOf(const PeerAddress& addr);

// "10.0.0.0/8", "fd00::/8", "127.0.0.1" (a /32) or "::1" (a /128).
class Cidr {
 public:
  static absl::StatusOr<Cidr> Parse(absl::string_view text);
  bool Contains(const PeerAddress& addr) const;

 private:
  PeerAddress net_;
  int bits_ = 0;
};

// A comma-separated list of Cidr; "" is the empty list.
absl::StatusOr<std::vector<Cidr>> ParseCidrList(absl::string_view text);

struct PreauthLimits {
  int max_connections = 100;
  StartupLimits startups;
  int per_source = 10;  // 0: no per-source cap
  std::vector<Cidr> exempt;
};

// The listener's table of live connection processes and the admission rule above. Pure
// bookkeeping: no I/O, no clock; the caller rolls the dice.
class PreauthBudget {
 public:
  enum class Verdict { kAccept, kTooManyConnections, kPerSource, kStartupsFull, kEarlyDrop };

  explicit PreauthBudget(PreauthLimits limits);

  bool Exempt(const PeerAddress& addr) const;
  // What to do with a new connection from `addr`; random_percent is uniform in [0, 100).
  Verdict Admit(const PeerAddress& addr, int random_percent) const;
  // Records an accepted connection served by process `pid`.
  void Add(pid_t pid, const PeerAddress& addr);
  // The connection authenticated: it leaves the pre-auth budget (it keeps its slot in the
  // total). Returns false if `pid` is unknown or was already authenticated.
  bool Authenticated(pid_t pid);
  // The connection process is gone. Returns whether it was still unauthenticated.
  bool Remove(pid_t pid);

  int total() const { return static_cast<int>(connections_.size()); }
  int unauthenticated() const { return unauthenticated_; }  // not exempt, not authenticated
  int unauthenticated_from(const PeerAddress& addr) const;
  bool contains(pid_t pid) const { return connections_.contains(pid); }
  std::vector<pid_t> pids() const;

 private:
  struct Entry {
    SourceKey source;
    bool exempt = false;
    bool authenticated = false;
  };
  // Whether the entry is in the budget (unauthenticated and not exempt).
  static bool Budgeted(const Entry& e) { return !e.exempt && !e.authenticated; }
  void Uncount(const Entry& e);

  PreauthLimits limits_;
  std::map<pid_t, Entry> connections_;
  std::map<SourceKey, int> per_source_;
  int unauthenticated_ = 0;
};

const char* VerdictName(PreauthBudget::Verdict v);

// Counts events (refusals, pre-auth expiries) and logs at most one line per interval: the
// first event after a quiet interval at once, the rest summed into one line when the interval
// ends. `message` is the log message; the line's data holds "count", one count per reason,
// and the last peer.
class IntervalLog {
 public:
  IntervalLog(std::string message, absl::Duration interval);
  void Note(absl::string_view reason, absl::string_view peer, absl::Time now);
  // Logs the pending summary if its interval is over.
  void Flush(absl::Time now);
  // When Flush() next has something to log; InfiniteFuture() if nothing is pending.
  absl::Time NextFlush() const;
  int lines_logged() const { return lines_; }

 private:
  void Emit();

  std::string message_;
  absl::Duration interval_;
  absl::Time window_end_ = absl::InfinitePast();
  std::map<std::string, int> pending_;
  std::string last_peer_;
  int lines_ = 0;
};

// The connection process's side of the report socket: after fork, the listener hands the
// child its end (SetAuthReportFd); at authentication the connection calls ReportAuthenticated,
// which sends one datagram (the kernel attaches the sender's pid: SO_PASSCRED) and closes
// the fd, so no session process inherits it. Process-wide, one per connection process.
void SetAuthReportFd(UniqueFd fd);
void ReportAuthenticated();

// The listener's side: a datagram socket pair. `listener_end` has SO_PASSCRED set;
// `child_end` is what each connection process gets.
struct AuthReportSockets {
  UniqueFd listener_end;
  UniqueFd child_end;
};
absl::StatusOr<AuthReportSockets> MakeAuthReportSockets();
// Reads every pending report; appends the senders' pids.
void ReadAuthReports(int listener_end, std::vector<pid_t>* pids);

}  // namespace hatch

#endif  // HATCH_SSHD_PREAUTH_H_
