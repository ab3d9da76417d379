#include "sandbox/syscall_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/fs.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace hatch::sandbox {
namespace {

// i386 programs' FS_IOC_SETFLAGS (the kernel's FS_IOC32_SETFLAGS: an int, not a long).
constexpr unsigned long kFsIoc32SetFlags = _IOW('f', 2, int);

// Calls no debugging session needs: each changes the machine or the kernel rather than the
// app, or is a favourite tool of kernel exploits. Most need a capability the app's user does
// not have; the filter makes that hold whatever the container's capabilities and the
// kernel's unprivileged defaults are. EPERM, as for a missing capability.
constexpr FilterRule kBaseline[] = {
    {"kexec_load",        "loads another kernel to boot into"},
    {"kexec_file_load",   "loads another kernel to boot into, from a file"},
    {"init_module",       "loads kernel code"},
    {"finit_module",      "loads kernel code, from a file"},
    {"delete_module",     "unloads kernel code"},
    {"reboot",            "reboots or halts the machine"},
    {"swapon",            "changes the machine's swap"},
    {"swapoff",           "changes the machine's swap"},
    {"mount",             "changes the mount table"},
    {"umount",            "changes the mount table (i386)"},
    {"umount2",           "changes the mount table"},
    {"pivot_root",        "changes the root filesystem"},
    {"fsopen",            "mount API: starts a new filesystem context"},
    {"fsconfig",          "mount API: configures a filesystem context"},
    {"fsmount",           "mount API: makes a mount of a filesystem context"},
    {"fspick",            "mount API: reconfigures a mounted filesystem"},
    {"move_mount",        "mount API: attaches a mount"},
    {"open_tree",         "mount API: clones a mount tree"},
    {"open_tree_attr",    "mount API: clones a mount tree with new attributes", 467},
    {"mount_setattr",     "mount API: changes mount attributes (read-only, idmapping)"},
    {"acct",              "turns process accounting to a file on or off"},
    {"clock_settime",     "sets the machine's clock"},
    {"clock_settime64",   "sets the machine's clock (i386)"},
    {"clock_adjtime",     "adjusts the machine's clock"},
    {"clock_adjtime64",   "adjusts the machine's clock (i386)"},
    {"settimeofday",      "sets the machine's clock"},
    {"adjtimex",          "adjusts the machine's clock"},
    {"stime",             "sets the machine's clock (i386)"},
    {"iopl",              "raw access to every I/O port"},
    {"ioperm",            "raw access to I/O ports"},
    {"open_by_handle_at", "opens files by handle, past directory permissions (container escapes)"},
    {"userfaultfd",       "page faults handled in user space: stalls the kernel in exploits"},
    {"bpf",               "loads programs into the kernel"},
    {"add_key",           "kernel keyring: not per container, shared by the user id"},
    {"request_key",       "kernel keyring: not per container, shared by the user id"},
    {"keyctl",            "kernel keyring: not per container, shared by the user id"},
};

// Metadata changes Landlock does not control (it sees creating, writing, truncating,
// removing and renaming, not a file's mode, owner, times or attributes). EROFS: the user
// reads "Read-only file system", which is what the session announced.
constexpr FilterRule kReadOnlyMetadata[] = {
    {"chmod",             "mode"},
    {"fchmod",            "mode"},
    {"fchmodat",          "mode"},
    {"fchmodat2",         "mode"},
    {"chown",             "owner"},
    {"fchown",            "owner"},
    {"lchown",            "owner"},
    {"fchownat",          "owner"},
    {"chown32",           "owner (i386)"},
    {"fchown32",          "owner (i386)"},
    {"lchown32",          "owner (i386)"},
    {"utime",             "times"},
    {"utimes",            "times"},
    {"futimesat",         "times"},
    {"utimensat",         "times (also futimens)"},
    {"utimensat_time64",  "times (i386)"},
    {"setxattr",          "extended attributes (also ACLs, file capabilities)"},
    {"lsetxattr",         "extended attributes"},
    {"fsetxattr",         "extended attributes"},
    {"setxattrat",        "extended attributes", 463},
    {"removexattr",       "extended attributes"},
    {"lremovexattr",      "extended attributes"},
    {"fremovexattr",      "extended attributes"},
    {"removexattrat",     "extended attributes", 466},
    {"file_setattr",      "inode flags and project (fsxattr)", 469},
    {"ioctl",             "FS_IOC_SETFLAGS: inode flags (chattr)", 0, FS_IOC_SETFLAGS},
    {"ioctl",             "FS_IOC_SETFLAGS of i386 programs (chattr)", 0, kFsIoc32SetFlags},
    {"ioctl",             "FS_IOC_FSSETXATTR: inode flags and project (xfs_io chattr)", 0,
                          FS_IOC_FSSETXATTR},
};

struct SeccompCtxFree {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using SeccompCtx = std::unique_ptr<void, SeccompCtxFree>;

// The ABIs the kernel runs natively next to libseccomp's native one, which is always there.
constexpr uint32_t kCompatArches[] = {
#if defined(__x86_64__)
    SCMP_ARCH_X86, SCMP_ARCH_X32,
#elif defined(__aarch64__)
    SCMP_ARCH_ARM,
#endif
};

struct Refusal {
  int number;
  int error;
};

absl::Status AddRules(scmp_filter_ctx ctx, absl::Span<const FilterRule> rules, int error,
                      std::vector<Refusal>* unnamed) {
  for (const FilterRule& rule : rules) {
    const int number = seccomp_syscall_resolve_name(rule.name);
    if (number == __NR_SCMP_ERROR) {
      if (rule.unified_number == 0) {
        return absl::InternalError(absl::StrCat("libseccomp does not know ", rule.name));
      }
      unnamed->push_back({rule.unified_number, error});
      continue;
    }
    int rc;
    if (rule.ioctl_request != 0) {
      // The kernel takes the request as an unsigned int: compare the low 32 bits only, so
      // garbage in the high half of the register cannot slip past.
      rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(error), number, 1,
                            SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, rule.ioctl_request));
    } else {
      rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(error), number, 0);
    }
    if (rc != 0) {
      return absl::InternalError(absl::StrCat("seccomp rule for ", rule.name, ": ", strerror(-rc)));
    }
  }
  return absl::OkStatus();
}

