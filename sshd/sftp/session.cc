#include "sshd/sftp/session.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hatch::sftp {

// Every request, with whether it changes the file system (refused in a read-only session,
// as OpenSSH's sftp-server -R refuses them; OPEN decides for itself from its flags).
struct RequestSpec {
  uint8_t type;            // for SSH_FXP_EXTENDED entries: 0
  const char* extension;   // extension name, nullptr for plain requests
  const char* version;     // advertised version of the extension
  Session::Handler handler;
  bool writes;
};

struct RequestTable {
  static constexpr RequestSpec kRequests[] = {
      {kFxpOpen, nullptr, nullptr, &Session::Open, false},
      {kFxpClose, nullptr, nullptr, &Session::Close, false},
      {kFxpRead, nullptr, nullptr, &Session::Read, false},
      {kFxpWrite, nullptr, nullptr, &Session::Write, true},
      {kFxpLstat, nullptr, nullptr, &Session::Lstat, false},
      {kFxpFstat, nullptr, nullptr, &Session::Fstat, false},
      {kFxpSetstat, nullptr, nullptr, &Session::Setstat, true},
      {kFxpFsetstat, nullptr, nullptr, &Session::Fsetstat, true},
      {kFxpOpendir, nullptr, nullptr, &Session::Opendir, false},
      {kFxpReaddir, nullptr, nullptr, &Session::Readdir, false},
      {kFxpRemove, nullptr, nullptr, &Session::Remove, true},
      {kFxpMkdir, nullptr, nullptr, &Session::Mkdir, true},
      {kFxpRmdir, nullptr, nullptr, &Session::Rmdir, true},
      {kFxpRealpath, nullptr, nullptr, &Session::Realpath, false},
      {kFxpStat, nullptr, nullptr, &Session::Stat, false},
      {kFxpRename, nullptr, nullptr, &Session::Rename, true},
      {kFxpReadlink, nullptr, nullptr, &Session::Readlink, false},
      {kFxpSymlink, nullptr, nullptr, &Session::Symlink, true},
  };
  // In the order OpenSSH advertises them in SSH_FXP_VERSION (PROTOCOL section 4).
  static constexpr RequestSpec kExtensions[] = {
      {0, "posix-rename@openssh.com", "1", &Session::PosixRename, true},
      {0, "statvfs@openssh.com", "2", &Session::Statvfs, false},
      {0, "fstatvfs@openssh.com", "2", &Session::Fstatvfs, false},
      {0, "hardlink@openssh.com", "1", &Session::Hardlink, true},
      {0, "fsync@openssh.com", "1", &Session::Fsync, true},
      {0, "lsetstat@openssh.com", "1", &Session::Lsetstat, true},
      {0, "limits@openssh.com", "1", &Session::Limits, false},
      {0, "expand-path@openssh.com", "1", &Session::ExpandPath, false},
      {0, "copy-data", "1", &Session::CopyData, true},
      {0, "home-directory", "1", &Session::HomeDirectory, false},
      {0, "users-groups-by-id@openssh.com", "1", &Session::UsersGroupsById, false},
  };
};

namespace {

constexpr char kReadOnlyMessage[] = "read-only session";

// Room for every reply but READ data: a NAME of a few entries with paths up to PATH_MAX, a
// VERSION listing the extensions.
constexpr size_t kMinReplySize = 64 * 1024;

// OpenSSH answers READs of up to max-packet - 1024 bytes, leaving room for the header of the
// DATA reply, and its client asks for min(max-read-length, 255 KiB).
uint32_t MaxReadFor(uint32_t max_message) {
  return max_message >= 2048 ? max_message - 1024 : max_message / 2;
}

}  // namespace

Session::Session(const SftpServerOptions& options)
    : options_(options),
      paths_(options.home),
      handles_(options.max_handles),
      max_read_(MaxReadFor(options.max_message)),
      max_reply_(std::max<size_t>(options.max_message, kMinReplySize)) {}

Session::~Session() {
  handles_.ForEachFile([this](const OpenFile& f) { ReportClosed(f); });
}

void Session::Report(FileOp op, const std::string& path, const std::string& target,
                     uint64_t bytes, std::optional<uint32_t> mode) {
  if (options_.observer == nullptr) return;
  options_.observer->OnFileEvent(FileEvent{op, "sftp", path, target, bytes, mode});
}

void Session::ReportSetstat(const FileAttrs& attrs, const std::string& path) {
  std::optional<uint32_t> mode;
  if (attrs.flags & kAttrPermissions) mode = attrs.permissions & 07777;
  Report(FileOp::kSetstat, path, "", 0, mode);
}

std::string Session::HandlePath(absl::string_view handle) {
  if (OpenFile* file = handles_.File(handle)) return file->path;
  if (OpenDir* dir = handles_.Dir(handle)) return dir->path;
  return "";
}

void Session::ReportClosed(const OpenFile& file) {
  if (file.writable) Report(FileOp::kWritten, file.path, "", file.bytes_written);
  if (!file.writable || file.bytes_read > 0) Report(FileOp::kRead, file.path, "", file.bytes_read);
}

