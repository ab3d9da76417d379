// HandleTable: the open files and directories of one SFTP session, at most `max_handles`
// of them. The table owns every fd and DIR stream it holds and closes them when an entry is
// closed or the table is destroyed, so a session that ends (even mid-transfer) leaks none.
//
// A handle string is 8 bytes: the slot index and the slot's generation, so a stale handle
// of a closed entry never reaches a later entry that reuses the slot.
#ifndef HATCH_SSHD_SFTP_HANDLE_TABLE_H_
#define HATCH_SSHD_SFTP_HANDLE_TABLE_H_

#include <dirent.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "base/unique_fd.h"

namespace hatch::sftp {

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};
using DirStream = std::unique_ptr<DIR, DirCloser>;

struct OpenFile {
  UniqueFd fd;
  std::string path;     // absolute, as opened
  bool append = false;  // opened with SSH_FXF_APPEND: writes go to the end
  bool writable = false;       // opened for writing (reported as "written" at close)
  bool no_splice = false;      // READs use pread: splice(2) refused this file (ReadStage)
  uint64_t bytes_read = 0;     // summed for the audit trail's one event per file
  uint64_t bytes_written = 0;
};

struct OpenDir {
  DirStream dir;
  std::string path;  // absolute, as opened
};

class HandleTable {
 public:
  static constexpr size_t kHandleSize = 8;
  using Handle = std::string;

  explicit HandleTable(size_t max_handles) : max_handles_(max_handles) {}
  HandleTable(const HandleTable&) = delete;
  HandleTable& operator=(const HandleTable&) = delete;

  // Take ownership of an open file or directory; nullopt (and the object is closed) when
  // the table is full.
  std::optional<Handle> AddFile(OpenFile file);
  std::optional<Handle> AddDir(OpenDir dir);

  // The entry a handle names, or nullptr if it names none of that kind. The pointer is
  // valid until the next Add or Close.
  OpenFile* File(absl::string_view handle);
  OpenDir* Dir(absl::string_view handle);

  // Closes the entry: 0, or the errno of close(2)/closedir(3); EBADF for an unknown handle.
  int Close(absl::string_view handle);

  // Calls f(const OpenFile&) for every open file (to report those a session leaves open).
  template <typename F>
  void ForEachFile(F f) const {
    for (const Slot& slot : slots_) {
      if (slot.file) f(*slot.file);
    }
  }

  size_t size() const { return open_; }
  size_t max_handles() const { return max_handles_; }

 private:
  struct Slot {
    uint32_t generation = 0;
    std::optional<OpenFile> file;
    std::optional<OpenDir> dir;
    bool used() const { return file.has_value() || dir.has_value(); }
  };

  // A free slot (reused or new), or nullptr when `max_handles_` are open.
  Slot* FreeSlot(uint32_t* index);
  Slot* Find(absl::string_view handle);
  Handle Encode(uint32_t index) const;

  size_t max_handles_;
  size_t open_ = 0;
  std::vector<Slot> slots_;
};

}  // namespace hatch::sftp

#endif  // HATCH_SSHD_SFTP_HANDLE_TABLE_H_
