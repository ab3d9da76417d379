// Config: everything the daemon is told at start-up, from its flags and environment.
// The flags are diego-sshd's (same names, same meaning; Go-style `-flag=value`,
// `--flag=value`, `-flag value` and bare `-boolflag` all parse), plus hatch's own limits.
#ifndef HATCH_SSHD_CONFIG_H_
#define HATCH_SSHD_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sandbox/session_sandbox.h"
#include "sshd/log.h"
#include "sshd/preauth.h"

namespace hatch {

struct Config {
  std::string address = "127.0.0.1:2222";
  std::string host_key;        // PEM or OpenSSH private key text; empty: generate ed25519
  std::string authorized_key;  // one authorized_keys line; empty: none
  bool allow_unauthenticated_clients = false;
  bool inherit_daemon_env = false;
  std::string allowed_ciphers;  // comma-separated; empty: hatch's defaults
  std::string allowed_macs;
  std::string allowed_key_exchanges;
  std::string allowed_host_key_algorithms;
  LogLevel log_level = LogLevel::kInfo;

  absl::Duration idle_timeout = absl::Minutes(5);  // diego-sshd's fixed value; 0 disables
  absl::Duration keepalive_interval = absl::Seconds(30);  // 0 disables server keepalives
  int keepalive_count_max = 3;  // unanswered keepalives before the peer is declared dead
  absl::Duration login_grace_time = absl::Seconds(60);
  int max_auth_tries = 6;
  int max_sessions = 10;      // channels per connection
  int max_connections = 100;  // concurrent connections, authenticated or not
  // The pre-auth budget (sshd/preauth.h): unauthenticated connections from sources outside
  // preauth_exempt, at most per_source_max_startups per source (0: no cap), refused at random
  // from max_startups.start and always at max_startups.full.
  StartupLimits max_startups;
  int per_source_max_startups = 10;
  std::vector<Cidr> preauth_exempt;
  // From accept to the end of key exchange (banner exchange included); at most
  // login_grace_time, which bounds everything up to authentication.
  absl::Duration preauth_timeout = absl::Seconds(10);
  absl::Duration refusal_log_interval = absl::Seconds(10);  // at most one refusal line per this
  // At daemon shutdown: SIGHUP -> SIGKILL for the processes of sessions still open.
  absl::Duration kill_grace_time = absl::Seconds(2);
  bool allow_local_forwarding = true;   // direct-tcpip (ssh -L)
  bool allow_remote_forwarding = true;  // tcpip-forward (ssh -R)
  int max_tunnels = 512;        // concurrent forwarded TCP channels per connection (-L and -R)
  int max_remote_listeners = 64;  // tcpip-forward listeners per connection
  // Shell and exec sessions run in the app's environment (lifecycle/app_launch.h), prepared
  // once per connection.
  bool app_environment = false;
  std::string app_dir;  // "" = per kind of app
  int app_pid = 0;      // 0 = found (apps without droplet metadata)
  // Every session runs under the baseline syscall filter (sandbox/syscall_filter.h) and with
  // no_new_privs; false turns both off (setuid programs such as sudo work in sessions).
  bool syscall_filter = true;
  // -readOnly: sessions cannot change the filesystem nor signal the app (Landlock), scp and
  // sftp refuse writes, and remote forwarding (-R) is refused. Needs the syscall filter.
  bool read_only = false;

  sandbox::SandboxPolicy session_sandbox() const { return {syscall_filter, read_only}; }
  // The audit trail (sshd/audit.h): "stdout", "stderr", "none" or a file path.
  std::string audit_log = "stdout";
  // Session recordings (sshd/recording.h): a directory, "" = off; the cap per recording.
  std::string record_sessions;
  uint64_t record_max_bytes = 64ull << 20;
};

// The secret flag values, taken out of argv and the environment before anything else reads
// them. Not copyable; cleansed when destroyed.
struct Secrets {
  Secrets() = default;
  ~Secrets() { Wipe(); }
  Secrets(const Secrets&) = delete;
  Secrets& operator=(const Secrets&) = delete;
  // Overwrites both values and empties them.
  void Wipe();
  std::string host_key;
  std::string authorized_key;
};

// Copies the values of -hostKey/-authorizedKey (the last of each, as flag parsing would) and
// of SSHD_HOSTKEY/SSHD_AUTHKEY (which override the flags when set and not empty) out of
// argv and the environment block `envp`, then overwrites them there in place. Touches no
// other process state (no getenv/unsetenv), so it can run before libc's and every library's
// initialisers: diego-sshd runs it from .preinit_array (sshd/main.cc). Flag parsing
// afterwards only sees the emptied values.
void TakeSecrets(int argc, char** argv, char** envp, Secrets* out);
// The same over `environ`, then removes both variables from the environment.
void TakeSecrets(int argc, char** argv, Secrets* out);

// Parses argv. With `secrets`, the keys come from there; without, from the flags and
// SSHD_HOSTKEY / SSHD_AUTHKEY (which override -hostKey / -authorizedKey). Errors are one
// line, fit for stderr.
absl::StatusOr<Config> ParseConfig(int argc, char** argv, const Secrets* secrets = nullptr);

// Overwrites the values of -hostKey/-authorizedKey in argv and of SSHD_HOSTKEY/SSHD_AUTHKEY in
// the original environment block, in place, so /proc/<pid>/cmdline and /proc/<pid>/environ no
// longer show them, and removes both variables from the environment.
void ScrubSecrets(int argc, char** argv);

}  // namespace hatch

#endif  // HATCH_SSHD_CONFIG_H_
