// Requests on names: STAT/LSTAT, SETSTAT (and lsetstat@openssh.com), REMOVE, MKDIR, RMDIR,
// REALPATH, RENAME (and posix-rename@openssh.com), READLINK, SYMLINK, hardlink@openssh.com,
// statvfs@openssh.com.
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include "sshd/sftp/session.h"
#include "sshd/sftp/set_attrs.h"

namespace hatch::sftp {
namespace {

// SSH_FXP_RENAME of draft 02 must not replace an existing target (section 6.5); OpenSSH
// gets that race-free with link+unlink. renameat2(RENAME_NOREPLACE) does it for every file
// type; where the file system lacks it, fall back to OpenSSH's way.
int RenameNoReplace(const std::string& from, const std::string& to) {
  if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) return errno;
  struct stat st;
  if (lstat(from.c_str(), &st) != 0) return errno;
  if (S_ISREG(st.st_mode) && link(from.c_str(), to.c_str()) == 0) {
    if (unlink(from.c_str()) != 0) {
      const int err = errno;
      unlink(to.c_str());
      return err;
    }
    return 0;
  }
  // Racy, as OpenSSH's fallback for file systems without hard links.
  if (lstat(to.c_str(), &st) == 0) return EEXIST;
  return rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

}  // namespace

absl::Status Session::Stat(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  if (!in.ok()) return Truncated();
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    SendErrno(out, id, errno);
  } else {
    SendAttrs(out, id, st);
  }
  return absl::OkStatus();
}

absl::Status Session::Lstat(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  if (!in.ok()) return Truncated();
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    SendErrno(out, id, errno);
  } else {
    SendAttrs(out, id, st);
  }
  return absl::OkStatus();
}

absl::Status Session::Setstat(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  const FileAttrs attrs = ReadAttrs(&in);
  if (!in.ok()) return Truncated();
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  const int err = ApplyAttrs(attrs, AttrTarget{AttrTarget::kPath, path.c_str()});
  if (err == 0) ReportSetstat(attrs, path);
  SendErrno(out, id, err);
  return absl::OkStatus();
}

absl::Status Session::Lsetstat(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  const FileAttrs attrs = ReadAttrs(&in);
  if (!in.ok()) return Truncated();
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  const int err = ApplyAttrs(attrs, AttrTarget{AttrTarget::kPathNoFollow, path.c_str()});
  if (err == 0) ReportSetstat(attrs, path);
  SendErrno(out, id, err);
  return absl::OkStatus();
}

absl::Status Session::Remove(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  if (!in.ok()) return Truncated();
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  const int err = unlink(path.c_str()) == 0 ? 0 : errno;
  if (err == 0) Report(FileOp::kRemoved, path);
  SendErrno(out, id, err);
  return absl::OkStatus();
}

absl::Status Session::Mkdir(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  const FileAttrs attrs = ReadAttrs(&in);
  if (!in.ok()) return Truncated();
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  // The kernel applies the umask, as for OpenSSH's sftp-server.
  const mode_t mode = (attrs.flags & kAttrPermissions) ? attrs.permissions & 07777 : 0777;
  const int err = mkdir(path.c_str(), mode) == 0 ? 0 : errno;
  if (err == 0) Report(FileOp::kMkdir, path);
  SendErrno(out, id, err);
  return absl::OkStatus();
}

absl::Status Session::Rmdir(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  if (!in.ok()) return Truncated();
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  const int err = rmdir(path.c_str()) == 0 ? 0 : errno;
  if (err == 0) Report(FileOp::kRmdir, path);
  SendErrno(out, id, err);
  return absl::OkStatus();
}

absl::Status Session::Realpath(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  if (!in.ok()) return Truncated();
  if (!IsValidPath(raw)) {
    SendStatus(out, id, kFxBadMessage, "Path contains a NUL byte");
    return absl::OkStatus();
  }
  std::string resolved;
  const int err = paths_.RealPath(raw, &resolved);
  if (err != 0) {
    SendErrno(out, id, err);
  } else {
    SendName(out, id, resolved);
  }
  return absl::OkStatus();
}

absl::Status Session::Rename(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw_from = in.String();
  const absl::string_view raw_to = in.String();
  if (!in.ok()) return Truncated();
  std::string from, to;
  if (!PathArg(raw_from, out, id, &from) || !PathArg(raw_to, out, id, &to)) {
    return absl::OkStatus();
  }
  const int err = RenameNoReplace(from, to);
  if (err == 0) Report(FileOp::kRenamed, from, to);
  SendErrno(out, id, err);
  return absl::OkStatus();
}

absl::Status Session::PosixRename(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw_from = in.String();
  const absl::string_view raw_to = in.String();
  if (!in.ok()) return Truncated();
  std::string from, to;
  if (!PathArg(raw_from, out, id, &from) || !PathArg(raw_to, out, id, &to)) {
    return absl::OkStatus();
  }
  const int err = rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
  if (err == 0) Report(FileOp::kRenamed, from, to);
  SendErrno(out, id, err);
  return absl::OkStatus();
}

absl::Status Session::Readlink(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  if (!in.ok()) return Truncated();
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  char target[PATH_MAX];
  const ssize_t n = readlink(path.c_str(), target, sizeof target);
  if (n < 0) {
    SendErrno(out, id, errno);
  } else if (static_cast<size_t>(n) == sizeof target) {
    SendErrno(out, id, ENAMETOOLONG);
  } else {
    SendName(out, id, absl::string_view(target, static_cast<size_t>(n)));
  }
  return absl::OkStatus();
}

// OpenSSH's sftp-server takes SYMLINK's arguments in the reverse of the draft's order
// (PROTOCOL 4.1): target first, then the link to create. Clients (OpenSSH's sftp, paramiko)
// send them that way, so hatch reads them that way too.
absl::Status Session::Symlink(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view target = in.String();
  const absl::string_view raw_link = in.String();
  if (!in.ok()) return Truncated();
  std::string link_path;
  if (!IsValidPath(target) || !PathArg(raw_link, out, id, &link_path)) {
    if (!IsValidPath(target)) SendStatus(out, id, kFxBadMessage, "Path contains a NUL byte");
    return absl::OkStatus();
  }
  // The target is stored as given: a relative target is relative to the link's directory.
  const std::string target_text(target);
  const int err = symlink(target_text.c_str(), link_path.c_str()) == 0 ? 0 : errno;
  if (err == 0) Report(FileOp::kSymlink, link_path, target_text);
  SendErrno(out, id, err);
  return absl::OkStatus();
}

absl::Status Session::Hardlink(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw_from = in.String();
  const absl::string_view raw_to = in.String();
  if (!in.ok()) return Truncated();
  std::string from, to;
  if (!PathArg(raw_from, out, id, &from) || !PathArg(raw_to, out, id, &to)) {
    return absl::OkStatus();
  }
  const int err = link(from.c_str(), to.c_str()) == 0 ? 0 : errno;
  if (err == 0) Report(FileOp::kLink, to, from);
  SendErrno(out, id, err);
  return absl::OkStatus();
}

absl::Status Session::Statvfs(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  if (!in.ok()) return Truncated();
  std::string path;
  if (!PathArg(raw, out, id, &path)) return absl::OkStatus();
  struct statvfs st;
  if (statvfs(path.c_str(), &st) != 0) {
    SendErrno(out, id, errno);
  } else {
    SendStatvfs(out, id, st);
  }
  return absl::OkStatus();
}

}  // namespace hatch::sftp
