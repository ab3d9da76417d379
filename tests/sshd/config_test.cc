#include "sshd/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"

namespace hatch {
namespace {

// Builds a mutable argv, as the kernel gives one.
class Argv {
 public:
  explicit Argv(std::vector<std::string> args) : storage_(std::move(args)) {
    for (std::string& s : storage_) ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(storage_.size()); }
  char** argv() { return ptrs_.data(); }
  const std::string& at(size_t i) const { return storage_[i]; }

 private:
  std::vector<std::string> storage_;
  std::vector<char*> ptrs_;
};

class ConfigTest : public ::testing::Test {
 protected:
  absl::FlagSaver saver_;  // every test starts from the defaults
  void SetUp() override {
    unsetenv("SSHD_HOSTKEY");
    unsetenv("SSHD_AUTHKEY");
  }
};

TEST_F(ConfigTest, ParsesDiegoStyleFlags) {
  Argv a({"diego-sshd", "-address=0.0.0.0:2222", "--hostKey=PEM", "-authorizedKey", "ssh-ed25519 AAAA",
          "-inheritDaemonEnv", "-logLevel=fatal", "-idleTimeout=30s"});
  absl::StatusOr<Config> c = ParseConfig(a.argc(), a.argv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->address, "0.0.0.0:2222");
  EXPECT_EQ(c->host_key, "PEM");
  EXPECT_EQ(c->authorized_key, "ssh-ed25519 AAAA");
  EXPECT_TRUE(c->inherit_daemon_env);
  EXPECT_FALSE(c->allow_unauthenticated_clients);
  EXPECT_EQ(c->log_level, LogLevel::kFatal);
  EXPECT_EQ(c->idle_timeout, absl::Seconds(30));
}

TEST_F(ConfigTest, DefaultsMatchDiego) {
  Argv a({"diego-sshd", "-allowUnauthenticatedClients"});
  absl::StatusOr<Config> c = ParseConfig(a.argc(), a.argv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->address, "127.0.0.1:2222");
  EXPECT_EQ(c->idle_timeout, absl::Minutes(5));
  EXPECT_EQ(c->log_level, LogLevel::kInfo);
}

TEST_F(ConfigTest, EnvironmentOverridesKeyFlags) {
  setenv("SSHD_HOSTKEY", "from-env-host", 1);
  setenv("SSHD_AUTHKEY", "from-env-auth", 1);
  Argv a({"diego-sshd", "-hostKey=flag-host", "-authorizedKey=flag-auth"});
  absl::StatusOr<Config> c = ParseConfig(a.argc(), a.argv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->host_key, "from-env-host");
  EXPECT_EQ(c->authorized_key, "from-env-auth");
}

TEST_F(ConfigTest, RefusesToStartWithNoWayToAuthenticate) {
  Argv a({"diego-sshd"});
  absl::StatusOr<Config> c = ParseConfig(a.argc(), a.argv());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("no authorized key"), std::string::npos);
}

TEST_F(ConfigTest, RejectsBadLogLevelAndLimits) {
  Argv bad_level({"diego-sshd", "-allowUnauthenticatedClients", "-logLevel=loud"});
  EXPECT_FALSE(ParseConfig(bad_level.argc(), bad_level.argv()).ok());
  Argv bad_limit({"diego-sshd", "-allowUnauthenticatedClients", "-maxSessions=0"});
  EXPECT_FALSE(ParseConfig(bad_limit.argc(), bad_limit.argv()).ok());
  Argv stray({"diego-sshd", "-allowUnauthenticatedClients", "stray"});
  EXPECT_FALSE(ParseConfig(stray.argc(), stray.argv()).ok());
}

TEST_F(ConfigTest, ScrubSecretsWipesKeyValuesInArgvAndEnvironment) {
  setenv("SSHD_AUTHKEY", "secret-auth", 1);
  Argv a({"diego-sshd", "-hostKey=secret-host", "--authorizedKey", "secret-two", "-address=x:1"});
  ScrubSecrets(a.argc(), a.argv());
  EXPECT_STREQ(a.argv()[1], "-hostKey=");
  EXPECT_EQ(std::strlen(a.argv()[3]), 0u);
  EXPECT_STREQ(a.argv()[4], "-address=x:1");
  EXPECT_EQ(getenv("SSHD_AUTHKEY"), nullptr);
}

TEST_F(ConfigTest, AuditAndRecordingFlags) {
  Argv defaults({"diego-sshd", "-allowUnauthenticatedClients"});
  absl::StatusOr<Config> c = ParseConfig(defaults.argc(), defaults.argv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->audit_log, "stdout");
  EXPECT_EQ(c->record_sessions, "");
  EXPECT_EQ(c->record_max_bytes, 64u << 20);

  Argv a({"diego-sshd", "-allowUnauthenticatedClients", "-auditLog=none", "-recordSessions=/tmp",
          "-recordMaxBytes=100000"});
  c = ParseConfig(a.argc(), a.argv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->audit_log, "none");
  EXPECT_EQ(c->record_sessions, "/tmp");
  EXPECT_EQ(c->record_max_bytes, 100000u);
}

TEST_F(ConfigTest, RejectsAMissingRecordingDirectory) {
  Argv no_dir({"diego-sshd", "-allowUnauthenticatedClients", "-recordSessions=/nonexistent/dir"});
  absl::StatusOr<Config> c = ParseConfig(no_dir.argc(), no_dir.argv());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("-recordSessions"), std::string::npos);
}

TEST_F(ConfigTest, RejectsATinyRecordingCap) {
  Argv tiny({"diego-sshd", "-allowUnauthenticatedClients", "-recordMaxBytes=10"});
  absl::StatusOr<Config> c = ParseConfig(tiny.argc(), tiny.argv());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("-recordMaxBytes"), std::string::npos);
}

}  // namespace
}  // namespace hatch
