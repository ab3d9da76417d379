// Algorithm policy: hatch's defaults (modern, no SHA-1, no CBC, clean in ssh-audit) and the
// operator's -allowed* lists, validated against what libssh implements at start-up, so an
// unknown name is a start-up error and not a failed handshake later.
#ifndef HATCH_SSHD_ALGORITHMS_H_
#define HATCH_SSHD_ALGORITHMS_H_

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <string>

#include "absl/status/statusor.h"
#include "sshd/config.h"

namespace hatch {

struct AlgorithmPolicy {
  std::string ciphers;
  std::string macs;
  std::string key_exchanges;
  std::string host_key_algorithms;
  std::string user_key_algorithms;  // signatures accepted for publickey authentication
};

inline constexpr char kDefaultCiphers[] =
    "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
    "aes256-ctr,aes192-ctr,aes128-ctr";
inline constexpr char kDefaultMacs[] =
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
inline constexpr char kDefaultKeyExchanges[] =
    "curve25519-sha256,curve25519-sha256@libssh.org,"
    "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512";

// User keys sign with these by default; ssh-rsa (SHA-1) is added only when an operator names
// it in -allowedHostKeyAlgorithms (libssh2 1.10 clients need it both ways).
inline constexpr char kDefaultUserKeyAlgorithms[] =
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256";

// Builds the policy from the config; `host_key` decides the default host key algorithms
// (an RSA key signs with rsa-sha2-512/256; ssh-rsa only when an operator names it).
absl::StatusOr<AlgorithmPolicy> BuildAlgorithmPolicy(const Config& config, ssh_key host_key);

// Sets the policy on a bind (both directions for ciphers and MACs).
absl::Status ApplyAlgorithmPolicy(const AlgorithmPolicy& policy, ssh_bind bind);

}  // namespace hatch

#endif  // HATCH_SSHD_ALGORITHMS_H_
