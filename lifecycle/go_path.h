// Path helpers with Go's path/filepath semantics, which decide the exact HOME, TMPDIR and
// DEPS_DIR strings of buildpackapplifecycle: lexical only (symlinks are not resolved), and the
// working directory is $PWD when $PWD names the same directory as "." (Go's os.Getwd), so a
// droplet reached through a symlink keeps the symlinked path.
#ifndef HATCH_LIFECYCLE_GO_PATH_H_
#define HATCH_LIFECYCLE_GO_PATH_H_

#include <initializer_list>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace hatch::lifecycle {

// filepath.Clean: one slash between elements, no "." elements, ".." resolved lexically (and
// dropped at the root), no trailing slash, "." for an empty result.
std::string GoCleanPath(absl::string_view path);

// filepath.Join: the non-empty elements joined with '/', then cleaned; "" when all are empty.
std::string GoJoinPath(std::initializer_list<absl::string_view> elements);

// os.Getwd: $PWD when it is absolute and names the same file as ".", else getcwd(3).
// pwd is the caller's $PWD ("" when unset).
absl::StatusOr<std::string> GoGetwd(absl::string_view pwd);

// filepath.Abs: path cleaned if absolute, else joined to GoGetwd(pwd) and cleaned.
absl::StatusOr<std::string> GoAbsPath(absl::string_view path, absl::string_view pwd);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_GO_PATH_H_
