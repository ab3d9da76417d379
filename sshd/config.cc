#include "sshd/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <vector>

#include <openssl/crypto.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

// Each default is written once, in Config (config.h); a flag whose type differs from its
// field (a string parsed into a struct or an enum) spells the same default in its own syntax.
static const hatch::Config kDefault;

ABSL_FLAG(std::string, address, kDefault.address, "listen address (host:port)");
ABSL_FLAG(std::string, hostKey, "", "PEM or OpenSSH private host key; empty: a fresh ed25519 key");
ABSL_FLAG(std::string, authorizedKey, "", "public key in authorized_keys format");
ABSL_FLAG(bool, allowUnauthenticatedClients, kDefault.allow_unauthenticated_clients, "allow clients with no authentication");
ABSL_FLAG(bool, inheritDaemonEnv, kDefault.inherit_daemon_env, "give sessions the daemon's environment");
ABSL_FLAG(std::string, allowedCiphers, "", "comma-separated cipher allow-list");
ABSL_FLAG(std::string, allowedMACs, "", "comma-separated MAC allow-list");
ABSL_FLAG(std::string, allowedKeyExchanges, "", "comma-separated key exchange allow-list");
ABSL_FLAG(std::string, allowedHostKeyAlgorithms, "", "comma-separated host key algorithm allow-list");
ABSL_FLAG(std::string, logLevel, "info", "log level: debug, info, error or fatal");
ABSL_FLAG(std::string, timeFormat, "unix-epoch", "accepted for diego-sshd compatibility (ignored: timestamps are always unix-epoch)");
ABSL_FLAG(std::string, debugAddr, "", "accepted for diego-sshd compatibility (ignored)");
ABSL_FLAG(absl::Duration, idleTimeout, kDefault.idle_timeout, "close a connection idle this long (0: never)");
ABSL_FLAG(absl::Duration, keepaliveInterval, kDefault.keepalive_interval, "server keepalive interval (0: off)");
ABSL_FLAG(int, keepaliveCountMax, kDefault.keepalive_count_max, "unanswered keepalives before a peer is dead");
ABSL_FLAG(absl::Duration, loginGraceTime, kDefault.login_grace_time, "time to authenticate");
ABSL_FLAG(int, maxAuthTries, kDefault.max_auth_tries, "authentication attempts per connection");
ABSL_FLAG(int, maxSessions, kDefault.max_sessions, "open session channels per connection (shells, commands, subsystems)");
ABSL_FLAG(int, maxConnections, kDefault.max_connections, "concurrent connections, authenticated or not");
ABSL_FLAG(std::string, maxStartups, "20:30:60",
          "unauthenticated connections start:rate:full: from start refuse rate% at random, "
          "rising to 100% at full (or N: refuse at N)");
ABSL_FLAG(int, perSourceMaxStartups, kDefault.per_source_max_startups,
          "unauthenticated connections per source address (IPv6: per /64); 0: no cap");
ABSL_FLAG(std::string, preauthExemptSources, "",
          "comma-separated CIDRs (e.g. the platform's ssh proxy) outside the pre-auth budget");
ABSL_FLAG(absl::Duration, preauthTimeout, kDefault.preauth_timeout,
          "time from connect to the end of key exchange (at most -loginGraceTime)");
ABSL_FLAG(absl::Duration, refusalLogInterval, kDefault.refusal_log_interval,
          "refused connections are logged as one line with counts per interval");
ABSL_FLAG(absl::Duration, killGraceTime, kDefault.kill_grace_time,
          "at daemon shutdown: SIGHUP to SIGKILL delay for processes of open sessions");
ABSL_FLAG(std::string, forwarding, "all", "TCP forwarding allowed: all, local (-L), remote (-R) or none");
ABSL_FLAG(int, maxTunnels, kDefault.max_tunnels, "concurrent forwarded TCP channels per connection, both ways (-L direct-tcpip channels and connections to -R listeners)");
ABSL_FLAG(int, maxRemoteListeners, kDefault.max_remote_listeners, "remote forward (-R) listeners per connection");
ABSL_FLAG(bool, appEnvironment, kDefault.app_environment,
          "run shell and exec sessions in the app's environment (classic, CNB or app process)");
