// Listener: binds the address, accepts, and forks one Connection process per client. It
// never parses SSH bytes. It reaps every child (so hatch works as PID 1), admits connections
// by the pre-auth budget (sshd/preauth.h: -maxConnections in total, -maxStartups and
// -perSourceMaxStartups for unauthenticated ones; each connection process reports its
// authentication on a datagram socket), logs refusals at a bounded rate, and on
// SIGTERM/SIGINT stops accepting, asks every connection to end its sessions, waits for them,
// and returns.
#ifndef HATCH_SSHD_LISTENER_H_
#define HATCH_SSHD_LISTENER_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "sshd/connection.h"
#include "sshd/preauth.h"

namespace hatch {

// Binds and listens on "host:port" (IPv4 or IPv6 literal, "localhost", or "" / ":port" for
// every interface). Errors read like "listen tcp 127.0.0.1:2222: Address already in use".
absl::StatusOr<UniqueFd> Listen(const std::string& address);

class Listener {
 public:
  // `state` must outlive this.
  Listener(const ServerState* state, UniqueFd listen_fd);
  // Serves until SIGTERM or SIGINT; returns the daemon's exit status.
  int Run();

 private:
  void Accept();
  void ReadReports();
  void Reap();
  void Shutdown();
  int PollTimeoutMs() const;

  const ServerState* state_;
  UniqueFd listen_fd_;
  UniqueFd signal_fd_;
  UniqueFd report_fd_;        // the listener's end of the auth report socket
  UniqueFd report_child_fd_;  // the end every connection process inherits
  PreauthBudget budget_;
  IntervalLog refusals_;      // sshd.connection.refused
  IntervalLog expiries_;      // sshd.connection.preauth-expired (killed by its deadline)
};

}  // namespace hatch

#endif  // HATCH_SSHD_LISTENER_H_
