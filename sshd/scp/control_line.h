// Parsers for the scp protocol's control lines (OpenSSH scp.c sink()): "T<mtime> <usec>
// <atime> <usec>" and "C<mode> <size> <name>" / "D<mode> <size> <name>". They see bytes from
// the peer, so they check everything and never trust a length.
#ifndef HATCH_SSHD_SCP_CONTROL_LINE_H_
#define HATCH_SSHD_SCP_CONTROL_LINE_H_

#include <sys/types.h>
#include <time.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hatch::scp {

struct TimesLine {
  struct timespec mtime = {};
  struct timespec atime = {};
  // False when a time does not fit time_t: the line is valid but its times are ignored.
  bool in_range = true;
};

// Parses a T line (without its '\n'). Errors carry OpenSSH's wording ("mtime.sec not
// present", ...) as the message.
absl::StatusOr<TimesLine> ParseTimesLine(absl::string_view line);

struct EntryLine {
  bool is_directory = false;  // 'D' rather than 'C'
  mode_t mode = 0;            // the four octal digits (07777 at most)
  off_t size = 0;
  std::string name;           // unchecked: see IsSafeEntryName
};

// Parses a C or D line (without its '\n'). Errors carry OpenSSH's wording ("bad mode", ...).
absl::StatusOr<EntryLine> ParseEntryLine(absl::string_view line);

// False for names that would leave the target directory or not name an entry in it: empty,
// ".", "..", or containing '/' (OpenSSH refuses them as "unexpected filename"), or a NUL
// byte (the system calls would see only the part before it, which may be "..").
bool IsSafeEntryName(absl::string_view name);

}  // namespace hatch::scp

#endif  // HATCH_SSHD_SCP_CONTROL_LINE_H_
