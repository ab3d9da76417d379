// scp's control lines as the sink reads them from the peer: T (times), C/D (entries) and the
// entry-name check.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "sshd/scp/control_line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view line(reinterpret_cast<const char*>(data), size);
  (void)hatch::scp::ParseTimesLine(line);
  auto entry = hatch::scp::ParseEntryLine(line);
  if (entry.ok()) {
    // What the header promises of an accepted line.
    if (entry->mode > 07777 || entry->size < 0) __builtin_trap();
    (void)hatch::scp::IsSafeEntryName(entry->name);
  }
  (void)hatch::scp::IsSafeEntryName(line);
  return 0;
}
