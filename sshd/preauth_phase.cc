#include "sshd/preauth_phase.h"

#include <libssh/callbacks.h>
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

ssh_callbacks_struct g_callbacks;

void OnStatus(void* session, float status) {
  // libssh reports 0.5 when the client's banner is in, just before it queues our KEXINIT.
  if (status > 0.45f && status < 0.55f) ssh_set_fd_towrite(static_cast<ssh_session>(session));
}

}  // namespace

void WriteHandshakeEagerly(ssh_session session) {
  ssh_set_fd_towrite(session);  // the banner, written by ssh_handle_key_exchange
  g_callbacks = {};
  ssh_callbacks_init(&g_callbacks);
  g_callbacks.userdata = session;
  g_callbacks.connect_status_function = &OnStatus;
  ssh_set_callbacks(session, &g_callbacks);
}

absl::Time StartPreauthDeadline(absl::Duration timeout) {
  ArmTimer(timeout);
  return absl::Now();
}

void FinishKeyExchangePhase(absl::Time start, absl::Duration login_grace_time) {
  ArmTimer(login_grace_time - (absl::Now() - start));
}

void StopPreauthDeadline() {
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
}

}  // namespace hatch
