#include "lifecycle/go_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace hatch::lifecycle {

std::string GoCleanPath(absl::string_view path) {
  if (path.empty()) return ".";
  const bool rooted = path[0] == '/';
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(absl::string_view(path.data(), path.size()), '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(part);  // a relative path keeps leading ".."
      }
      continue;
    }
    parts.push_back(part);
  }
  std::string out = absl::StrJoin(parts, "/");
  if (rooted) return absl::StrCat("/", out);
  return out.empty() ? "." : out;
}

std::string GoJoinPath(std::initializer_list<absl::string_view> elements) {
  std::vector<absl::string_view> parts;
  for (absl::string_view e : elements) {
    if (!e.empty()) parts.emplace_back(e.data(), e.size());
  }
  if (parts.empty()) return "";
  return GoCleanPath(absl::StrJoin(parts, "/"));
}

absl::StatusOr<std::string> GoGetwd(absl::string_view pwd) {
  struct stat dot;
  if (stat(".", &dot) != 0) {
    return absl::InternalError(absl::StrCat("getwd: ", std::strerror(errno)));
  }
  if (!pwd.empty() && pwd[0] == '/') {
    struct stat st;
    const std::string p(pwd);
    if (stat(p.c_str(), &st) == 0 && st.st_dev == dot.st_dev && st.st_ino == dot.st_ino) return p;
  }
  std::vector<char> buf(4096);
  while (getcwd(buf.data(), buf.size()) == nullptr) {
    if (errno != ERANGE) return absl::InternalError(absl::StrCat("getwd: ", std::strerror(errno)));
    buf.resize(buf.size() * 2);
  }
  return std::string(buf.data());
}

absl::StatusOr<std::string> GoAbsPath(absl::string_view path, absl::string_view pwd) {
  if (!path.empty() && path[0] == '/') return GoCleanPath(path);
  auto wd = GoGetwd(pwd);
  if (!wd.ok()) return wd.status();
  return GoJoinPath({*wd, path});
}

}  // namespace hatch::lifecycle
