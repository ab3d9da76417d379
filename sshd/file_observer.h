// FileObserver: what the built-in file transfer servers (sftp/, scp/) report for the audit
// trail. Header only, so those modules depend on no audit code: the daemon passes an
// implementation in their options; nullptr (the default) reports nothing.
//
// One event per file: data transfers are summed per open file and reported when it is
// closed (also when the session ends with the file still open); namespace changes are
// reported when they succeed. Paths are absolute, as the server resolved them. Nothing
// here carries file contents.
#ifndef HATCH_SSHD_FILE_OBSERVER_H_
#define HATCH_SSHD_FILE_OBSERVER_H_

#include <cstdint>
#include <optional>
#include <string>

namespace hatch {

enum class FileOp {
  kRead, kWritten, kCreated, kRemoved, kRenamed, kMkdir, kRmdir, kSetstat, kSymlink, kLink
};

struct FileEvent {
  FileOp op = FileOp::kRead;
  std::string protocol;   // "sftp" or "scp"
  std::string path;
  std::string target;     // renamed: the new path; symlink/link: the link's target
  uint64_t bytes = 0;     // read / written
  std::optional<uint32_t> mode;  // setstat/chmod: the permissions set
};

class FileObserver {
 public:
  virtual ~FileObserver() = default;
  virtual void OnFileEvent(const FileEvent& event) = 0;
};

}  // namespace hatch

#endif  // HATCH_SSHD_FILE_OBSERVER_H_
