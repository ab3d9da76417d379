// The connection process's side of the pre-auth limits (sshd/preauth.h is the listener's):
// deadlines for the phases before authentication and the socket set-up after key exchange.
// The deadlines use ITIMER_REAL: SIGALRM ends the connection process, and the listener counts
// such ends (sshd.connection.preauth-expired). Before it does, a handler writes the
// connection's sshd.audit.connection.ended line (prepared when the deadline is armed, then
// written with only async-signal-safe calls) and re-raises SIGALRM at its default action.
#ifndef HATCH_SSHD_PREAUTH_PHASE_H_
#define HATCH_SSHD_PREAUTH_PHASE_H_

#include <libssh/libssh.h>

#include "absl/time/time.h"
#include "sshd/audit.h"

namespace hatch {

// Before key exchange: our banner is written at once (libssh otherwise queues it until
// POLLOUT and handles the POLLIN of the same poll first, so a client that half-closed at
// once got nothing), and so is our KEXINIT the moment the client's banner is read (else a
// client's KEXINIT read in the same chunk as its banner is handled before ours leaves, and
// on a mismatch libssh closes the socket with ours unsent: the client could not say which
// algorithms did not match). Uses the session's status callback; one session per process.
void WriteHandshakeEagerly(ssh_session session);

// Before the banner exchange: the process ends unless key exchange is done within `timeout`.
// Returns the start, for FinishKeyExchangePhase. `audit` (kept by the caller for the
// process's life) names the connection in the audit line written if the deadline passes.
absl::Time StartPreauthDeadline(absl::Duration timeout, const ConnectionAudit* audit);

// Right after a successful key exchange: the timer is re-armed for what is left of
// `login_grace_time` (counted from `start`).
void FinishKeyExchangePhase(absl::Time start, absl::Duration login_grace_time);

// Authentication succeeded: no deadline any more.
void StopPreauthDeadline();

}  // namespace hatch

#endif  // HATCH_SSHD_PREAUTH_PHASE_H_
