// The VCAP_* steps of the app environment on fuzzed variables: VCAP_APPLICATION's rewrite,
// VCAP_PLATFORM_OPTIONS's credhub-uri, DATABASE_URL from VCAP_SERVICES. The input is split at
// the first two NUL bytes: variable, port, instance index.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "lifecycle/vcap.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<absl::string_view> parts = absl::StrSplit(input, absl::MaxSplits('\0', 2));
  parts.resize(3);
  (void)hatch::lifecycle::RewriteVcapApplication(parts[0], "instance-guid", parts[1], parts[2]);
  (void)hatch::lifecycle::CredhubUriFromPlatformOptions(parts[0]);
  (void)hatch::lifecycle::DatabaseUrlFromServices(parts[0]);
  (void)hatch::lifecycle::GoAtoi(parts[1]);
  return 0;
}
