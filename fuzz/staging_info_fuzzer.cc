// staging_info.yml from the droplet (YAML or JSON, as Go's yaml.v2 reads it).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "lifecycle/staging_info.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)hatch::lifecycle::ParseStagingInfo(
      absl::string_view(reinterpret_cast<const char*>(data), size), "staging_info.yml");
  return 0;
}