absl::Status Session::Handle(absl::string_view packet, ReplyWriter* reply) {
  WireReader in(reinterpret_cast<const uint8_t*>(packet.data()), packet.size());
  const uint8_t type = in.U8();
  if (!in.ok()) return absl::InvalidArgumentError("empty SFTP packet");
  if (type == kFxpInit) return HandleInit(in, *reply);
  if (!initialized_) {
    return absl::FailedPreconditionError(
        absl::StrCat("SFTP request of type ", type, " before SSH_FXP_INIT"));
  }
  const uint32_t id = in.U32();
  if (!in.ok()) return absl::InvalidArgumentError("SFTP request without an id");
  if (type == kFxpExtended) return HandleExtended(id, in, *reply);
  for (const RequestSpec& spec : RequestTable::kRequests) {
    if (spec.type != type) continue;
    if (spec.writes && options_.read_only) {
      SendReadOnly(*reply, id);
      return absl::OkStatus();
    }
    absl::Status status = (this->*spec.handler)(id, in, *reply);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed SFTP request of type ", type, ": ", status.message()));
    }
    return absl::OkStatus();
  }
  // Not fatal: the draft says to answer an unknown request with SSH_FX_OP_UNSUPPORTED.
  SendStatus(*reply, id, kFxOpUnsupported);
  return absl::OkStatus();
}

absl::Status Session::HandleInit(WireReader& in, ReplyWriter& out) {
  // INIT opens the session, once (draft-ietf-secsh-filexfer-02 section 4). A second one is a
  // confused or hostile client: the session ends rather than restart its negotiation
  // mid-stream. (OpenSSH 9.2's sftp-server answers it with another VERSION instead; no
  // client sends one.)
  if (initialized_) return absl::FailedPreconditionError("second SSH_FXP_INIT");
  client_version_ = in.U32();
  if (!in.ok()) return absl::InvalidArgumentError("malformed SSH_FXP_INIT");
  initialized_ = true;
  // We speak version 3 whatever the client offers, as OpenSSH does; extensions are listed
  // as (name, version) string pairs (PROTOCOL 4.2), without those a read-only session
  // refuses.
  out.Begin(kFxpVersion);
  out.U32(kProtocolVersion);
  for (const RequestSpec& spec : RequestTable::kExtensions) {
    if (spec.writes && options_.read_only) continue;
    out.String(spec.extension);
    out.String(spec.version);
  }
  out.Finish();
  return absl::OkStatus();
}

absl::Status Session::HandleExtended(uint32_t id, WireReader& in, ReplyWriter& out) {
  const absl::string_view name = in.String();
  if (!in.ok()) return absl::InvalidArgumentError("malformed SSH_FXP_EXTENDED");
  for (const RequestSpec& spec : RequestTable::kExtensions) {
    if (name != spec.extension) continue;
    if (spec.writes && options_.read_only) {
      SendReadOnly(out, id);
      return absl::OkStatus();
    }
    absl::Status status = (this->*spec.handler)(id, in, out);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed ", spec.extension, " request: ", status.message()));
    }
    return absl::OkStatus();
  }
  // An unknown extension MUST get SSH_FX_OP_UNSUPPORTED (draft section 8).
  SendStatus(out, id, kFxOpUnsupported);
  return absl::OkStatus();
}

void Session::SendStatus(ReplyWriter& out, uint32_t id, StatusCode code,
                         absl::string_view message) {
  out.Begin(kFxpStatus);
  out.U32(id);
  out.U32(code);
  // Version 3 added the message and language tag; older clients get the code alone.
  if (client_version_ >= 3) {
    out.String(message.empty() ? absl::string_view(StatusText(code)) : message);
    out.String("");
  }
  out.Finish();
}

void Session::SendStatus(ReplyWriter& out, uint32_t id, const SftpStatus& status) {
  SendStatus(out, id, status.code, status.message);
}

void Session::SendErrno(ReplyWriter& out, uint32_t id, int err) {
  SendStatus(out, id, StatusFromErrno(err));
}

void Session::SendReadOnly(ReplyWriter& out, uint32_t id) {
  SendStatus(out, id, kFxPermissionDenied, kReadOnlyMessage);
}

bool Session::PathArg(absl::string_view raw, ReplyWriter& out, uint32_t id,
                      std::string* path) {
  if (!IsValidPath(raw)) {
    SendStatus(out, id, kFxBadMessage, "Path contains a NUL byte");
    return false;
  }
  *path = paths_.Absolute(raw);
  return true;
}

int Session::HandleFd(absl::string_view handle) {
  if (OpenFile* file = handles_.File(handle)) return file->fd.get();
  if (OpenDir* dir = handles_.Dir(handle)) return dirfd(dir->dir.get());
  return -1;
}

void Session::SendInvalidHandle(ReplyWriter& out, uint32_t id) {
  SendStatus(out, id, kFxFailure, "Invalid handle");
}

void Session::SendHandle(ReplyWriter& out, uint32_t id, absl::string_view handle) {
  out.Begin(kFxpHandle);
  out.U32(id);
  out.String(handle);
  out.Finish();
}

void Session::SendAttrs(ReplyWriter& out, uint32_t id, const struct stat& st) {
  out.Begin(kFxpAttrs);
  out.U32(id);
  WriteAttrs(AttrsFromStat(st), &out);
  out.Finish();
}

void Session::SendName(ReplyWriter& out, uint32_t id, absl::string_view name) {
  out.Begin(kFxpName);
  out.U32(id);
  out.U32(1);
  out.String(name);
  out.String(name);
  WriteAttrs(FileAttrs{}, &out);
  FinishOrFail(out, id);
}

void Session::FinishOrFail(ReplyWriter& out, uint32_t id) {
  if (!out.Finish()) SendStatus(out, id, kFxFailure, "Reply too large");
}

}  // namespace hatch::sftp
