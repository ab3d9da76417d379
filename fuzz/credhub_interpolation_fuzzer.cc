// Credhub interpolation's input side: VCAP_SERVICES decoded and re-encoded into the request
// body, and the reply put back into the environment. (The HTTPS exchange in between is
// cpp-httplib's and OpenSSL's, not fuzzed here.) The input is split at the first NUL byte:
// VCAP_SERVICES, then the reply.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "lifecycle/credhub.h"
#include "lifecycle/environment.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<absl::string_view> parts = absl::StrSplit(input, absl::MaxSplits('\0', 1));
  parts.resize(2);
  (void)hatch::lifecycle::CredhubRequestBody(parts[0]);
  hatch::lifecycle::Environment env({"VCAP_SERVICES={}", "PATH=/usr/bin"});
  (void)env.Set("VCAP_SERVICES", parts[1]);
  return 0;
}
