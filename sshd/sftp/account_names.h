// AccountNames: user and group names for ids (for `ls -l` long names and
// users-groups-by-id@openssh.com) and home directories by user name (for "~user" and
// home-directory). Read from /etc/passwd and /etc/group directly, not through NSS, so the
// static binary answers the same in any rootfs. Each file is read once, on first use.
#ifndef HATCH_SSHD_SFTP_ACCOUNT_NAMES_H_
#define HATCH_SSHD_SFTP_ACCOUNT_NAMES_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/strings/string_view.h"

namespace hatch::sftp {

class AccountNames {
 public:
  AccountNames(std::string passwd_path = "/etc/passwd", std::string group_path = "/etc/group")
      : passwd_path_(std::move(passwd_path)), group_path_(std::move(group_path)) {}

  // nullptr when the id has no entry.
  const std::string* UserName(uid_t uid);
  const std::string* GroupName(gid_t gid);
  std::optional<std::string> HomeOf(absl::string_view user);

 private:
  void LoadPasswd();
  void LoadGroup();

  std::string passwd_path_;
  std::string group_path_;
  bool passwd_loaded_ = false;
  bool group_loaded_ = false;
  std::unordered_map<uid_t, std::string> users_;
  std::unordered_map<std::string, std::string> homes_;
  std::unordered_map<gid_t, std::string> groups_;
};

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_ACCOUNT_NAMES_H_
