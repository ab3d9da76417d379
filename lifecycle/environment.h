// An editable copy of a process environment, changed the way Go's os.Setenv/os.Unsetenv change
// the environment of buildpackapplifecycle's shell and launcher, so the environment they exec
// with has the same entries in the same order:
//   - the first entry of a name wins; later duplicates are dropped (Go's copyenv);
//   - Set replaces an existing entry in place, or appends a new one;
//   - Unset removes the entry;
//   - entries without '=' are kept as they are, but cannot be read or changed.
// A value cannot hold a NUL byte and a name cannot be empty or hold '=' or NUL (the kernel could
// not pass them on); Set refuses those, as Go's os.Setenv does.
#ifndef HATCH_LIFECYCLE_ENVIRONMENT_H_
#define HATCH_LIFECYCLE_ENVIRONMENT_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"

namespace hatch::lifecycle {

class Environment {
 public:
  Environment() = default;
  // entries are "NAME=value" strings, as in environ(7).
  explicit Environment(const std::vector<std::string>& entries);
  // A copy of this process's environ.
  static Environment FromProcess();

  // The value, or "" when unset (Go's os.Getenv).
  std::string Get(absl::string_view name) const;
  // The value, or nullopt when unset.
  std::optional<std::string> Lookup(absl::string_view name) const;

  absl::Status Set(absl::string_view name, absl::string_view value);
  void Unset(absl::string_view name);

  // The entries, in order, ready for execve.
  const std::vector<std::string>& entries() const { return entries_; }

 private:
  std::optional<size_t> Find(absl::string_view name) const;

  std::vector<std::string> entries_;
};

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_ENVIRONMENT_H_
