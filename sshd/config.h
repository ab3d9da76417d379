// Config: everything the daemon is told at start-up, from its flags and environment.
// The flags are diego-sshd's (same names, same meaning; Go-style `-flag=value`,
// `--flag=value`, `-flag value` and bare `-boolflag` all parse), plus hatch's own limits.
#ifndef HATCH_SSHD_CONFIG_H_
#define HATCH_SSHD_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sshd/log.h"

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
  int max_connections = 100;  // concurrent connections
  // At daemon shutdown: SIGHUP -> SIGKILL for the processes of sessions still open.
  absl::Duration kill_grace_time = absl::Seconds(2);
  bool allow_local_forwarding = true;   // direct-tcpip (ssh -L)
  bool allow_remote_forwarding = true;  // tcpip-forward (ssh -R)
  int max_tunnels = 512;        // concurrent direct-tcpip channels per connection
  int max_remote_listeners = 64;  // tcpip-forward listeners per connection
  // Shell and exec sessions run in the app's environment (lifecycle/app_launch.h), prepared
  // once per connection.
  bool app_environment = false;
  std::string app_dir;  // "" = per kind of app
  int app_pid = 0;      // 0 = found (apps without droplet metadata)
  // The audit trail (sshd/audit.h): "stdout", "stderr", "none" or a file path.
  std::string audit_log = "stdout";
  // Session recordings (sshd/recording.h): a directory, "" = off; the cap per recording.
  std::string record_sessions;
  uint64_t record_max_bytes = 64ull << 20;
};

// Parses argv (and SSHD_HOSTKEY / SSHD_AUTHKEY, which override -hostKey / -authorizedKey).
// Errors are one line, fit for stderr.
absl::StatusOr<Config> ParseConfig(int argc, char** argv);

// Overwrites the values of -hostKey/-authorizedKey in argv and of SSHD_HOSTKEY/SSHD_AUTHKEY in
// the original environment block, in place, so /proc/<pid>/cmdline and /proc/<pid>/environ no
// longer show them, and removes both variables from the environment.
void ScrubSecrets(int argc, char** argv);

}  // namespace hatch

#endif  // HATCH_SSHD_CONFIG_H_
