// A private host key as -hostKey gives it (PEM or OpenSSH text). Blank text, which means
// "generate one", is skipped: it parses nothing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <libssh/libssh.h>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "sshd/keys.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (ssh_init() != 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  if (absl::StripAsciiWhitespace(text).empty()) return 0;
  auto key = hatch::LoadHostKey(text);
  if (key.ok()) (void)hatch::Fingerprint(key->get());
  return 0;
}
