#include "sshd/algorithms.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sshd/ssh_handles.h"

namespace hatch {
namespace {

// Each name on its own must be accepted by libssh: it silently drops unknown names from a
// list, which would turn an operator's typo into a missing algorithm.
absl::StatusOr<std::string> Validate(const char* flag, const std::string& list,
                                     enum ssh_bind_options_e option) {
  std::vector<std::string> names;
  for (absl::string_view raw : absl::StrSplit(list, ',')) {
    absl::string_view name = absl::StripAsciiWhitespace(raw);
    if (name.empty()) continue;
    SshBind scratch(ssh_bind_new());
    std::string one(name);
    if (ssh_bind_options_set(scratch.get(), option, one.c_str()) != SSH_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat("-", flag, ": unknown or unsupported algorithm \"", name, "\""));
    }
    names.push_back(std::move(one));
  }
  if (names.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("-", flag, ": empty algorithm list"));
  }
  return absl::StrJoin(names, ",");
}

std::vector<std::string> HostKeyAlgorithmsFor(ssh_key key) {
  switch (ssh_key_type(key)) {
    case SSH_KEYTYPE_RSA:
      return {"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"};
    case SSH_KEYTYPE_ED25519:
      return {"ssh-ed25519"};
    default:
      return {ssh_key_type_to_char(ssh_key_type(key)) ? ssh_key_type_to_char(ssh_key_type(key)) : ""};
  }
}

}  // namespace

absl::StatusOr<AlgorithmPolicy> BuildAlgorithmPolicy(const Config& config, ssh_key host_key) {
  AlgorithmPolicy p;
  auto pick = [](const std::string& given, const char* fallback) {
    return given.empty() ? std::string(fallback) : given;
  };
  absl::StatusOr<std::string> ciphers =
      Validate("allowedCiphers", pick(config.allowed_ciphers, kDefaultCiphers),
               SSH_BIND_OPTIONS_CIPHERS_C_S);
  if (!ciphers.ok()) return ciphers.status();
  absl::StatusOr<std::string> macs =
      Validate("allowedMACs", pick(config.allowed_macs, kDefaultMacs), SSH_BIND_OPTIONS_HMAC_C_S);
  if (!macs.ok()) return macs.status();
  absl::StatusOr<std::string> kex =
      Validate("allowedKeyExchanges", pick(config.allowed_key_exchanges, kDefaultKeyExchanges),
               SSH_BIND_OPTIONS_KEY_EXCHANGE);
  if (!kex.ok()) return kex.status();

  // Host key algorithms: those the given key can sign with; ssh-rsa (SHA-1) only if named.
  std::vector<std::string> usable = HostKeyAlgorithmsFor(host_key);
  std::vector<std::string> chosen;
  if (config.allowed_host_key_algorithms.empty()) {
    for (const std::string& a : usable) {
      if (a != "ssh-rsa") chosen.push_back(a);
    }
  } else {
    absl::StatusOr<std::string> given =
        Validate("allowedHostKeyAlgorithms", config.allowed_host_key_algorithms,
                 SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS);
    if (!given.ok()) return given.status();
    for (absl::string_view a : absl::StrSplit(*given, ',')) {
      for (const std::string& u : usable) {
        if (a == u) chosen.push_back(u);
      }
    }
    if (chosen.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "-allowedHostKeyAlgorithms: none of them can sign with the host key (usable: ",
          absl::StrJoin(usable, ","), ")"));
    }
  }
  p.ciphers = *ciphers;
  p.macs = *macs;
  p.key_exchanges = *kex;
  p.host_key_algorithms = absl::StrJoin(chosen, ",");
  p.user_key_algorithms = kDefaultUserKeyAlgorithms;
  for (absl::string_view a : absl::StrSplit(config.allowed_host_key_algorithms, ',')) {
    if (absl::StripAsciiWhitespace(a) == "ssh-rsa") absl::StrAppend(&p.user_key_algorithms, ",ssh-rsa");
  }
  return p;
}

absl::Status ApplyAlgorithmPolicy(const AlgorithmPolicy& p, ssh_bind bind) {
  struct {
    enum ssh_bind_options_e option;
    const std::string* value;
  } settings[] = {
      {SSH_BIND_OPTIONS_CIPHERS_C_S, &p.ciphers},
      {SSH_BIND_OPTIONS_CIPHERS_S_C, &p.ciphers},
      {SSH_BIND_OPTIONS_HMAC_C_S, &p.macs},
      {SSH_BIND_OPTIONS_HMAC_S_C, &p.macs},
      {SSH_BIND_OPTIONS_KEY_EXCHANGE, &p.key_exchanges},
      {SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, &p.host_key_algorithms},
      {SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, &p.user_key_algorithms},
  };
  for (const auto& s : settings) {
    if (ssh_bind_options_set(bind, s.option, s.value->c_str()) != SSH_OK) {
      return absl::InternalError(absl::StrCat("libssh refused algorithms ", *s.value, ": ",
                                              ssh_get_error(bind)));
    }
  }
  return absl::OkStatus();
}

}  // namespace hatch
