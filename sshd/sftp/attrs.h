// File attributes as SFTP v3 carries them (draft-ietf-secsh-filexfer-02 section 5), and the
// `ls -l` style long name that SSH_FXP_NAME entries of a directory listing carry (clients
// such as OpenSSH's `sftp ls -l` print it as is).
#ifndef HATCH_SSHD_SFTP_ATTRS_H_
#define HATCH_SSHD_SFTP_ATTRS_H_

#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <string>

#include "sshd/sftp/account_names.h"
#include "sshd/sftp/wire.h"

namespace hatch::sftp {

struct FileAttrs {
  uint32_t flags = 0;  // kAttr* bits saying which fields below are present
  uint64_t size = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t permissions = 0;  // st_mode, file type bits included
  uint32_t atime = 0;
  uint32_t mtime = 0;
};

// All four groups of fields from a stat(2) result.
FileAttrs AttrsFromStat(const struct stat& st);

// Reads an ATTRS structure; extended (type, data) pairs are skipped. Failure shows in
// reader->ok().
FileAttrs ReadAttrs(WireReader* reader);
void WriteAttrs(const FileAttrs& attrs, ReplyWriter* writer);

// "-rw-r--r--    1 vcap     vcap         1234 Jan 13 18:39 name": the layout of OpenSSH's
// sftp-server, with owner and group names where the account files have them. `now` picks
// between the "Mon dd HH:MM" form (within the last six months) and "Mon dd  YYYY".
std::string LongName(absl::string_view name, const struct stat& st, AccountNames* accounts,
                     time_t now);

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_ATTRS_H_