ABSL_FLAG(std::string, appDir, "", "with -appEnvironment: the app dir (default: per kind of app)");
ABSL_FLAG(bool, readOnly, kDefault.read_only,
          "sessions cannot change the filesystem or signal the app (Landlock, Linux 6.12+); "
          "scp and sftp refuse writes; -R is refused");
ABSL_FLAG(bool, syscallFilter, kDefault.syscall_filter,
          "sessions run under the baseline seccomp filter and with no_new_privs (false: "
          "neither, so setuid programs such as sudo work)");
ABSL_FLAG(int, appPid, kDefault.app_pid, "with -appEnvironment: the app process to take the environment of "
          "(default: the oldest process of this user outside hatch, when there is no droplet)");
ABSL_FLAG(std::string, auditLog, kDefault.audit_log,
          "audit trail (sshd.audit.* lines, whatever -logLevel says): stdout, stderr, none or "
          "a file path (appended, mode 0600)");
ABSL_FLAG(std::string, recordSessions, "",
          "record every shell and exec session as an asciicast v2 file in this directory");
ABSL_FLAG(int64_t, recordMaxBytes, static_cast<int64_t>(kDefault.record_max_bytes),
          "size cap of one recording; past it the recording stops with a marker");

extern char** environ;

namespace hatch {
namespace {

constexpr const char* kSecretFlags[] = {"hostKey", "authorizedKey"};
constexpr const char* kSecretEnv[] = {"SSHD_HOSTKEY", "SSHD_AUTHKEY"};

// The flag name of an argv word ("-x", "--x", "-x=v", "--x=v"), or "" if it is no flag.
absl::string_view FlagName(absl::string_view arg) {
  if (!absl::ConsumePrefix(&arg, "-")) return "";
  absl::ConsumePrefix(&arg, "-");
  return arg.substr(0, arg.find('='));
}

bool IsSecretFlag(absl::string_view name) {
  for (const char* s : kSecretFlags) {
    if (name == s) return true;
  }
  return false;
}

void Wipe(char* p) { std::memset(p, 0, std::strlen(p)); }

// Overwrites the secret flag values in argv and the secret variables' values in `envp`.
void WipeInPlace(int argc, char** argv, char** envp) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    absl::string_view name = FlagName(arg);
    if (!IsSecretFlag(name)) continue;
    if (char* eq = std::strchr(argv[i], '='); eq != nullptr) {
      Wipe(eq + 1);
    } else if (i + 1 < argc) {
      Wipe(argv[++i]);  // "-hostKey VALUE"
    }
  }
  for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
    for (const char* name : kSecretEnv) {
      size_t n = std::strlen(name);
      if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=') Wipe(*e + n + 1);
    }
  }
}

absl::Status PositiveInt(const char* name, int value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("-", name, " must be positive, got ", value));
}

absl::Status NonNegative(const char* name, absl::Duration d) {
  if (d >= absl::ZeroDuration()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("-", name, " must not be negative"));
}

}  // namespace

void Secrets::Wipe() {
  OPENSSL_cleanse(host_key.data(), host_key.size());
  OPENSSL_cleanse(authorized_key.data(), authorized_key.size());
  host_key.clear();
  authorized_key.clear();
}

void TakeSecrets(int argc, char** argv, char** envp, Secrets* out) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    absl::string_view name = FlagName(arg);
    if (!IsSecretFlag(name)) continue;
    std::string* into = name == "hostKey" ? &out->host_key : &out->authorized_key;
    if (const char* eq = std::strchr(argv[i], '='); eq != nullptr) {
      into->assign(eq + 1);
    } else if (i + 1 < argc) {
      into->assign(argv[i + 1]);  // "-hostKey VALUE"; WipeInPlace skips it the same way
      ++i;
    }
  }
  for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
    for (size_t k = 0; k < std::size(kSecretEnv); ++k) {
      const size_t n = std::strlen(kSecretEnv[k]);
      if (std::strncmp(*e, kSecretEnv[k], n) != 0 || (*e)[n] != '=' || (*e)[n + 1] == '\0') {
        continue;
      }
      (k == 0 ? out->host_key : out->authorized_key).assign(*e + n + 1);
    }
  }
  WipeInPlace(argc, argv, envp);
}

