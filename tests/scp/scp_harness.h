// Test harness: runs RunScp on pipes with hand-written peer bytes, in a fresh directory.
#ifndef HATCH_TESTS_SCP_SCP_HARNESS_H_
#define HATCH_TESTS_SCP_SCP_HARNESS_H_

#include <sys/stat.h>

#include <string>
#include <vector>

#include "sshd/scp/scp.h"

namespace hatch::scp::testing {

struct ScpRun {
  int status = -1;
  std::string output;  // what RunScp wrote to the peer
  std::string errors;  // what it wrote to err_fd
};

// Runs RunScp(args) with `input` as everything the peer sends (then end of stream). Feeding
// and draining happen on threads, so inputs and outputs of any size work.
ScpRun RunScpWithInput(const std::vector<std::string>& args, const std::string& input,
                       const ScpOptions& options);

// A temporary directory, removed (whatever its modes) when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0644);
std::string ReadFile(const std::string& path);
bool Exists(const std::string& path);
mode_t ModeOf(const std::string& path);  // permission and set-id bits only

// Sets the process umask for its lifetime.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask);
  ~ScopedUmask();
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t saved_;
};

}  // namespace hatch::scp::testing

#endif  // HATCH_TESTS_SCP_SCP_HARNESS_H_
