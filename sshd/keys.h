// Host and authorized keys. SshKey is the RAII owner of a libssh ssh_key.
#ifndef HATCH_SSHD_KEYS_H_
#define HATCH_SSHD_KEYS_H_

#include <libssh/libssh.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hatch {

struct SshKeyDeleter {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
using SshKey = std::unique_ptr<ssh_key_struct, SshKeyDeleter>;

// Loads a private host key from PEM (PKCS#1/PKCS#8/SEC1) or OpenSSH text; an empty string
// generates a fresh ed25519 key kept only in memory.
absl::StatusOr<SshKey> LoadHostKey(absl::string_view text);

// Parses one authorized_keys line: optional options (quoted values may hold spaces), the key
// type, the base64 blob, an optional comment. Options and comment are ignored.
absl::StatusOr<SshKey> ParseAuthorizedKey(absl::string_view line);

// The base64 text of the key's public blob (RFC 4253 §6.6 encoding): the form compared at
// authentication (libssh exports no raw-blob accessor; base64 is a one-to-one encoding).
absl::StatusOr<std::string> PublicKeyBlob(ssh_key key);

// True when `offered` is the same public key as `blob`, compared in constant time.
bool PublicKeyMatches(const std::string& blob, ssh_key offered);

// "SHA256:<base64>" fingerprint, as ssh-keygen -l prints it.
std::string Fingerprint(ssh_key key);

}  // namespace hatch

#endif  // HATCH_SSHD_KEYS_H_
