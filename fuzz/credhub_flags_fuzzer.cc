// The credhub (and app) flags of `shell` and `launcher`, as Go's flag package parses them.
// The input is the argument list, NUL-separated; its first byte says whether the AppFlags are
// accepted.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "lifecycle/credhub_flags.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool with_app = data[0] & 1;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> args = absl::StrSplit(rest, '\0');
  hatch::lifecycle::AppFlags app;
  size_t consumed = 0;
  (void)hatch::lifecycle::ParseCredhubFlags(args, with_app ? &app : nullptr, &consumed);
  if (consumed > args.size()) __builtin_trap();
  for (const std::string& arg : args) {
    (void)hatch::lifecycle::ParseGoDuration(arg);
    (void)hatch::lifecycle::ParseGoInt(arg);
  }
  return 0;
}
