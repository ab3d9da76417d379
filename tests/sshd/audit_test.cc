#include "sshd/audit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sshd/keys.h"

namespace hatch {
namespace {

constexpr char kEd25519Public[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL7Cy2547ieOnCVjCrtIkOkb2op2wHOuV2Pj9crH0W8G hatch-test";
constexpr char kBlob[] = "AAAAC3NzaC1lZDI1NTE5AAAAIL7Cy2547ieOnCVjCrtIkOkb2op2wHOuV2Pj9crH0W8G";
// `ssh-keygen -l` of kEd25519Public.
constexpr char kFingerprint[] = "SHA256:39I8eurYiuJfz0ZzBFh9SkhdygGQxfswhHneQq9lkzw";

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/audit_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/audit.log";
  }
  void TearDown() override {
    SetAuditSink(*AuditSink::Open("stdout"));
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  void UseFile() {
    absl::StatusOr<AuditSink> sink = AuditSink::Open(path_);
    ASSERT_TRUE(sink.ok()) << sink.status();
    SetAuditSink(std::move(*sink));
  }
  std::string Text() {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::vector<nlohmann::json> Lines() {
    std::vector<nlohmann::json> out;
    std::istringstream in(Text());
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  std::string dir_, path_;
};

TEST_F(AuditTest, FileSinkIsCreatedPrivateAndAppended) {
  {
    std::ofstream pre(path_);
    pre << "{\"earlier\":1}\n";
  }
  chmod(path_.c_str(), 0600);
  UseFile();
  ConnectionAudit("00000000000000aa", "127.0.0.1:5000").ConnectionEnded("client closed");
  std::vector<nlohmann::json> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["earlier"], 1);

  unlink(path_.c_str());
  UseFile();
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditTest, UnopenablePathIsAClearError) {
  absl::StatusOr<AuditSink> sink = AuditSink::Open(dir_ + "/missing/audit.log");
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.status().message().find("-auditLog"), std::string::npos);
}

TEST_F(AuditTest, LinesAreLagerShapedWithConnectionAndPeer) {
  UseFile();
  ConnectionAudit c("0123456789abcdef", "[::1]:4242");
  c.ConnectionEnded("idle timeout");
  std::vector<nlohmann::json> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json& l = lines[0];
  EXPECT_EQ(l["source"], "sshd");
  EXPECT_EQ(l["message"], "sshd.audit.connection.ended");
  EXPECT_EQ(l["log_level"], 1);
  EXPECT_TRUE(l["timestamp"].is_string());
  EXPECT_EQ(l["data"]["connection"], "0123456789abcdef");
  EXPECT_EQ(l["data"]["peer"], "[::1]:4242");
  EXPECT_EQ(l["data"]["reason"], "idle timeout");
  EXPECT_TRUE(l["data"]["duration"].is_string());
}

TEST_F(AuditTest, LoginCarriesTheFingerprintAsSshKeygenPrintsItNeverTheKey) {
  UseFile();
  absl::StatusOr<SshKey> key = ParseAuthorizedKey(kEd25519Public);
  ASSERT_TRUE(key.ok());
  ConnectionAudit c(NewConnectionId(), "127.0.0.1:1");
  NegotiatedAlgorithms a{"curve25519-sha256", "aes256-gcm@openssh.com", "aes256-gcm@openssh.com",
                         "aead-gcm", "aead-gcm"};
  c.LoginSucceeded("vcap", "publickey", key->get(), a);
  c.LoginFailed("root", "publickey", key->get());
  c.LoginFailed("root", "password", nullptr);
  std::vector<nlohmann::json> lines = Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["message"], "sshd.audit.login.succeeded");
  EXPECT_EQ(lines[0]["data"]["key_fingerprint"], kFingerprint);
  EXPECT_EQ(lines[0]["data"]["kex"], "curve25519-sha256");
  EXPECT_EQ(lines[0]["data"]["cipher_in"], "aes256-gcm@openssh.com");
  EXPECT_EQ(lines[1]["message"], "sshd.audit.login.failed");
  EXPECT_EQ(lines[1]["data"]["user"], "root");
  EXPECT_EQ(lines[2]["data"]["method"], "password");
  EXPECT_EQ(lines[2]["data"]["key_fingerprint"], "");
  EXPECT_EQ(Text().find(kBlob), std::string::npos);
}

TEST_F(AuditTest, SessionKeepsEnvNamesOnly) {
  UseFile();
  ConnectionAudit c(NewConnectionId(), "127.0.0.1:1");
  SessionStart s;
  s.channel = 3;
  s.kind = SessionKind::kExec;
  s.command = "echo hi";
  s.pty = true;
  s.term = "xterm";
  s.env_requests = {"LANG=secret-value-1", "FOO", "BAR=x=secret-value-2"};
  c.SessionStarted(s);
  SessionEnd e;
  e.channel = 3;
  e.kind = SessionKind::kExec;
  e.command = "echo hi";
  e.exit_status = 0;
  e.duration = absl::Milliseconds(1500);
  e.bytes_in = 5;
  e.bytes_out = 3;
  e.recording = "/r/x.cast";
  e.recording_sha256 = std::string(64, 'a');
  c.SessionEnded(e);
  SessionEnd killed = e;
  killed.exit_status.reset();
  killed.exit_signal = "KILL";
  c.SessionEnded(killed);

  EXPECT_EQ(Text().find("secret-value"), std::string::npos);
  std::vector<nlohmann::json> lines = Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["data"]["type"], "exec");
  EXPECT_EQ(lines[0]["data"]["env_names"], nlohmann::json({"LANG", "FOO", "BAR"}));
  EXPECT_EQ(lines[0]["data"]["term"], "xterm");
  EXPECT_EQ(lines[0]["data"]["pty"], true);
  EXPECT_EQ(lines[1]["data"]["exit_status"], 0);
  EXPECT_EQ(lines[1]["data"]["duration"], "1.500");
  EXPECT_EQ(lines[1]["data"]["bytes_in"], 5);
  EXPECT_EQ(lines[1]["data"]["recording_sha256"], std::string(64, 'a'));
  EXPECT_FALSE(lines[2]["data"].contains("exit_status"));
  EXPECT_EQ(lines[2]["data"]["exit_signal"], "KILL");
}

