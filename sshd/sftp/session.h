// Session: the state of one SFTP session (protocol version, open handles) and the handler
// of every request. It sees whole packets only (the event loop in sftp_server.cc does the
// framing) and answers each with exactly one reply, written into the output queue through a
// ReplyWriter. Requests run to completion in arrival order, so replies keep request order.
#ifndef HATCH_SSHD_SFTP_SESSION_H_
#define HATCH_SSHD_SFTP_SESSION_H_

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "sshd/sftp/account_names.h"
#include "sshd/sftp/attrs.h"
#include "sshd/sftp/handle_table.h"
#include "sshd/sftp/paths.h"
#include "sshd/sftp/protocol.h"
#include "sshd/sftp/read_stage.h"
#include "sshd/sftp/sftp_server.h"
#include "sshd/sftp/status.h"
#include "sshd/sftp/wire.h"

namespace hatch::sftp {

class Session {
 public:
  explicit Session(const SftpServerOptions& options);
  // Reports the files still open to the observer (their handles close with the table).
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The largest reply Handle() writes; the caller gives `reply` at least this much room.
  size_t max_reply() const { return max_reply_; }
  // The largest READ answered in full (limits@openssh.com's max-read-length).
  uint32_t max_read() const { return max_read_; }

  // READ data then goes through `stage` (not owned; nullptr: pread into the reply). After a
  // reply that staged data, the caller moves it to the out fd, after the reply's bytes,
  // before it hands over the next packet.
  void set_read_stage(ReadStage* stage) { stage_ = stage; }

  // Handles one packet: `packet` is the bytes after the length field (type first). Writes
  // one reply with `reply`. A non-OK result is a fatal protocol error (a request before
  // INIT, a second INIT, a malformed request): the session must end.
  absl::Status Handle(absl::string_view packet, ReplyWriter* reply);

  // One request handler: parses its fields from `in` (positioned after the request id, or
  // after the name of an extended request) and writes its reply.
  using Handler = absl::Status (Session::*)(uint32_t id, WireReader& in, ReplyWriter& out);

 private:
  // --- replies (session.cc)
  void SendStatus(ReplyWriter& out, uint32_t id, StatusCode code, absl::string_view message = {});
  void SendStatus(ReplyWriter& out, uint32_t id, const SftpStatus& status);
  void SendErrno(ReplyWriter& out, uint32_t id, int err);
  void SendHandle(ReplyWriter& out, uint32_t id, absl::string_view handle);
  void SendAttrs(ReplyWriter& out, uint32_t id, const struct stat& st);
  // A NAME reply with one entry whose long name is the name and with no attributes, as for
  // REALPATH and READLINK.
  void SendName(ReplyWriter& out, uint32_t id, absl::string_view name);
  void SendInvalidHandle(ReplyWriter& out, uint32_t id);
  // Sends the reply built in `out`, or, if it did not fit, a FAILURE status instead.
  void FinishOrFail(ReplyWriter& out, uint32_t id);

  absl::Status HandleInit(WireReader& in, ReplyWriter& out);
  absl::Status HandleExtended(uint32_t id, WireReader& in, ReplyWriter& out);

  // --- handles and data (file_requests.cc)
  absl::Status Open(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Close(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Read(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Write(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Fstat(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Fsetstat(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Opendir(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Readdir(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Fstatvfs(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Fsync(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status CopyData(uint32_t id, WireReader& in, ReplyWriter& out);

  // --- names (path_requests.cc)
  absl::Status Stat(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Lstat(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Setstat(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Lsetstat(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Remove(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Mkdir(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Rmdir(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Realpath(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Rename(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status PosixRename(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Readlink(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Symlink(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Hardlink(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status Statvfs(uint32_t id, WireReader& in, ReplyWriter& out);

  // --- session-wide queries (info_requests.cc)
  absl::Status Limits(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status ExpandPath(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status HomeDirectory(uint32_t id, WireReader& in, ReplyWriter& out);
  absl::Status UsersGroupsById(uint32_t id, WireReader& in, ReplyWriter& out);

  void SendStatvfs(ReplyWriter& out, uint32_t id, const struct statvfs& st);

  // The absolute path for a path from the wire; a path with a NUL inside gets
  // SSH_FX_BAD_MESSAGE as the reply, and false.
  bool PathArg(absl::string_view raw, ReplyWriter& out, uint32_t id, std::string* path);
  // The fd behind a file or directory handle, or -1.
  int HandleFd(absl::string_view handle);
  // A truncated request: fatal, as in OpenSSH.
  static absl::Status Truncated() { return absl::InvalidArgumentError("truncated request"); }
  // Tells options_.observer (if any) about a file event.
  void Report(FileOp op, const std::string& path, const std::string& target = "",
              uint64_t bytes = 0, std::optional<uint32_t> mode = std::nullopt);
  // Reports a successful SETSTAT-type request on `path`.
  void ReportSetstat(const FileAttrs& attrs, const std::string& path);
  // The path a file or directory handle was opened with ("" for none).
  std::string HandlePath(absl::string_view handle);
  // Reports a file's transfers when its handle is closed.
  void ReportClosed(const OpenFile& file);
  // The reply to a write-type request in a read-only session.
  void SendReadOnly(ReplyWriter& out, uint32_t id);

  friend struct RequestTable;

  SftpServerOptions options_;
  PathResolver paths_;
  HandleTable handles_;
  AccountNames accounts_;
  uint32_t max_read_;
  size_t max_reply_;
  bool initialized_ = false;
  uint32_t client_version_ = kProtocolVersion;
  ReadStage* stage_ = nullptr;
  std::vector<uint8_t> copy_buffer_;  // copy-data's fallback buffer, allocated on first use
};

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_SESSION_H_
