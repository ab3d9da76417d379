// The daemon's own account, read from /etc/passwd without NSS, so a static binary finds it
// in any rootfs (and falls back to the environment when the file or the entry is missing).
#ifndef HATCH_BASE_PASSWD_H_
#define HATCH_BASE_PASSWD_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

namespace hatch {

struct PasswdEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
};

// Parses the text of an /etc/passwd file and returns the first entry with `uid`.
std::optional<PasswdEntry> FindPasswdEntry(absl::string_view passwd_text, uid_t uid);

// The account running this process: /etc/passwd's entry for getuid(), else USER/HOME from
// the environment, else the uid as name and "/" as home.
PasswdEntry CurrentUser();

}  // namespace hatch

#endif  // HATCH_BASE_PASSWD_H_
