#include "sshd/keys.h"

#include <gtest/gtest.h>

namespace hatch {
namespace {

// Made with `ssh-keygen -t ed25519`; test material only.
constexpr char kEd25519Private[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACC+wstueO4njpwlYwq7SJDpG9qKdsBzrldj4/XKx9FvBgAAAJA6DeH3Og3h\n"
    "9wAAAAtzc2gtZWQyNTUxOQAAACC+wstueO4njpwlYwq7SJDpG9qKdsBzrldj4/XKx9FvBg\n"
    "AAAEDdTSnWnblBEM50PitXgVXcKmqTl1CDHdUlN3w6N6w+Eb7Cy2547ieOnCVjCrtIkOkb\n"
    "2op2wHOuV2Pj9crH0W8GAAAACmhhdGNoLXRlc3QBAgM=\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
constexpr char kEd25519Public[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL7Cy2547ieOnCVjCrtIkOkb2op2wHOuV2Pj9crH0W8G hatch-test";

TEST(Keys, LoadsOpenSshPrivateKeyAndMatchesItsPublicHalf) {
  absl::StatusOr<SshKey> host = LoadHostKey(kEd25519Private);
  ASSERT_TRUE(host.ok()) << host.status();
  absl::StatusOr<SshKey> pub = ParseAuthorizedKey(kEd25519Public);
  ASSERT_TRUE(pub.ok()) << pub.status();
  absl::StatusOr<std::string> blob = PublicKeyBlob(pub->get());
  ASSERT_TRUE(blob.ok());
  EXPECT_TRUE(PublicKeyMatches(*blob, host->get()));
}

TEST(Keys, EmptyHostKeyGeneratesEd25519) {
  absl::StatusOr<SshKey> key = LoadHostKey("");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(ssh_key_type(key->get()), SSH_KEYTYPE_ED25519);
  EXPECT_EQ(Fingerprint(key->get()).rfind("SHA256:", 0), 0u);
}

TEST(Keys, GarbageHostKeyIsAClearError) {
  absl::StatusOr<SshKey> key = LoadHostKey("-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("host key"), std::string::npos);
}

TEST(Keys, AuthorizedKeyLineWithOptionsAndQuotedSpaces) {
  std::string line = std::string("command=\"echo a b\",no-pty ") + kEd25519Public;
  absl::StatusOr<SshKey> key = ParseAuthorizedKey(line);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(ssh_key_type(key->get()), SSH_KEYTYPE_ED25519);
}

TEST(Keys, AuthorizedKeyWithoutKeyIsRejected) {
  EXPECT_FALSE(ParseAuthorizedKey("just a comment").ok());
  EXPECT_FALSE(ParseAuthorizedKey("ssh-ed25519 !!!notbase64!!!").ok());
  EXPECT_FALSE(ParseAuthorizedKey("").ok());
}

TEST(Keys, DifferentKeyDoesNotMatch) {
  absl::StatusOr<SshKey> other = LoadHostKey("");
  absl::StatusOr<SshKey> pub = ParseAuthorizedKey(kEd25519Public);
  ASSERT_TRUE(other.ok() && pub.ok());
  absl::StatusOr<std::string> blob = PublicKeyBlob(pub->get());
  ASSERT_TRUE(blob.ok());
  EXPECT_FALSE(PublicKeyMatches(*blob, other->get()));
}

}  // namespace
}  // namespace hatch
