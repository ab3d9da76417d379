// The compiled filter, run in a small classic-BPF interpreter for system calls this machine's
// kernel may not be able to make (i386 and x32 programs need IA32 emulation and the x32 ABI,
// which kernels often leave off): a 32-bit program meets the same table.
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include <cstdint>
#include <cstring>

#include "gtest/gtest.h"
#include "sandbox/syscall_filter.h"

namespace hatch::sandbox {
namespace {

// Runs a seccomp program the way the kernel does (classic BPF over struct seccomp_data).
uint32_t RunProgram(absl::Span<const sock_filter> prog, const seccomp_data& data) {
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
  const auto* bytes = reinterpret_cast<const uint8_t*>(&data);
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& i = prog[pc];
    const uint32_t src = BPF_SRC(i.code) == BPF_X ? x : i.k;
    switch (BPF_CLASS(i.code)) {
      case BPF_LD:
        if (BPF_MODE(i.code) == BPF_ABS) {
          std::memcpy(&a, bytes + i.k, 4);
        } else if (BPF_MODE(i.code) == BPF_MEM) {
          a = mem[i.k];
        } else {
          a = i.k;
        }
        break;
      case BPF_LDX:
        x = BPF_MODE(i.code) == BPF_MEM ? mem[i.k] : i.k;
        break;
      case BPF_ST: mem[i.k] = a; break;
      case BPF_STX: mem[i.k] = x; break;
      case BPF_ALU:
        switch (BPF_OP(i.code)) {
          case BPF_AND: a &= src; break;
          case BPF_OR: a |= src; break;
          case BPF_ADD: a += src; break;
          case BPF_SUB: a -= src; break;
          case BPF_RSH: a >>= src; break;
          case BPF_LSH: a <<= src; break;
          default: ADD_FAILURE() << "ALU op " << i.code; return 0;
        }
        break;
      case BPF_JMP: {
        if (BPF_OP(i.code) == BPF_JA) {
          pc += i.k;
          break;
        }
        bool taken = false;
        switch (BPF_OP(i.code)) {
          case BPF_JEQ: taken = a == src; break;
          case BPF_JGT: taken = a > src; break;
          case BPF_JGE: taken = a >= src; break;
          case BPF_JSET: taken = (a & src) != 0; break;
          default: ADD_FAILURE() << "JMP op " << i.code; return 0;
        }
        pc += taken ? i.jt : i.jf;
        break;
      }
      case BPF_RET: return BPF_RVAL(i.code) == BPF_A ? a : i.k;
      case BPF_MISC:
        if (BPF_MISCOP(i.code) == BPF_TAX) {
          x = a;
        } else {
          a = x;
        }
        break;
    }
  }
  ADD_FAILURE() << "program ran off its end";
  return 0;
}

// What the kernel decides: every program runs, the most restrictive action wins.
uint32_t Decide(const SyscallFilter& filter, uint32_t arch, int nr, uint64_t arg1 = 0) {
  seccomp_data data{};
  data.nr = nr;
  data.arch = arch;
  data.args[1] = arg1;
  uint32_t result = SECCOMP_RET_ALLOW;
  for (absl::Span<const sock_filter> p : {filter.main_program(), filter.supplement_program()}) {
    if (p.empty()) continue;
    const uint32_t r = RunProgram(p, data);
    if (static_cast<int32_t>(r & SECCOMP_RET_ACTION_FULL) <
        static_cast<int32_t>(result & SECCOMP_RET_ACTION_FULL)) {
      result = r;
    }
  }
  return result;
}

constexpr uint32_t Errno(int e) { return SECCOMP_RET_ERRNO | static_cast<uint32_t>(e); }

int Nr(uint32_t arch, const char* name) {
  const int nr = seccomp_syscall_resolve_name_arch(arch, name);
  EXPECT_GE(nr, 0) << name;
  return nr;
}

// A table row's number for one ABI: libseccomp's, else the unified number (with x32's bit);
// negative when the call does not exist there (stime on x86-64).
int NumberOn(uint32_t arch, const FilterRule& rule) {
  const int nr = seccomp_syscall_resolve_name_arch(arch, rule.name);
  if (nr != __NR_SCMP_ERROR) return nr;
  return rule.unified_number | (arch == SCMP_ARCH_X32 ? 0x40000000 : 0);
}

class CompiledFilter : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<SyscallFilter> f = SyscallFilter::Build(true, true);
    ASSERT_TRUE(f.ok()) << f.status();
    filter_ = std::move(*f);
  }
  SyscallFilter filter_;
};

#if defined(__x86_64__)
constexpr uint32_t kX86Abis[] = {SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32};

TEST_F(CompiledFilter, EveryAbiOfX8664MeetsTheBaseline) {
  for (const FilterRule& rule : BaselineRules()) {
    for (uint32_t arch : kX86Abis) {
      const int nr = NumberOn(arch, rule);
      if (nr < 0) continue;
      const uint32_t audit_arch = arch == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : arch;
      EXPECT_EQ(Decide(filter_, audit_arch, nr), Errno(EPERM)) << rule.name << " arch " << arch;
    }
  }
}

TEST_F(CompiledFilter, EveryAbiOfX8664MeetsTheMetadataTable) {
  for (const FilterRule& rule : ReadOnlyMetadataRules()) {
    for (uint32_t arch : kX86Abis) {
      const int nr = NumberOn(arch, rule);
      if (nr < 0) continue;
      const uint32_t audit_arch = arch == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : arch;
      EXPECT_EQ(Decide(filter_, audit_arch, nr, rule.ioctl_request), Errno(EROFS))
          << rule.name << " arch " << arch;
    }
  }
}

TEST_F(CompiledFilter, OtherCallsAndOtherIoctlsAreAllowedOnEveryAbi) {
  EXPECT_EQ(Decide(filter_, AUDIT_ARCH_X86_64, Nr(SCMP_ARCH_X86_64, "openat")), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Decide(filter_, AUDIT_ARCH_I386, Nr(SCMP_ARCH_X86, "openat")), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Decide(filter_, AUDIT_ARCH_X86_64, Nr(SCMP_ARCH_X32, "openat")), SECCOMP_RET_ALLOW);
  // TCGETS on a terminal; and FS_IOC_SETFLAGS with garbage in the high half still refused.
  EXPECT_EQ(Decide(filter_, AUDIT_ARCH_X86_64, Nr(SCMP_ARCH_X86_64, "ioctl"), 0x5401),
            SECCOMP_RET_ALLOW);
  EXPECT_EQ(Decide(filter_, AUDIT_ARCH_X86_64, Nr(SCMP_ARCH_X86_64, "ioctl"),
                   0xdead000000000000ULL | 0x40086602),
            Errno(EROFS));
}

TEST_F(CompiledFilter, ProgramsOfAnotherArchitectureAreKilled) {
  EXPECT_EQ(Decide(filter_, AUDIT_ARCH_AARCH64, 0) & SECCOMP_RET_ACTION_FULL,
            SECCOMP_RET_KILL_PROCESS);
}
#endif

}  // namespace
}  // namespace hatch::sandbox
