#include "fuzz/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace hatch::fuzz {
namespace {

// The file-system rights each Landlock ABI version can restrict (linux/landlock.h).
constexpr uint64_t kAbi1Rights = (1ULL << 13) - 1;  // EXECUTE .. MAKE_SYM
constexpr uint64_t kRefer = 1ULL << 13;             // ABI 2
constexpr uint64_t kTruncate = 1ULL << 14;          // ABI 3
constexpr uint64_t kIoctlDev = 1ULL << 15;          // ABI 5

constexpr uint64_t kReadExec =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
constexpr uint64_t kWriteFiles = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
                                 LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG;

constexpr rlim_t kMaxFileSize = 16 << 20;

[[noreturn]] void Die(const char* target, const char* what) {
  std::fprintf(stderr, "%s: %s: %s\n", target, what, std::strerror(errno));
  std::_Exit(1);
}

uint64_t HandledRights(int abi) {
  uint64_t rights = kAbi1Rights;
  if (abi >= 2) rights |= kRefer;
  if (abi >= 3) rights |= kTruncate;
  if (abi >= 5) rights |= kIoctlDev;
  return rights;
}

// Allows `rights` (less what the ruleset does not handle) beneath `path`; a missing path
// (/lib64 on some systems) is skipped.
void AllowBeneath(int ruleset_fd, const char* path, uint64_t rights, uint64_t handled,
                  const char* target) {
  const int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return;
    Die(target, path);
  }
  struct landlock_path_beneath_attr rule = {};
  rule.allowed_access = rights & handled;
  rule.parent_fd = fd;
  if (syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
    Die(target, path);
  }
  close(fd);
}

// The directory libFuzzer writes crash-*, timeout-* and oom-* files to.
std::string ArtifactDir(int argc, char** argv) {
  std::string prefix;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "-artifact_prefix=", 17) == 0) prefix = argv[i] + 17;
  }
  const size_t slash = prefix.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : prefix.substr(0, slash);
}

// Removes everything in the directory dir_fd (not the directory itself), without following
// symbolic links; directories whose mode keeps their owner out are opened up first.
void EmptyDir(int dir_fd) {
  fchmod(dir_fd, 0700);
  DIR* dir = fdopendir(dup(dir_fd));
  if (dir == nullptr) return;
  while (struct dirent* entry = readdir(dir)) {
    const char* name = entry->d_name;
    if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        fchmodat(dir_fd, name, 0700, 0);
        sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
      if (sub >= 0) {
        EmptyDir(sub);
        close(sub);
      }
      unlinkat(dir_fd, name, AT_REMOVEDIR);
    } else {
      unlinkat(dir_fd, name, 0);
    }
  }
  closedir(dir);
}

std::string* g_root_to_remove = nullptr;

void RemoveRoot() {
  if (g_root_to_remove != nullptr) rmdir(g_root_to_remove->c_str());
}

}  // namespace

FuzzSandbox& FuzzSandbox::Init(int argc, char** argv, const char* target) {
  const int abi = static_cast<int>(
      syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION));
  if (abi < 1) {
    std::fprintf(stderr,
                 "%s: Landlock is not available (%s): refusing to let fuzzed requests near "
                 "the file system\n",
                 target, std::strerror(errno));
    std::_Exit(kNoLandlockExit);
  }

  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp") +
                        "/hatch-fuzz-" + target + ".XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) Die(target, pattern.c_str());
  char* real = realpath(pattern.c_str(), nullptr);
  if (real == nullptr) Die(target, pattern.c_str());
  std::string root(real);
  std::free(real);
  g_root_to_remove = new std::string(root);
  std::atexit(RemoveRoot);

  const uint64_t handled = HandledRights(abi);
  struct landlock_ruleset_attr attr = {};
  attr.handled_access_fs = handled;
  const int ruleset_fd =
      static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0));
  if (ruleset_fd < 0) Die(target, "landlock_create_ruleset");
  AllowBeneath(ruleset_fd, root.c_str(), handled, handled, target);
  for (const char* dir : {"/usr", "/lib", "/lib64", "/etc", "/proc"}) {
    AllowBeneath(ruleset_fd, dir, kReadExec, handled, target);
  }
  const std::string artifacts = ArtifactDir(argc, argv);
  AllowBeneath(ruleset_fd, artifacts.c_str(), kWriteFiles | kTruncate, handled, target);

  // Required for landlock_restrict_self without CAP_SYS_ADMIN; inherited by the threads.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Die(target, "PR_SET_NO_NEW_PRIVS");
  struct rlimit fsize = {kMaxFileSize, kMaxFileSize};
  if (setrlimit(RLIMIT_FSIZE, &fsize) != 0) Die(target, "RLIMIT_FSIZE");

  static FuzzSandbox* sandbox = new FuzzSandbox(std::move(root), ruleset_fd);
  return *sandbox;
}

void FuzzSandbox::Run(const std::function<void()>& fn) {
  // Code that saves the working directory with open(".") cannot, once confined (scp's
  // ScopedWorkingDirectory); an O_PATH fd taken here brings libFuzzer's back.
  const int cwd_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cwd_fd < 0) Die("sandbox", "open(\".\")");
  std::thread worker([&] {
    if (syscall(SYS_landlock_restrict_self, ruleset_fd_, 0) != 0) {
      Die("sandbox", "landlock_restrict_self");
    }
    // libFuzzer's SIGXFSZ handler ends the run; a write past RLIMIT_FSIZE is an EFBIG
    // failure the code under test reports, not a crash.
    signal(SIGXFSZ, SIG_IGN);
    fn();
    if (fchdir(cwd_fd) != 0) Die("sandbox", "fchdir");
    const int root_fd = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root_fd < 0) Die("sandbox", root_.c_str());
    EmptyDir(root_fd);
    close(root_fd);
  });
  worker.join();
  close(cwd_fd);
}

}  // namespace hatch::fuzz
