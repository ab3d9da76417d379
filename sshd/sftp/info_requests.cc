// Session-wide queries: limits@openssh.com, expand-path@openssh.com, home-directory,
// users-groups-by-id@openssh.com; and the statvfs reply both statvfs requests share.
#include <sys/statvfs.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sshd/sftp/session.h"

namespace hatch::sftp {

void Session::SendStatvfs(ReplyWriter& out, uint32_t id, const struct statvfs& st) {
  uint64_t flag = 0;
  if (st.f_flag & ST_RDONLY) flag |= kStatvfsReadOnly;
  if (st.f_flag & ST_NOSUID) flag |= kStatvfsNoSuid;
  // PROTOCOL 4.4: eleven uint64s.
  out.Begin(kFxpExtendedReply);
  out.U32(id);
  out.U64(st.f_bsize);
  out.U64(st.f_frsize);
  out.U64(st.f_blocks);
  out.U64(st.f_bfree);
  out.U64(st.f_bavail);
  out.U64(st.f_files);
  out.U64(st.f_ffree);
  out.U64(st.f_favail);
  out.U64(st.f_fsid);
  out.U64(flag);
  out.U64(st.f_namemax);
  out.Finish();
}

// PROTOCOL 4.8. OpenSSH's client sizes its reads and writes from this reply.
absl::Status Session::Limits(uint32_t id, WireReader& in, ReplyWriter& out) {
  out.Begin(kFxpExtendedReply);
  out.U32(id);
  out.U64(options_.max_message);  // max-packet-length
  out.U64(max_read_);             // max-read-length
  out.U64(max_read_);             // max-write-length: a WRITE of this much fits a packet
  out.U64(handles_.max_handles());
  out.Finish();
  return absl::OkStatus();
}

// PROTOCOL 4.9: "~", "~/..." and "~user/..." expanded, then canonicalised as REALPATH.
// "~" is the session's home (as OpenSSH's is its start directory).
absl::Status Session::ExpandPath(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view raw = in.String();
  if (!in.ok()) return Truncated();
  if (!IsValidPath(raw)) {
    SendStatus(out, id, kFxBadMessage, "Path contains a NUL byte");
    return absl::OkStatus();
  }
  std::string path(raw);
  if (raw == "~") {
    path = paths_.home();
  } else if (absl::StartsWith(raw, "~/")) {
    path = absl::StrCat(paths_.home(), raw.substr(1));
  } else if (absl::StartsWith(raw, "~")) {
    const size_t slash = raw.find('/');
    const absl::string_view user = raw.substr(1, slash == absl::string_view::npos
                                                     ? absl::string_view::npos
                                                     : slash - 1);
    std::optional<std::string> home = accounts_.HomeOf(user);
    if (!home) {
      SendStatus(out, id, kFxNoSuchFile, "no such user");
      return absl::OkStatus();
    }
    path = slash == absl::string_view::npos ? *home : absl::StrCat(*home, raw.substr(slash));
  }
  std::string resolved;
  const int err = paths_.RealPath(path, &resolved);
  if (err != 0) {
    SendErrno(out, id, err);
  } else {
    SendName(out, id, resolved);
  }
  return absl::OkStatus();
}

// home-directory (PROTOCOL 4.11): "" is the session's own home.
absl::Status Session::HomeDirectory(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view user = in.String();
  if (!in.ok()) return Truncated();
  if (user.empty()) {
    SendName(out, id, paths_.home());
    return absl::OkStatus();
  }
  std::optional<std::string> home = accounts_.HomeOf(user);
  if (!home) {
    SendStatus(out, id, kFxFailure, "no such user");
  } else {
    SendName(out, id, *home);
  }
  return absl::OkStatus();
}

// users-groups-by-id@openssh.com (PROTOCOL 4.12): names in request order, "" for unknown
// ids.
absl::Status Session::UsersGroupsById(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view uids = in.String();
  const absl::string_view gids = in.String();
  if (!in.ok()) return Truncated();
  if (uids.size() % 4 != 0 || gids.size() % 4 != 0) {
    return absl::InvalidArgumentError("id list not a whole number of uint32");
  }
  out.Begin(kFxpExtendedReply);
  out.U32(id);
  for (int list = 0; list < 2; ++list) {
    const absl::string_view ids = list == 0 ? uids : gids;
    // A string of strings: its length is patched in once the names are written.
    const size_t length_mark = out.Mark();
    out.U32(0);
    WireReader reader(reinterpret_cast<const uint8_t*>(ids.data()), ids.size());
    while (reader.remaining() > 0) {
      const uint32_t n = reader.U32();
      const std::string* name = list == 0 ? accounts_.UserName(n) : accounts_.GroupName(n);
      out.String(name != nullptr ? absl::string_view(*name) : absl::string_view());
    }
    if (!out.overflowed()) {
      out.PatchU32(length_mark, static_cast<uint32_t>(out.Mark() - length_mark - 4));
    }
  }
  FinishOrFail(out, id);
  return absl::OkStatus();
}

}  // namespace hatch::sftp
