#include "sshd/sftp/account_names.h"

#include <fstream>
#include <iterator>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace hatch::sftp {
namespace {

// Account files are small; the cap keeps a hostile or odd rootfs from costing memory.
constexpr size_t kMaxAccountFileSize = 4 << 20;

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text;
  if (!in) return text;
  text.resize(kMaxAccountFileSize);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

}  // namespace

void AccountNames::LoadPasswd() {
  passwd_loaded_ = true;
  const std::string text = ReadSmallFile(passwd_path_);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    // name:password:uid:gid:gecos:home:shell
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    uint32_t uid = 0;
    if (f.size() < 7 || f[0].empty() || !absl::SimpleAtoi(f[2], &uid)) continue;
    users_.try_emplace(uid, f[0]);  // first entry wins, as getpwuid(3)
    homes_.try_emplace(std::string(f[0]), f[5]);
  }
}

void AccountNames::LoadGroup() {
  group_loaded_ = true;
  const std::string text = ReadSmallFile(group_path_);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    // name:password:gid:members
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    uint32_t gid = 0;
    if (f.size() < 3 || f[0].empty() || !absl::SimpleAtoi(f[2], &gid)) continue;
    groups_.try_emplace(gid, f[0]);
  }
}

const std::string* AccountNames::UserName(uid_t uid) {
  if (!passwd_loaded_) LoadPasswd();
  auto it = users_.find(uid);
  return it == users_.end() ? nullptr : &it->second;
}

const std::string* AccountNames::GroupName(gid_t gid) {
  if (!group_loaded_) LoadGroup();
  auto it = groups_.find(gid);
  return it == groups_.end() ? nullptr : &it->second;
}

std::optional<std::string> AccountNames::HomeOf(absl::string_view user) {
  if (!passwd_loaded_) LoadPasswd();
  auto it = homes_.find(std::string(user));
  if (it == homes_.end()) return std::nullopt;
  return it->second;
}

}  // namespace hatch::sftp