void TakeSecrets(int argc, char** argv, Secrets* out) {
  TakeSecrets(argc, argv, environ, out);
  for (const char* name : kSecretEnv) unsetenv(name);
}

absl::StatusOr<Config> ParseConfig(int argc, char** argv, const Secrets* secrets) {
  // absl reports a bad flag on stderr and exits 1 itself; everything else comes back here.
  static const bool usage_set = [] {
    // -version is abseil's own flag (defining it again clashes in the static link): absl
    // prints the version_string main() set with absl::SetFlagsUsageConfig and exits 0.
    absl::SetProgramUsageMessage("diego-sshd [flags]: hatch's SSH daemon for app containers");
    return true;
  }();
  (void)usage_set;
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", positional[1], "\" (flags are -name=value)"));
  }

  Config c;
  c.address = absl::GetFlag(FLAGS_address);
  c.host_key = absl::GetFlag(FLAGS_hostKey);
  c.authorized_key = absl::GetFlag(FLAGS_authorizedKey);
  if (secrets != nullptr) {
    c.host_key = secrets->host_key;
    c.authorized_key = secrets->authorized_key;
  } else {
    if (const char* env = std::getenv("SSHD_HOSTKEY"); env != nullptr && *env != '\0') c.host_key = env;
    if (const char* env = std::getenv("SSHD_AUTHKEY"); env != nullptr && *env != '\0') c.authorized_key = env;
  }
  c.allow_unauthenticated_clients = absl::GetFlag(FLAGS_allowUnauthenticatedClients);
  c.inherit_daemon_env = absl::GetFlag(FLAGS_inheritDaemonEnv);
  c.allowed_ciphers = absl::GetFlag(FLAGS_allowedCiphers);
  c.allowed_macs = absl::GetFlag(FLAGS_allowedMACs);
  c.allowed_key_exchanges = absl::GetFlag(FLAGS_allowedKeyExchanges);
  c.allowed_host_key_algorithms = absl::GetFlag(FLAGS_allowedHostKeyAlgorithms);
  absl::StatusOr<LogLevel> level = ParseLogLevel(absl::GetFlag(FLAGS_logLevel));
  if (!level.ok()) return absl::InvalidArgumentError(absl::StrCat("-logLevel: ", level.status().message()));
  c.log_level = *level;
  c.idle_timeout = absl::GetFlag(FLAGS_idleTimeout);
  c.keepalive_interval = absl::GetFlag(FLAGS_keepaliveInterval);
  c.keepalive_count_max = absl::GetFlag(FLAGS_keepaliveCountMax);
  c.login_grace_time = absl::GetFlag(FLAGS_loginGraceTime);
  c.max_auth_tries = absl::GetFlag(FLAGS_maxAuthTries);
  c.max_sessions = absl::GetFlag(FLAGS_maxSessions);
  c.max_connections = absl::GetFlag(FLAGS_maxConnections);
  c.kill_grace_time = absl::GetFlag(FLAGS_killGraceTime);
  absl::StatusOr<StartupLimits> startups = ParseStartupLimits(absl::GetFlag(FLAGS_maxStartups));
  if (!startups.ok()) return startups.status();
  c.max_startups = *startups;
  c.per_source_max_startups = absl::GetFlag(FLAGS_perSourceMaxStartups);
  if (c.per_source_max_startups < 0) {
    return absl::InvalidArgumentError("-perSourceMaxStartups must not be negative");
  }
  absl::StatusOr<std::vector<Cidr>> exempt =
      ParseCidrList(absl::GetFlag(FLAGS_preauthExemptSources));
  if (!exempt.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("-preauthExemptSources: ", exempt.status().message()));
  }
  c.preauth_exempt = *exempt;
  c.preauth_timeout = absl::GetFlag(FLAGS_preauthTimeout);
  c.refusal_log_interval = absl::GetFlag(FLAGS_refusalLogInterval);
  const std::string forwarding = absl::GetFlag(FLAGS_forwarding);
  if (forwarding != "all" && forwarding != "local" && forwarding != "remote" && forwarding != "none") {
    return absl::InvalidArgumentError(absl::StrCat(
        "-forwarding: unknown value \"", forwarding, "\" (want all, local, remote or none)"));
  }
  c.allow_local_forwarding = forwarding == "all" || forwarding == "local";
  c.allow_remote_forwarding = forwarding == "all" || forwarding == "remote";
  c.max_tunnels = absl::GetFlag(FLAGS_maxTunnels);
  c.max_remote_listeners = absl::GetFlag(FLAGS_maxRemoteListeners);
  c.app_environment = absl::GetFlag(FLAGS_appEnvironment);
  c.app_dir = absl::GetFlag(FLAGS_appDir);
  c.app_pid = absl::GetFlag(FLAGS_appPid);
  if (c.app_pid < 0) return absl::InvalidArgumentError("-appPid must not be negative");
  if (!c.app_environment && (!c.app_dir.empty() || c.app_pid != 0)) {
    return absl::InvalidArgumentError("-appDir and -appPid need -appEnvironment");
  }

  c.syscall_filter = absl::GetFlag(FLAGS_syscallFilter);
  c.read_only = absl::GetFlag(FLAGS_readOnly);
  if (c.read_only && !c.syscall_filter) {
    return absl::InvalidArgumentError(
        "-readOnly needs the syscall filter: drop -syscallFilter=false");
  }
  // A remote forward changes no file, but it lets the session's user open a port on the
  // container that others can connect to: not what "read-only" promises.
  if (c.read_only) c.allow_remote_forwarding = false;
  c.audit_log = absl::GetFlag(FLAGS_auditLog);
  if (c.audit_log.empty()) return absl::InvalidArgumentError("-auditLog must not be empty (none turns it off)");
  c.record_sessions = absl::GetFlag(FLAGS_recordSessions);
  if (!c.record_sessions.empty()) {
    struct stat st {};
    if (::stat(c.record_sessions.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("-recordSessions: ", c.record_sessions, " is not a directory"));
    }
    if (::access(c.record_sessions.c_str(), W_OK | X_OK) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("-recordSessions: cannot write to ", c.record_sessions));
    }
  }
  const int64_t record_max = absl::GetFlag(FLAGS_recordMaxBytes);
  if (record_max < 4096) {
    return absl::InvalidArgumentError("-recordMaxBytes must be at least 4096");
  }
  c.record_max_bytes = static_cast<uint64_t>(record_max);

  for (absl::Status s : {NonNegative("idleTimeout", c.idle_timeout),
                         NonNegative("keepaliveInterval", c.keepalive_interval),
                         NonNegative("killGraceTime", c.kill_grace_time),
                         PositiveInt("keepaliveCountMax", c.keepalive_count_max),
                         PositiveInt("maxAuthTries", c.max_auth_tries),
                         PositiveInt("maxSessions", c.max_sessions),
                         PositiveInt("maxConnections", c.max_connections),
                         PositiveInt("maxTunnels", c.max_tunnels),
                         PositiveInt("maxRemoteListeners", c.max_remote_listeners)}) {
    if (!s.ok()) return s;
  }
  if (c.login_grace_time <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("-loginGraceTime must be positive");
  }
  if (c.preauth_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("-preauthTimeout must be positive");
  }
  if (c.refusal_log_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("-refusalLogInterval must be positive");
  }
  // Both bound the time before authentication; the shorter one wins.
  c.preauth_timeout = std::min(c.preauth_timeout, c.login_grace_time);
  if (c.authorized_key.empty() && !c.allow_unauthenticated_clients) {
    return absl::InvalidArgumentError(
        "no authorized key: give -authorizedKey (or SSHD_AUTHKEY) or -allowUnauthenticatedClients");
  }
  return c;
}

void ScrubSecrets(int argc, char** argv) {
  // The kernel shows the original environment block; wipe the values there, then drop the
  // variables so no child inherits them.
  WipeInPlace(argc, argv, environ);
  for (const char* name : kSecretEnv) unsetenv(name);
}

}  // namespace hatch
