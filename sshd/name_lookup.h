// NameLookup: resolves a host name without blocking the connection's loop and without NSS
// (the release binary is static). The lookup runs in a short-lived forked child using c-ares
// (which reads /etc/hosts and /etc/resolv.conf itself); the child writes the addresses to a
// pipe the connection watches. IP literals never fork.
#ifndef HATCH_SSHD_NAME_LOOKUP_H_
#define HATCH_SSHD_NAME_LOOKUP_H_

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "sshd/net.h"

namespace hatch {

class NameLookup {
 public:
  // Forks the child. The returned object owns the pipe's read end and the child.
  static absl::StatusOr<std::unique_ptr<NameLookup>> Start(const std::string& host, uint16_t port);
  ~NameLookup();  // kills the child if it is still running (the connection reaps it)
  NameLookup(const NameLookup&) = delete;
  NameLookup& operator=(const NameLookup&) = delete;

  // Readable (or hung up) once the result is complete.
  int fd() const { return pipe_.get(); }
  // Call when fd() is readable: reads everything the child wrote. Returns the addresses, or
  // an error whose message a client can be shown ("no such host", ...). Until the child has
  // finished writing it returns Unavailable; call again on the next readiness.
  absl::StatusOr<std::vector<sockaddr_storage>> Read();

 private:
  NameLookup(UniqueFd pipe, pid_t child) : pipe_(std::move(pipe)), child_(child) {}

  UniqueFd pipe_;
  pid_t child_;
  std::string received_;
};

}  // namespace hatch

#endif  // HATCH_SSHD_NAME_LOOKUP_H_
