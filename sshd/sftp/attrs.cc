#include "sshd/sftp/attrs.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sshd/sftp/protocol.h"

namespace hatch::sftp {
namespace {

char FileTypeChar(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return 'd';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    case S_IFREG: return '-';
    case S_IFLNK: return 'l';
    case S_IFSOCK: return 's';
    case S_IFIFO: return 'p';
    default: return '?';
  }
}

// "drwxr-xr-x": type, then rwx for user, group, other with setuid/setgid/sticky shown in
// the execute column (s/S, t/T), as ls(1) prints them.
std::string ModeString(mode_t mode) {
  std::string s(10, '-');
  s[0] = FileTypeChar(mode);
  const mode_t read_bits[] = {S_IRUSR, S_IRGRP, S_IROTH};
  const mode_t write_bits[] = {S_IWUSR, S_IWGRP, S_IWOTH};
  const mode_t exec_bits[] = {S_IXUSR, S_IXGRP, S_IXOTH};
  const mode_t special_bits[] = {S_ISUID, S_ISGID, S_ISVTX};
  const char special_chars[] = {'s', 's', 't'};
  for (int i = 0; i < 3; ++i) {
    if (mode & read_bits[i]) s[1 + 3 * i] = 'r';
    if (mode & write_bits[i]) s[2 + 3 * i] = 'w';
    const bool exec = mode & exec_bits[i];
    char& c = s[3 + 3 * i];
    if (mode & special_bits[i]) {
      c = exec ? special_chars[i] : static_cast<char>(special_chars[i] - 'a' + 'A');
    } else if (exec) {
      c = 'x';
    }
  }
  return s;
}

std::string TimeString(time_t mtime, time_t now) {
  struct tm tm;
  if (localtime_r(&mtime, &tm) == nullptr) return "";
  char buf[32];
  // Within the last six months: time of day; otherwise (or in the future): the year.
  const bool recent = now - (365 * 24 * 60 * 60) / 2 < mtime && now >= mtime;
  const size_t n = strftime(buf, sizeof buf, recent ? "%b %e %H:%M" : "%b %e  %Y", &tm);
  return std::string(buf, n);
}

}  // namespace

FileAttrs AttrsFromStat(const struct stat& st) {
  FileAttrs a;
  a.flags = kAttrSize | kAttrUidGid | kAttrPermissions | kAttrAcModTime;
  a.size = static_cast<uint64_t>(st.st_size);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.permissions = st.st_mode;
  // v3 carries 32-bit times.
  a.atime = static_cast<uint32_t>(st.st_atime);
  a.mtime = static_cast<uint32_t>(st.st_mtime);
  return a;
}

FileAttrs ReadAttrs(WireReader* r) {
  FileAttrs a;
  a.flags = r->U32();
  if (a.flags & kAttrSize) a.size = r->U64();
  if (a.flags & kAttrUidGid) {
    a.uid = r->U32();
    a.gid = r->U32();
  }
  if (a.flags & kAttrPermissions) a.permissions = r->U32();
  if (a.flags & kAttrAcModTime) {
    a.atime = r->U32();
    a.mtime = r->U32();
  }
  if (a.flags & kAttrExtended) {
    // Each pair takes at least 8 bytes, so the loop ends at the packet's end at the latest.
    uint32_t count = r->U32();
    while (count-- > 0 && r->ok()) {
      r->String();
      r->String();
    }
  }
  return a;
}

void WriteAttrs(const FileAttrs& a, ReplyWriter* w) {
  // Extended attributes are never sent.
  w->U32(a.flags & ~kAttrExtended);
  if (a.flags & kAttrSize) w->U64(a.size);
  if (a.flags & kAttrUidGid) {
    w->U32(a.uid);
    w->U32(a.gid);
  }
  if (a.flags & kAttrPermissions) w->U32(a.permissions);
  if (a.flags & kAttrAcModTime) {
    w->U32(a.atime);
    w->U32(a.mtime);
  }
}

std::string LongName(absl::string_view name, const struct stat& st, AccountNames* accounts,
                     time_t now) {
  const std::string* user = accounts->UserName(st.st_uid);
  const std::string* group = accounts->GroupName(st.st_gid);
  const std::string user_text = user ? *user : absl::StrCat(st.st_uid);
  const std::string group_text = group ? *group : absl::StrCat(st.st_gid);
  // Mode, a blank where BSD strmode puts its ACL mark, link count, owner and group padded to
  // 8, size in 8 columns.
  return absl::StrFormat("%s  %3u %-8s %-8s %8u %s %s", ModeString(st.st_mode),
                         static_cast<unsigned>(st.st_nlink), user_text, group_text,
                         static_cast<unsigned long long>(st.st_size),
                         TimeString(st.st_mtime, now), name);
}

}  // namespace hatch::sftp
