#include "sshd/keys.h"

#include <openssl/crypto.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace hatch {
namespace {

// Splits on blanks, keeping double-quoted runs (with \" escapes) inside one word.
std::vector<std::string> AuthorizedKeyWords(absl::string_view line) {
  std::vector<std::string> words;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (quoted && ch == '\\' && i + 1 < line.size() && line[i + 1] == '"') {
      cur += "\\\"";
      ++i;
    } else if (ch == '"') {
      quoted = !quoted;
      cur += ch;
    } else if (!quoted && (ch == ' ' || ch == '\t')) {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

}  // namespace

absl::StatusOr<SshKey> LoadHostKey(absl::string_view text) {
  ssh_key key = nullptr;
  if (absl::StripAsciiWhitespace(text).empty()) {
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
      return absl::InternalError("cannot generate an ed25519 host key");
    }
    return SshKey(key);
  }
  std::string pem(absl::StripAsciiWhitespace(text));
  pem.push_back('\n');
  const int rc = ssh_pki_import_privkey_base64(pem.c_str(), nullptr, nullptr, nullptr, &key);
  OPENSSL_cleanse(pem.data(), pem.size());  // the private key's text: no copy left in the heap
  if (rc != SSH_OK) {
    return absl::InvalidArgumentError(
        "host key: not a private key in PEM or OpenSSH format (or it is encrypted)");
  }
  return SshKey(key);
}

absl::StatusOr<SshKey> ParseAuthorizedKey(absl::string_view line) {
  std::vector<std::string> words = AuthorizedKeyWords(absl::StripAsciiWhitespace(line));
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    enum ssh_keytypes_e type = ssh_key_type_from_name(words[i].c_str());
    if (type == SSH_KEYTYPE_UNKNOWN) continue;
    ssh_key key = nullptr;
    if (ssh_pki_import_pubkey_base64(words[i + 1].c_str(), type, &key) != SSH_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat("authorized key: bad base64 key data for type ", words[i]));
    }
    return SshKey(key);
  }
  return absl::InvalidArgumentError(
      "authorized key: no \"<type> <base64>\" pair in the authorized_keys line");
}

absl::StatusOr<std::string> PublicKeyBlob(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || b64 == nullptr) {
    return absl::InternalError("cannot encode public key");
  }
  std::string out(b64);
  ssh_string_free_char(b64);
  return out;
}

bool PublicKeyMatches(const std::string& blob, ssh_key offered) {
  absl::StatusOr<std::string> other = PublicKeyBlob(offered);
  if (!other.ok() || other->size() != blob.size()) return false;
  return CRYPTO_memcmp(other->data(), blob.data(), blob.size()) == 0;
}

std::string Fingerprint(ssh_key key) {
  unsigned char* hash = nullptr;
  size_t len = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) != SSH_OK) return "";
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
  std::string out = text != nullptr ? text : "";
  ssh_string_free_char(text);
  ssh_clean_pubkey_hash(&hash);
  return out;
}

}  // namespace hatch
