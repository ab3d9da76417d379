// The confinement of fuzz targets that drive a file-serving loop (SFTP, scp sink) with
// fuzzed requests: whatever paths the input names, file-system changes stay inside one fresh
// scratch directory.
//
// Each input runs in a new thread restricted with Landlock (landlock_restrict_self confines
// the calling thread only, so libFuzzer's own thread keeps writing its corpus): it may do
// anything inside root(); outside it only read and execute /usr, /lib*, /etc and /proc (NSS,
// the sanitizers' symbolizer) and write files in the artifact directory (a crash report is
// written by the thread that crashed). Absolute paths, "..", symlinks and hard links to
// anything else fail with EACCES/EXDEV in the kernel. Without Landlock the target refuses to
// run: it exits with kNoLandlockExit (scripts/fuzz reports the target as skipped).
#ifndef HATCH_FUZZ_SANDBOX_H_
#define HATCH_FUZZ_SANDBOX_H_

#include <functional>
#include <string>

namespace hatch::fuzz {

// Not 77, 70 or 71: libFuzzer's exit codes for a crash, a timeout and an out-of-memory input.
constexpr int kNoLandlockExit = 69;

class FuzzSandbox {
 public:
  // Call once from LLVMFuzzerInitialize with its argc/argv (for -artifact_prefix=). Creates
  // the scratch dir under $TMPDIR (or /tmp), removed at exit, and caps the size of any file
  // the process writes (RLIMIT_FSIZE, 16 MiB), so no input fills the disk.
  static FuzzSandbox& Init(int argc, char** argv, const char* target);

  FuzzSandbox(const FuzzSandbox&) = delete;
  FuzzSandbox& operator=(const FuzzSandbox&) = delete;

  // The scratch dir: absolute, empty at the start of each Run.
  const std::string& root() const { return root_; }

  // Runs fn in a confined thread and waits for it; then empties root() (in that thread, so
  // the clean-up cannot be tricked into leaving root() either). SIGXFSZ is ignored while fn
  // runs (writes past the size cap fail with EFBIG), and the working directory is restored
  // after it (fn may chdir; it cannot open "." outside root() to come back).
  void Run(const std::function<void()>& fn);

 private:
  FuzzSandbox(std::string root, int ruleset_fd) : root_(std::move(root)), ruleset_fd_(ruleset_fd) {}

  std::string root_;
  int ruleset_fd_;
};

}  // namespace hatch::fuzz

#endif  // HATCH_FUZZ_SANDBOX_H_
