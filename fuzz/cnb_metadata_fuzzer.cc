// A CNB droplet's <layers>/config/metadata.toml.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lifecycle/cnb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)hatch::lifecycle::ParseCnbMetadata(
      std::string(reinterpret_cast<const char*>(data), size), "metadata.toml");
  return 0;
}
