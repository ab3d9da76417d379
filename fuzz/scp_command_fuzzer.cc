// The exec request's command string, as the daemon checks whether it is an scp it serves.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "sshd/scp/scp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  const bool served = hatch::scp::ParseScpCommand(
      absl::string_view(reinterpret_cast<const char*>(data), size), &args);
  if (served && args.empty()) __builtin_trap();  // args[0] is the program word
  return 0;
}
