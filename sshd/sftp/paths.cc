#include "sshd/sftp/paths.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace hatch::sftp {
namespace {

// As SYMLOOP_MAX in OpenSSH's realpath.
constexpr int kMaxSymlinks = 32;

// Drops the last component of an absolute path ("/a/b" -> "/a", "/a" -> "/").
void DropLastComponent(std::string* path) {
  const size_t slash = path->rfind('/');
  path->resize(slash == 0 ? 1 : slash);
}

}  // namespace

PathResolver::PathResolver(std::string home) : home_(std::move(home)) {
  if (home_.empty()) home_ = "/";
  if (home_[0] != '/') {
    // A relative home is taken from the working directory once, here.
    char cwd[PATH_MAX];
    const std::string base = getcwd(cwd, sizeof cwd) != nullptr ? cwd : "/";
    home_ = base == "/" ? absl::StrCat("/", home_) : absl::StrCat(base, "/", home_);
  }
}

std::string PathResolver::Absolute(absl::string_view path) const {
  if (!path.empty() && path[0] == '/') return std::string(path);
  if (path.empty()) return home_;
  if (home_.back() == '/') return absl::StrCat(home_, path);
  return absl::StrCat(home_, "/", path);
}

int PathResolver::RealPath(absl::string_view path, std::string* resolved) const {
  // `left` holds the components still to walk; `out` the resolved prefix, always absolute
  // and without a trailing slash (except "/" itself).
  std::string left = Absolute(path);
  std::string out = "/";
  int symlinks = 0;
  size_t pos = 0;
  while (pos < left.size()) {
    const size_t slash = left.find('/', pos);
    const bool last = slash == std::string::npos;
    const size_t end = last ? left.size() : slash;
    const std::string component = left.substr(pos, end - pos);
    pos = last ? left.size() : slash + 1;
    if (component.empty() || component == ".") continue;
    if (component == "..") {
      DropLastComponent(&out);
      continue;
    }
    std::string candidate = out == "/" ? absl::StrCat("/", component)
                                       : absl::StrCat(out, "/", component);
    if (candidate.size() >= PATH_MAX) return ENAMETOOLONG;
    struct stat st;
    if (lstat(candidate.c_str(), &st) != 0) {
      if (errno == ENOENT && last) {
        *resolved = std::move(candidate);
        return 0;
      }
      return errno;
    }
    if (!S_ISLNK(st.st_mode)) {
      out = std::move(candidate);
      continue;
    }
    if (++symlinks > kMaxSymlinks) return ELOOP;
    char target[PATH_MAX];
    const ssize_t n = readlink(candidate.c_str(), target, sizeof target);
    if (n < 0) return errno;
    if (n == 0 || static_cast<size_t>(n) >= sizeof target) return ENAMETOOLONG;
    // Walk the link's target next, then what was left after the link.
    std::string rest = left.substr(pos);
    left = std::string(target, n);
    if (!rest.empty()) absl::StrAppend(&left, "/", rest);
    pos = 0;
    if (left[0] == '/') out = "/";
    if (left.size() >= 4 * PATH_MAX) return ENAMETOOLONG;
  }
  *resolved = std::move(out);
  return 0;
}

}  // namespace hatch::sftp
