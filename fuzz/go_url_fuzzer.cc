// A service's credentials.uri through Go's url.Parse, URL.String(), Hostname() and Port().
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "lifecycle/go_url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto url = hatch::lifecycle::GoUrl::Parse(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!url.ok()) return 0;
  (void)url->Hostname();
  (void)url->Port();
  (void)url->String();
  return 0;
}
