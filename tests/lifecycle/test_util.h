// Helpers for lifecycle tests: temporary directories, files, and running a real program with
// a chosen argv, environment and working directory, collecting its output and exit status.
#ifndef HATCH_TESTS_LIFECYCLE_TEST_UTIL_H_
#define HATCH_TESTS_LIFECYCLE_TEST_UTIL_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace hatch::lifecycle::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// Creates parent directories as needed; aborts the test program on failure.
void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0644);
void MakeDirs(const std::string& path);
std::string ReadFileOrDie(const std::string& path);

struct RunResult {
  int exit_code = -1;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with exactly env as its environment, in cwd, stdin from /dev/null.
RunResult Run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
              const std::string& cwd);

// The value of NAME=... in `env`-style output (one entry a line), or "<unset>".
std::string EnvValue(const std::string& env_output, const std::string& name);

}  // namespace hatch::lifecycle::testing

#endif  // HATCH_TESTS_LIFECYCLE_TEST_UTIL_H_