// libseccomp's BPF, through a memfd (libseccomp 2.5 exports only to an fd).
absl::StatusOr<std::vector<sock_filter>> Export(scmp_filter_ctx ctx) {
  const int fd = memfd_create("hatch-seccomp", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("memfd_create: ", strerror(errno)));
  std::vector<sock_filter> program;
  const int rc = seccomp_export_bpf(ctx, fd);
  const off_t size = lseek(fd, 0, SEEK_END);
  if (rc == 0 && size > 0 && size % sizeof(sock_filter) == 0) {
    program.resize(size / sizeof(sock_filter));
    if (pread(fd, program.data(), size, 0) != size) program.clear();
  }
  close(fd);
  if (program.empty()) return absl::InternalError("cannot export the seccomp filter");
  return program;
}

// For calls libseccomp cannot name: on every architecture of the filter, the number (less
// x32's flag bit) against the list. Unknown architectures were already killed by the main
// program.
std::vector<sock_filter> SupplementFor(const std::vector<uint32_t>& arches,
                                       const std::vector<Refusal>& refusals) {
  std::vector<sock_filter> p;
  if (refusals.empty()) return p;
  constexpr uint32_t kX32Bit = 0x40000000;
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  // One jump per architecture to the check, else to "allow" at the end.
  const size_t n_arch = arches.size();
  const size_t n_checks = 2 + 2 * refusals.size();  // load, mask, then a jump and a return each
  for (size_t i = 0; i < n_arch; ++i) {
    const uint8_t to_check = static_cast<uint8_t>(n_arch - 1 - i);
    const uint8_t to_allow = static_cast<uint8_t>(n_arch - 1 - i + n_checks);
    const uint8_t otherwise = i + 1 == n_arch ? to_allow : 0;  // the next arch, or allow
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arches[i], to_check, otherwise));
  }
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  p.push_back(BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~kX32Bit));
  for (const Refusal& r : refusals) {
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(r.number), 0, 1));
    p.push_back(BPF_STMT(BPF_RET | BPF_K,
                         SECCOMP_RET_ERRNO | (static_cast<uint32_t>(r.error) & SECCOMP_RET_DATA)));
  }
  p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return p;
}

int LoadProgram(const std::vector<sock_filter>& program) {
  if (program.empty()) return 0;
  sock_fprog prog{static_cast<unsigned short>(program.size()),
                  const_cast<sock_filter*>(program.data())};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return errno;
  return 0;
}

}  // namespace

absl::Span<const FilterRule> BaselineRules() { return kBaseline; }
absl::Span<const FilterRule> ReadOnlyMetadataRules() { return kReadOnlyMetadata; }

absl::StatusOr<SyscallFilter> SyscallFilter::Build(bool baseline, bool read_only) {
  SyscallFilter filter;
  if (!baseline && !read_only) return filter;
  SeccompCtx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");
  std::vector<uint32_t> arches = {seccomp_arch_native()};
  for (uint32_t arch : kCompatArches) {
    if (int rc = seccomp_arch_add(ctx.get(), arch); rc != 0 && rc != -EEXIST) {
      return absl::InternalError(absl::StrCat("seccomp_arch_add: ", strerror(-rc)));
    }
    // x32 shares x86-64's AUDIT_ARCH value (its calls carry a flag bit instead).
    if (arch != SCMP_ARCH_X32) arches.push_back(arch);
  }
  // A program of an architecture the filter does not describe is killed, not let through.
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  std::vector<Refusal> unnamed;
  if (baseline) {
    if (absl::Status s = AddRules(ctx.get(), kBaseline, EPERM, &unnamed); !s.ok()) return s;
  }
  if (read_only) {
    if (absl::Status s = AddRules(ctx.get(), kReadOnlyMetadata, EROFS, &unnamed); !s.ok()) return s;
  }
  absl::StatusOr<std::vector<sock_filter>> program = Export(ctx.get());
  if (!program.ok()) return program.status();
  filter.main_ = std::move(*program);
  filter.supplement_ = SupplementFor(arches, unnamed);
  return filter;
}

int SyscallFilter::Load() const {
  if (int err = LoadProgram(main_); err != 0) return err;
  return LoadProgram(supplement_);
}

}  // namespace hatch::sandbox
