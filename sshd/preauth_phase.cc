#include "sshd/preauth_phase.h"

#include <libssh/callbacks.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
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

// The audit line a passing deadline writes, all but its two clock readings prepared
// beforehand: {"timestamp":"<now>" + g_deadline.middle + <duration> + "\"}}\n".
struct DeadlineLine {
  int fd = -1;                 // the audit sink's, -1: none
  timespec started{};          // the connection's start (CLOCK_REALTIME)
  char middle[2048] = {};      // from `","source"` to `"duration":"`
  size_t middle_len = 0;
};
DeadlineLine g_deadline;
const ConnectionAudit* g_audit = nullptr;

// Appends `v` in decimal, at least `width` digits (zero-padded).
char* AppendUnsigned(char* p, unsigned long long v, int width) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n < width) digits[n++] = '0';
  while (n > 0) *p++ = digits[--n];
  return p;
}

// The SIGALRM handler: async-signal-safe calls only (clock_gettime, write, signal, raise).
void OnDeadline(int) {
  const int saved_errno = errno;
  if (g_deadline.fd >= 0) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    char line[sizeof g_deadline.middle + 96];
    char* p = line;
    static constexpr char kHead[] = "{\"timestamp\":\"";
    memcpy(p, kHead, sizeof kHead - 1);
    p += sizeof kHead - 1;
    p = AppendUnsigned(p, static_cast<unsigned long long>(now.tv_sec), 1);
    *p++ = '.';
    p = AppendUnsigned(p, static_cast<unsigned long long>(now.tv_nsec), 9);
    memcpy(p, g_deadline.middle, g_deadline.middle_len);
    p += g_deadline.middle_len;
    long long ms = (now.tv_sec - g_deadline.started.tv_sec) * 1000LL +
                   (now.tv_nsec - g_deadline.started.tv_nsec) / 1000000;
    if (ms < 0) ms = 0;  // the wall clock stepped back
    p = AppendUnsigned(p, static_cast<unsigned long long>(ms / 1000), 1);
    *p++ = '.';
    p = AppendUnsigned(p, static_cast<unsigned long long>(ms % 1000), 3);
    static constexpr char kTail[] = "\"}}\n";
    memcpy(p, kTail, sizeof kTail - 1);
    p += sizeof kTail - 1;
    for (const char* q = line; q < p;) {  // one write(2), as every audit line
      ssize_t n = write(g_deadline.fd, q, static_cast<size_t>(p - q));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      q += n;
    }
  }
  // Pending until this handler returns, then the default action: the listener sees the end
  // by SIGALRM and counts it.
  signal(SIGALRM, SIG_DFL);
  raise(SIGALRM);
  errno = saved_errno;
}

// Prepares the line for `reason` (SIGALRM blocked meanwhile, so the handler never sees half
// of it) and installs the handler.
void PrepareDeadlineLine(const std::string& reason) {
  if (g_audit == nullptr) return;
  sigset_t alarm, old;
  sigemptyset(&alarm);
  sigaddset(&alarm, SIGALRM);
  sigprocmask(SIG_BLOCK, &alarm, &old);
  const std::string middle = absl::StrCat(
      "\",\"source\":\"sshd\",\"message\":\"sshd.audit.connection.ended\",\"log_level\":1,"
      "\"data\":{\"connection\":", nlohmann::json(g_audit->id()).dump(), ",\"peer\":",
      nlohmann::json(g_audit->peer()).dump(), ",\"reason\":", nlohmann::json(reason).dump(),
      ",\"duration\":\"");
  g_deadline.fd = AuditFd();
  g_deadline.started = absl::ToTimespec(g_audit->started());
  g_deadline.middle_len = std::min(middle.size(), sizeof g_deadline.middle);
  memcpy(g_deadline.middle, middle.data(), g_deadline.middle_len);
  struct sigaction sa {};
  sa.sa_handler = &OnDeadline;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, nullptr);
  sigprocmask(SIG_SETMASK, &old, nullptr);
}

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

absl::Time StartPreauthDeadline(absl::Duration timeout, const ConnectionAudit* audit) {
  g_audit = audit;
  PrepareDeadlineLine("no key exchange within -preauthTimeout");
  ArmTimer(timeout);
  return absl::Now();
}

void FinishKeyExchangePhase(absl::Time start, absl::Duration login_grace_time) {
  PrepareDeadlineLine("not authenticated within -loginGraceTime");
  ArmTimer(login_grace_time - (absl::Now() - start));
}

void StopPreauthDeadline() {
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  signal(SIGALRM, SIG_DFL);  // no deadline any more: nothing to write
}

}  // namespace hatch
