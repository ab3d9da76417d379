#include "lifecycle/environment.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace hatch::lifecycle {
namespace {

// The name of an entry, or nullopt when it has no '='.
std::optional<absl::string_view> NameOf(absl::string_view entry) {
  const size_t eq = entry.find('=');
  if (eq == absl::string_view::npos) return std::nullopt;
  return entry.substr(0, eq);
}

}  // namespace

Environment::Environment(const std::vector<std::string>& entries) {
  for (const std::string& entry : entries) {
    const auto name = NameOf(entry);
    if (name.has_value() && Find(*name).has_value()) continue;  // first one wins
    entries_.push_back(entry);
  }
}

Environment Environment::FromProcess() {
  std::vector<std::string> entries;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) entries.emplace_back(*e);
  return Environment(entries);
}

std::optional<size_t> Environment::Find(absl::string_view name) const {
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (NameOf(entries_[i]) == name) return i;
  }
  return std::nullopt;
}

std::optional<std::string> Environment::Lookup(absl::string_view name) const {
  const auto i = Find(name);
  if (!i.has_value()) return std::nullopt;
  return entries_[*i].substr(name.size() + 1);
}

std::string Environment::Get(absl::string_view name) const {
  return Lookup(name).value_or("");
}

absl::Status Environment::Set(absl::string_view name, absl::string_view value) {
  if (name.empty() || name.find('=') != absl::string_view::npos ||
      name.find('\0') != absl::string_view::npos || value.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("setenv ", name, ": invalid argument"));
  }
  std::string entry = absl::StrCat(name, "=", value);
  if (const auto i = Find(name); i.has_value()) {
    entries_[*i] = std::move(entry);
  } else {
    entries_.push_back(std::move(entry));
  }
  return absl::OkStatus();
}

void Environment::Unset(absl::string_view name) {
  if (const auto i = Find(name); i.has_value()) entries_.erase(entries_.begin() + *i);
}

}  // namespace hatch::lifecycle