TEST_F(AuditTest, FileAndForwardEvents) {
  UseFile();
  ConnectionAudit c(NewConnectionId(), "127.0.0.1:1");
  c.File({FileOp::kWritten, "sftp", "/home/vcap/a", "", 1234, std::nullopt});
  c.File({FileOp::kRenamed, "sftp", "/a", "/b", 0, std::nullopt});
  c.File({FileOp::kSetstat, "scp", "/a", "", 0, 0100644});
  Forward f{ForwardKind::kLocal, 5, "10.0.0.1", 5432, "127.0.0.1:40000"};
  c.ForwardOpened(f);
  c.ForwardClosed(f, 10, 20, absl::Seconds(2));
  c.RecordingTruncated(1, "/r/x.cast", 4096);
  std::vector<nlohmann::json> lines = Lines();
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0]["message"], "sshd.audit.file.written");
  EXPECT_EQ(lines[0]["data"]["bytes"], 1234);
  EXPECT_EQ(lines[1]["data"]["new_path"], "/b");
  EXPECT_EQ(lines[2]["data"]["mode"], "0644");
  EXPECT_EQ(lines[3]["message"], "sshd.audit.forward.opened");
  EXPECT_EQ(lines[3]["data"]["kind"], "local");
  EXPECT_EQ(lines[4]["data"]["bytes_out"], 20);
  EXPECT_EQ(lines[5]["message"], "sshd.audit.recording.truncated");
}

TEST_F(AuditTest, InvalidUtf8InAPathStillGivesJson) {
  UseFile();
  ConnectionAudit(NewConnectionId(), "p").File(
      {FileOp::kRemoved, "sftp", std::string("/tmp/\xff\xfe"), "", 0, std::nullopt});
  ASSERT_EQ(Lines().size(), 1u);
}

TEST_F(AuditTest, NoneWritesNothing) {
  SetAuditSink(*AuditSink::Open("none"));
  EXPECT_EQ(AuditFd(), -1);
  ConnectionAudit(NewConnectionId(), "p").ConnectionEnded("x");
}

TEST(AuditIds, AreSixteenHexDigitsAndDiffer) {
  std::string a = NewConnectionId(), b = NewConnectionId();
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace hatch
