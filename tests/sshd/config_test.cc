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

TEST_F(ConfigTest, SessionsAreFilteredByDefaultAndNotReadOnly) {
  Argv a({"diego-sshd", "-allowUnauthenticatedClients"});
  absl::StatusOr<Config> c = ParseConfig(a.argc(), a.argv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->session_sandbox().syscall_filter);
  EXPECT_FALSE(c->session_sandbox().read_only);
  EXPECT_TRUE(c->allow_remote_forwarding);
}

TEST_F(ConfigTest, ReadOnlyRefusesRemoteForwardingWhateverForwardingSays) {
  Argv a({"diego-sshd", "-allowUnauthenticatedClients", "-readOnly", "-forwarding=all"});
  absl::StatusOr<Config> c = ParseConfig(a.argc(), a.argv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->session_sandbox().read_only);
  EXPECT_TRUE(c->session_sandbox().syscall_filter);
  EXPECT_FALSE(c->allow_remote_forwarding);
  EXPECT_TRUE(c->allow_local_forwarding);
}

TEST_F(ConfigTest, ReadOnlyNeedsTheSyscallFilter) {
  Argv off({"diego-sshd", "-allowUnauthenticatedClients", "-syscallFilter=false"});
  absl::StatusOr<Config> c = ParseConfig(off.argc(), off.argv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->session_sandbox().any());
  Argv both({"diego-sshd", "-allowUnauthenticatedClients", "-syscallFilter=false", "-readOnly"});
  c = ParseConfig(both.argc(), both.argv());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("-readOnly needs the syscall filter"), std::string::npos);
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

TEST_F(ConfigTest, TakeSecretsCopiesThenWipesSoParsingNeverSeesTheKeys) {
  Argv a({"diego-sshd", "-hostKey=first", "-hostKey=secret-host", "--authorizedKey",
          "secret-auth", "-address=127.0.0.1:1"});
  Secrets s;
  TakeSecrets(a.argc(), a.argv(), &s);
  EXPECT_EQ(s.host_key, "secret-host");  // the last one, as flag parsing takes it
  EXPECT_EQ(s.authorized_key, "secret-auth");
  EXPECT_STREQ(a.argv()[2], "-hostKey=");
  EXPECT_EQ(std::strlen(a.argv()[4]), 0u);
  absl::StatusOr<Config> c = ParseConfig(a.argc(), a.argv(), &s);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->host_key, "secret-host");
  EXPECT_EQ(c->authorized_key, "secret-auth");
  EXPECT_EQ(c->address, "127.0.0.1:1");
  s.Wipe();
  EXPECT_TRUE(s.host_key.empty());
}

TEST_F(ConfigTest, TakeSecretsPrefersTheEnvironmentAndRemovesIt) {
  setenv("SSHD_HOSTKEY", "env-host", 1);
  Argv a({"diego-sshd", "-hostKey=flag-host", "-authorizedKey=flag-auth"});
  Secrets s;
  TakeSecrets(a.argc(), a.argv(), &s);
  EXPECT_EQ(s.host_key, "env-host");
  EXPECT_EQ(s.authorized_key, "flag-auth");
  EXPECT_EQ(getenv("SSHD_HOSTKEY"), nullptr);
}

TEST_F(ConfigTest, TakeSecretsFromAnEnvironmentBlockWipesItInPlace) {
  std::string host = "SSHD_HOSTKEY=block-host", other = "KEEP=me", empty = "SSHD_AUTHKEY=";
  std::vector<char*> envp = {host.data(), other.data(), empty.data(), nullptr};
  Argv a({"diego-sshd", "-authorizedKey=flag-auth"});
  Secrets s;
  TakeSecrets(a.argc(), a.argv(), envp.data(), &s);
  EXPECT_EQ(s.host_key, "block-host");
  EXPECT_EQ(s.authorized_key, "flag-auth");  // an empty variable does not override
  EXPECT_EQ(std::string(host.c_str()), "SSHD_HOSTKEY=");
  EXPECT_EQ(std::string(other.c_str()), "KEEP=me");
  EXPECT_STREQ(a.argv()[1], "-authorizedKey=");
}

TEST_F(ConfigTest, PreauthBudgetFlags) {
  Argv a({"diego-sshd", "-allowUnauthenticatedClients", "-maxStartups=5:50:20",
          "-perSourceMaxStartups=0", "-preauthExemptSources=10.0.0.0/8,fd00::/8",
          "-preauthTimeout=3s", "-loginGraceTime=2s"});
  absl::StatusOr<Config> c = ParseConfig(a.argc(), a.argv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_startups, (StartupLimits{5, 50, 20}));
  EXPECT_EQ(c->per_source_max_startups, 0);
  EXPECT_EQ(c->preauth_exempt.size(), 2u);
  EXPECT_EQ(c->preauth_timeout, absl::Seconds(2));  // never past -loginGraceTime
}

TEST_F(ConfigTest, PreauthBudgetDefaultsLeaveSlotsForAuthenticatedConnections) {
  Argv a({"diego-sshd", "-allowUnauthenticatedClients"});
  absl::StatusOr<Config> c = ParseConfig(a.argc(), a.argv());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_LT(c->max_startups.full, c->max_connections);
  EXPECT_LT(c->per_source_max_startups, c->max_startups.start);
  EXPECT_LT(c->preauth_timeout, c->login_grace_time);
}

TEST_F(ConfigTest, RejectsBadPreauthFlags) {
  for (const char* flag : {"-maxStartups=10:30", "-maxStartups=30:30:10", "-perSourceMaxStartups=-1",
                           "-preauthExemptSources=proxy.example", "-preauthTimeout=0s",
                           "-refusalLogInterval=0s"}) {
    Argv a({"diego-sshd", "-allowUnauthenticatedClients", flag});
    EXPECT_FALSE(ParseConfig(a.argc(), a.argv()).ok()) << flag;
  }
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
