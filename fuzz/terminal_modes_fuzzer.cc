// A pty-req's encoded terminal modes (RFC 4254 section 8), applied to a termios.
#include <termios.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"
#include "pty/terminal_modes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  struct termios t;
  std::memset(&t, 0, sizeof(t));
  struct termios before = t;
  const absl::Status status = hatch::pty::ApplyTerminalModes(
      absl::string_view(reinterpret_cast<const char*>(data), size), &t);
  // The header's promise: an error leaves *t unchanged.
  if (!status.ok() && std::memcmp(&t, &before, sizeof(t)) != 0) __builtin_trap();
  return 0;
}
