#include "sshd/algorithms.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "sshd/keys.h"

namespace hatch {
namespace {

Config WithAuth() {
  Config c;
  c.allow_unauthenticated_clients = true;
  return c;
}

TEST(Algorithms, DefaultsAreModernAndMatchTheHostKey) {
  absl::StatusOr<SshKey> key = LoadHostKey("");
  ASSERT_TRUE(key.ok());
  absl::StatusOr<AlgorithmPolicy> p = BuildAlgorithmPolicy(WithAuth(), key->get());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->host_key_algorithms, "ssh-ed25519");
  EXPECT_EQ(p->ciphers.find("cbc"), std::string::npos);
  EXPECT_EQ(p->macs.find("sha1"), std::string::npos);
  EXPECT_EQ(p->key_exchanges.find("sha1"), std::string::npos);
}

TEST(Algorithms, UnknownNameIsAStartupErrorNamingFlagAndAlgorithm) {
  absl::StatusOr<SshKey> key = LoadHostKey("");
  ASSERT_TRUE(key.ok());
  Config c = WithAuth();
  c.allowed_ciphers = "aes128-ctr,rot13-ctr";
  absl::StatusOr<AlgorithmPolicy> p = BuildAlgorithmPolicy(c, key->get());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("-allowedCiphers"), std::string::npos);
  EXPECT_NE(p.status().message().find("rot13-ctr"), std::string::npos);

  c = WithAuth();
  c.allowed_key_exchanges = "curve25519-sha256,nope";
  EXPECT_FALSE(BuildAlgorithmPolicy(c, key->get()).ok());
  c = WithAuth();
  c.allowed_macs = "hmac-md5000";
  EXPECT_FALSE(BuildAlgorithmPolicy(c, key->get()).ok());
}

TEST(Algorithms, LegacyListsCanBeNamed) {
  absl::StatusOr<SshKey> key = LoadHostKey("");
  ASSERT_TRUE(key.ok());
  Config c = WithAuth();
  c.allowed_ciphers = "aes128-ctr, aes256-ctr";
  c.allowed_macs = "hmac-sha2-256";
  absl::StatusOr<AlgorithmPolicy> p = BuildAlgorithmPolicy(c, key->get());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ciphers, "aes128-ctr,aes256-ctr");
  EXPECT_EQ(p->macs, "hmac-sha2-256");
}

TEST(Algorithms, UserSignaturesWithSha1OnlyWhenAnOperatorNamesSshRsa) {
  absl::StatusOr<SshKey> key = LoadHostKey("");
  ASSERT_TRUE(key.ok());
  absl::StatusOr<AlgorithmPolicy> p = BuildAlgorithmPolicy(WithAuth(), key->get());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->user_key_algorithms.find("ssh-rsa,"), std::string::npos);
  EXPECT_FALSE(absl::EndsWith(p->user_key_algorithms, ",ssh-rsa"));
  EXPECT_NE(p->user_key_algorithms.find("rsa-sha2-256"), std::string::npos);
  Config c = WithAuth();
  c.allowed_host_key_algorithms = "ssh-ed25519,ssh-rsa";
  p = BuildAlgorithmPolicy(c, key->get());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(absl::EndsWith(p->user_key_algorithms, ",ssh-rsa"));
}

TEST(Algorithms, HostKeyAlgorithmsMustFitTheKey) {
  absl::StatusOr<SshKey> key = LoadHostKey("");
  ASSERT_TRUE(key.ok());
  Config c = WithAuth();
  c.allowed_host_key_algorithms = "rsa-sha2-256";
  absl::StatusOr<AlgorithmPolicy> p = BuildAlgorithmPolicy(c, key->get());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("host key"), std::string::npos);
}

}  // namespace
}  // namespace hatch
