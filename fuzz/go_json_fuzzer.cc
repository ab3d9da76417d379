// JSON as Go's encoding/json decodes it into interface{} (VCAP_APPLICATION, VCAP_SERVICES,
// VCAP_PLATFORM_OPTIONS), and the re-encoding as json.Marshal writes it. What Marshal writes
// must parse again and re-encode to the same bytes, as it does in Go.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "lifecycle/go_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto doc = hatch::lifecycle::ParseGoJson(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!doc.ok()) return 0;
  const std::string once = hatch::lifecycle::GoMarshal(*doc);
  auto again = hatch::lifecycle::ParseGoJson(once);
  if (!again.ok()) __builtin_trap();
  if (hatch::lifecycle::GoMarshal(*again) != once) __builtin_trap();
  return 0;
}
