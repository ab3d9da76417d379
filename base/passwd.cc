#include "base/passwd.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace hatch {

std::optional<PasswdEntry> FindPasswdEntry(absl::string_view passwd_text, uid_t uid) {
  for (absl::string_view line : absl::StrSplit(passwd_text, '\n')) {
    // name:password:uid:gid:gecos:home:shell
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    if (f.size() != 7) continue;
    uint32_t entry_uid = 0, entry_gid = 0;
    if (!absl::SimpleAtoi(f[2], &entry_uid) || !absl::SimpleAtoi(f[3], &entry_gid)) continue;
    if (entry_uid != uid) continue;
    return PasswdEntry{std::string(f[0]), entry_uid, entry_gid, std::string(f[5]),
                       std::string(f[6])};
  }
  return std::nullopt;
}

PasswdEntry CurrentUser() {
  const uid_t uid = getuid();
  std::ifstream in("/etc/passwd");
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    if (auto entry = FindPasswdEntry(text.str(), uid)) return *entry;
  }
  PasswdEntry entry;
  entry.uid = uid;
  entry.gid = getgid();
  const char* user = std::getenv("USER");
  const char* home = std::getenv("HOME");
  entry.name = user != nullptr && *user != '\0' ? user : std::to_string(uid);
  entry.home = home != nullptr && *home != '\0' ? home : "/";
  return entry;
}

}  // namespace hatch
