// SessionEnvironment: the environment of one session's process, built as diego-sshd builds
// it, but per session (diego-sshd shares one map between sessions, so one session's `env`
// requests leak into the next):
//   PATH=/bin:/usr/bin and LANG=en_US.UTF-8; with -inheritDaemonEnv the daemon's environment
//   minus PATH on top; then the client's `env` requests (which may override PATH and LANG);
//   TERM from pty-req; HOME and USER of the daemon's user last, which nothing overrides.
#ifndef HATCH_SSHD_ENVIRONMENT_H_
#define HATCH_SSHD_ENVIRONMENT_H_

#include <map>
#include <string>
#include <vector>

namespace hatch {

// What every session of this daemon starts from; computed once at start-up.
struct BaseEnvironment {
  std::map<std::string, std::string> vars;  // PATH, LANG and (optionally) the daemon's env
  std::string home;
  std::string user;
};

// `daemon_env` is the daemon's environ (already scrubbed of secrets); `inherit` is
// -inheritDaemonEnv. HOME/USER: the daemon's $HOME/$USER as diego-sshd, else /etc/passwd.
BaseEnvironment MakeBaseEnvironment(char** daemon_env, bool inherit);

class SessionEnvironment {
 public:
  explicit SessionEnvironment(const BaseEnvironment& base);

  // What one session's `env` requests may hold (a client could otherwise grow the connection
  // without bound): at most kMaxClientVariables names (OpenSSH's limit too) and
  // kMaxClientBytes of names and values together.
  static constexpr size_t kMaxClientVariables = 128;
  static constexpr size_t kMaxClientBytes = 256 * 1024;

  // An `env` request. HOME and USER are kept as the daemon's; returns false for those, for
  // names that cannot be environment names (empty, or containing '=' or NUL), and for a
  // request past the limits above.
  bool Set(const std::string& name, const std::string& value);
  void SetTerm(const std::string& term);
  const std::string& home() const { return home_; }
  std::string Get(const std::string& name) const;

  // "NAME=value" strings for execve.
  std::vector<std::string> ToEnvp() const;

  // -appEnvironment: the app's environment (`app`, "NAME=value" entries, order kept) with
  // this session's own settings on top: the client's `env` requests and TERM replace or
  // add entries; HOME and USER are the app's, or the daemon's where the app has none.
  std::vector<std::string> ToEnvpOver(const std::vector<std::string>& app) const;

 private:
  std::map<std::string, std::string> vars_;
  std::map<std::string, std::string> session_vars_;  // set by this session: env, TERM
  size_t client_bytes_ = 0;  // names and values in session_vars_ set by `env` requests
  std::string home_;
  std::string user_;
};

}  // namespace hatch

#endif  // HATCH_SSHD_ENVIRONMENT_H_
