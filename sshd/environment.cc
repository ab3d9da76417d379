#include "sshd/environment.h"

#include <cstdlib>

#include "base/passwd.h"

namespace hatch {

BaseEnvironment MakeBaseEnvironment(char** daemon_env, bool inherit) {
  BaseEnvironment b;
  b.vars["PATH"] = "/bin:/usr/bin";
  b.vars["LANG"] = "en_US.UTF-8";
  if (inherit) {
    for (char** e = daemon_env; e != nullptr && *e != nullptr; ++e) {
      std::string entry = *e;
      size_t eq = entry.find('=');
      if (eq == std::string::npos || eq == 0) continue;
      std::string name = entry.substr(0, eq);
      if (name == "PATH") continue;
      b.vars[name] = entry.substr(eq + 1);
    }
  }
  PasswdEntry me = CurrentUser();
  const char* home = std::getenv("HOME");
  const char* user = std::getenv("USER");
  b.home = home != nullptr && *home != '\0' ? home : me.home;
  b.user = user != nullptr && *user != '\0' ? user : me.name;
  return b;
}

SessionEnvironment::SessionEnvironment(const BaseEnvironment& base)
    : vars_(base.vars), home_(base.home), user_(base.user) {}

bool SessionEnvironment::Set(const std::string& name, const std::string& value) {
  if (name.empty() || name.find('=') != std::string::npos ||
      name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
    return false;
  }
  if (name == "HOME" || name == "USER") return false;
  auto it = session_vars_.find(name);
  const size_t replaced = it == session_vars_.end() ? 0 : name.size() + it->second.size();
  if (it == session_vars_.end() && session_vars_.size() >= kMaxClientVariables) return false;
  if (client_bytes_ - replaced + name.size() + value.size() > kMaxClientBytes) return false;
  client_bytes_ = client_bytes_ - replaced + name.size() + value.size();
  vars_[name] = value;
  session_vars_[name] = value;
  return true;
}

void SessionEnvironment::SetTerm(const std::string& term) {
  vars_["TERM"] = term;
  session_vars_["TERM"] = term;
}

std::string SessionEnvironment::Get(const std::string& name) const {
  if (name == "HOME") return home_;
  if (name == "USER") return user_;
  auto it = vars_.find(name);
  return it == vars_.end() ? std::string() : it->second;
}

std::vector<std::string> SessionEnvironment::ToEnvp() const {
  std::vector<std::string> out;
  out.reserve(vars_.size() + 2);
  for (const auto& [name, value] : vars_) {
    if (name == "HOME" || name == "USER") continue;
    out.push_back(name + "=" + value);
  }
  out.push_back("HOME=" + home_);
  out.push_back("USER=" + user_);
  return out;
}

std::vector<std::string> SessionEnvironment::ToEnvpOver(const std::vector<std::string>& app) const {
  std::vector<std::string> out;
  out.reserve(app.size() + session_vars_.size() + 2);
  std::map<std::string, size_t> index;  // name -> position in out
  auto put = [&](const std::string& name, const std::string& value) {
    auto [it, added] = index.emplace(name, out.size());
    if (added) {
      out.push_back(name + "=" + value);
    } else {
      out[it->second] = name + "=" + value;
    }
  };
  for (const std::string& entry : app) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    const std::string name = entry.substr(0, eq);
    if (index.count(name) == 0) put(name, entry.substr(eq + 1));  // the first of a name wins
  }
  for (const auto& [name, value] : session_vars_) put(name, value);
  if (index.count("HOME") == 0) put("HOME", home_);
  if (index.count("USER") == 0) put("USER", user_);
  return out;
}

}  // namespace hatch
