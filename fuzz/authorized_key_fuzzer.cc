// One authorized_keys line (options, type, base64 blob, comment), and what the daemon does
// with a parsed key: its blob (compared at authentication) and its fingerprint (logged).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <libssh/libssh.h>

#include "absl/strings/string_view.h"
#include "sshd/keys.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (ssh_init() != 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto key = hatch::ParseAuthorizedKey(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!key.ok()) return 0;
  auto blob = hatch::PublicKeyBlob(key->get());
  if (!blob.ok()) return 0;
  // A key matches its own blob.
  if (!hatch::PublicKeyMatches(*blob, key->get())) __builtin_trap();
  (void)hatch::Fingerprint(key->get());
  return 0;
}
