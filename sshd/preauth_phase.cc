#include "sshd/preauth_phase.h"

#include <fcntl.h>
#include <sys/time.h>

#include <algorithm>

#include "absl/time/clock.h"

namespace hatch {
namespace {

void ArmTimer(absl::Duration d) {
  const int64_t us = std::max<int64_t>(absl::ToInt64Microseconds(d), 1000);
  itimerval t{};
  t.it_value.tv_sec = us / 1000000;
  t.it_value.tv_usec = us % 1000000;
  setitimer(ITIMER_REAL, &t, nullptr);
}

}  // namespace

absl::Time StartPreauthDeadline(absl::Duration timeout) {
  ArmTimer(timeout);
  return absl::Now();
}

void FinishKeyExchangePhase(ssh_session session, absl::Time start, absl::Duration login_grace_time) {
  ArmTimer(login_grace_time - (absl::Now() - start));
  const int fd = ssh_get_fd(session);
  if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void StopPreauthDeadline() {
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
}

}  // namespace hatch
