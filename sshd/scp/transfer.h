// What both directions of an scp transfer share: the flags from the command line, and where
// file events go.
#ifndef HATCH_SSHD_SCP_TRANSFER_H_
#define HATCH_SSHD_SCP_TRANSFER_H_

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "sshd/file_observer.h"

namespace hatch::scp {

struct TransferFlags {
  bool recursive = false;           // -r
  bool preserve = false;            // -p: times (T lines) and exact modes
  bool target_must_be_dir = false;  // -d
  bool verbose = false;             // -v
  FileObserver* observer = nullptr;  // audit events (ScpOptions::observer)
};

// Tells flags.observer (if any) about `path`, made absolute from the working directory
// (the transfer runs in the session's home) and without "." or ".." parts.
inline void ReportFile(const TransferFlags& flags, FileOp op, const std::string& path,
                       uint64_t bytes = 0, std::optional<uint32_t> mode = std::nullopt) {
  if (flags.observer == nullptr) return;
  std::string absolute = path;
  if (path.empty() || path[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) != nullptr) {
      absolute = std::string(cwd) + (std::string(cwd) == "/" ? "" : "/") + path;
    }
  }
  absolute = std::filesystem::path(absolute).lexically_normal().string();  // "./a" -> "a"
  flags.observer->OnFileEvent(FileEvent{op, "scp", absolute, "", bytes, mode});
}

}  // namespace hatch::scp

#endif  // HATCH_SSHD_SCP_TRANSFER_H_
