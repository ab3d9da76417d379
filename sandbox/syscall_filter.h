// Seccomp filters for a session's processes. The tables (one line and one reason per system
// call) are compiled with libseccomp once, in the daemon, into BPF that a forked child loads
// with one system call: nothing is allocated or generated per session.
//
// Every filter allows by default and answers the listed calls with an errno (the process
// sees the call fail; nothing is killed). The calls are refused for every ABI the kernel runs
// natively on this machine: on x86-64, 64-bit, i386 and x32 programs alike; a program of any
// other architecture is killed (the kernel could only run one through binfmt_misc emulation,
// which would make its own system calls natively anyway).
#ifndef HATCH_SANDBOX_SYSCALL_FILTER_H_
#define HATCH_SANDBOX_SYSCALL_FILTER_H_

#include <linux/filter.h>

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace hatch::sandbox {

// One refused system call.
struct FilterRule {
  const char* name;        // as libseccomp and the kernel's syscall tables spell it
  const char* reason;      // why no debugging session needs it (documentation only)
  int unified_number = 0;  // for calls newer than Debian 12's libseccomp knows: the number
                           // every architecture shares (Linux numbers new calls alike on all
                           // of them since 5.1, 424 up); 0: libseccomp knows the name
  unsigned long ioctl_request = 0;  // for "ioctl": refuse only this request (0: unused)
};

// The baseline table, refused with EPERM in every session.
absl::Span<const FilterRule> BaselineRules();
// Metadata changes Landlock does not cover, refused with EROFS in read-only sessions.
absl::Span<const FilterRule> ReadOnlyMetadataRules();

// A compiled filter: one or two BPF programs (libseccomp's, and a small one for calls it
// does not know yet), loaded together by Load().
class SyscallFilter {
 public:
  // Compiles the baseline table (if `baseline`) and the metadata table (if `read_only`).
  static absl::StatusOr<SyscallFilter> Build(bool baseline, bool read_only);

  // In a forked, single-threaded child that has set PR_SET_NO_NEW_PRIVS: installs the
  // filter for this process and everything it starts. Returns 0 or an errno. Allocates
  // nothing (safe between fork and exec).
  int Load() const;

  size_t instruction_count() const { return main_.size() + supplement_.size(); }
  // The programs, in the order Load() installs them (for tests; either may be empty).
  absl::Span<const sock_filter> main_program() const { return main_; }
  absl::Span<const sock_filter> supplement_program() const { return supplement_; }

 private:
  std::vector<sock_filter> main_;        // libseccomp's program
  std::vector<sock_filter> supplement_;  // calls libseccomp cannot name (may be empty)
};

}  // namespace hatch::sandbox

#endif  // HATCH_SANDBOX_SYSCALL_FILTER_H_
