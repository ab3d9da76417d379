#include "lifecycle/read_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"

namespace hatch::lifecycle {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, size_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    const std::string message = absl::StrCat("open ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    return absl::FailedPreconditionError(message);
  }
  std::string out;
  char buf[16384];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::FailedPreconditionError(absl::StrCat("read ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > max_size) {
      return absl::ResourceExhaustedError(absl::StrCat("read ", path, ": larger than ", max_size, " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace hatch::lifecycle
