#include "sshd/recording.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hatch {
namespace {

std::string Escape(absl::string_view bytes, size_t split = 0) {
  Utf8JsonEscaper e;
  std::string out;
  if (split == 0) {
    e.Append(bytes, &out);
  } else {
    for (size_t i = 0; i < bytes.size(); i += split) e.Append(bytes.substr(i, split), &out);
  }
  e.Flush(&out);
  return out;
}

// What a JSON parser makes of the escaped text.
std::string Decoded(const std::string& escaped) {
  return nlohmann::json::parse("\"" + escaped + "\"").get<std::string>();
}

TEST(Utf8JsonEscaper, EscapesJsonSpecialsAndControls) {
  EXPECT_EQ(Escape("a\"b\\c\n\r\t\x1b[0m\x7f"), "a\\\"b\\\\c\\n\\r\\t\\u001b[0m\\u007f");
}

TEST(Utf8JsonEscaper, KeepsValidUtf8SplitAcrossChunks) {
  const std::string text = "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80!";  // héllo € 😀!
  for (size_t split = 1; split <= 4; ++split) {
    EXPECT_EQ(Decoded(Escape(text, split)), text) << "split " << split;
  }
}

TEST(Utf8JsonEscaper, ReplacesInvalidBytes) {
  EXPECT_EQ(Decoded(Escape("a\xff" "b")), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(Decoded(Escape("\xC0\xAF")), "\xEF\xBF\xBD\xEF\xBF\xBD");      // overlong
  EXPECT_EQ(Decoded(Escape("\xED\xA0\x80")), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(Decoded(Escape("\xE2\x82" "x")), "\xEF\xBF\xBD" "x");  // one per maximal subpart
  EXPECT_EQ(Decoded(Escape("\xE2\x82")), "\xEF\xBF\xBD");  // cut short at the end
  // An incomplete sequence followed by ASCII: one replacement, the ASCII kept.
  EXPECT_EQ(Decoded(Escape("\xE2\x82" "x", 2)), "\xEF\xBF\xBD" "x");
}

TEST(Utf8JsonEscaper, AnyBytesGiveValidJson) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t split : {0, 1, 3, 7}) {
    EXPECT_NO_THROW(Decoded(Escape(all + all, split))) << split;
  }
}

class RecordingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/recording_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<SessionRecording> Make(uint64_t max_bytes = 1 << 20) {
    RecordingHeader h;
    h.width = 100;
    h.height = 30;
    h.term = "xterm-256color";
    h.shell = "/bin/bash";
    h.title = "vcap@127.0.0.1";
    absl::StatusOr<std::unique_ptr<SessionRecording>> r =
        SessionRecording::Create(dir_, "00112233aabbccdd", 7, h, max_bytes);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static std::vector<nlohmann::json> Lines(const std::string& path) {
    std::vector<nlohmann::json> out;
    std::istringstream in(Read(path));
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  static std::string Sha256(const std::string& data) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), d, &n, EVP_sha256(), nullptr);
    std::string hex;
    char b[3];
    for (unsigned int i = 0; i < n; ++i) {
      snprintf(b, sizeof b, "%02x", d[i]);
      hex += b;
    }
    return hex;
  }
  std::string dir_;
};

TEST_F(RecordingTest, WritesAsciicastV2) {
  std::unique_ptr<SessionRecording> r = Make();
  ASSERT_NE(r, nullptr);
  r->Output("$ ");
  r->Input("ls\r");
  r->Resize(120, 40);
  r->Output("a\r\nb\r\n");
  r->Close();
  EXPECT_EQ(r->state(), SessionRecording::State::kClosed);

  const std::string name = std::filesystem::path(r->path()).filename();
  EXPECT_NE(name.find("-00112233aabbccdd-7.cast"), std::string::npos) << name;
  struct stat st {};
  ASSERT_EQ(stat(r->path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  std::vector<nlohmann::json> l = Lines(r->path());
  ASSERT_EQ(l.size(), 5u);
  EXPECT_EQ(l[0]["version"], 2);
  EXPECT_EQ(l[0]["width"], 100);
  EXPECT_EQ(l[0]["height"], 30);
  EXPECT_TRUE(l[0]["timestamp"].is_number_integer());
  EXPECT_EQ(l[0]["env"]["TERM"], "xterm-256color");
  EXPECT_EQ(l[0]["env"]["SHELL"], "/bin/bash");
  EXPECT_EQ(l[1][1], "o");
  EXPECT_EQ(l[1][2], "$ ");
  EXPECT_EQ(l[2][1], "i");
  EXPECT_EQ(l[2][2], "ls\r");
  EXPECT_EQ(l[3][1], "r");
  EXPECT_EQ(l[3][2], "120x40");
  EXPECT_EQ(l[4][2], "a\r\nb\r\n");
  double last = 0;
  for (size_t i = 1; i < l.size(); ++i) {
    ASSERT_TRUE(l[i][0].is_number());
    EXPECT_GE(l[i][0].get<double>(), last);
    last = l[i][0].get<double>();
  }
}

TEST_F(RecordingTest, Sha256IsTheFilesAsWritten) {
  std::unique_ptr<SessionRecording> r = Make();
  ASSERT_NE(r, nullptr);
  for (int i = 0; i < 100; ++i) r->Output("line \xE2\x82");  // split € pairs, then
  r->Output("\xAC");
  r->Close();
  const std::string data = Read(r->path());
  EXPECT_EQ(r->Sha256Hex(), Sha256(data));
  EXPECT_EQ(r->bytes_written(), data.size());
}

TEST_F(RecordingTest, StopsAtTheCapWithAMarkerAndStaysValid) {
  std::unique_ptr<SessionRecording> r = Make(8192);
  ASSERT_NE(r, nullptr);
  const std::string chunk(1000, 'x');
  for (int i = 0; i < 20; ++i) r->Output(chunk);
  EXPECT_EQ(r->state(), SessionRecording::State::kCapped);
  r->Output("after");  // dropped
  r->Close();
  const std::string data = Read(r->path());
  EXPECT_LE(data.size(), 8192u);
  EXPECT_EQ(r->Sha256Hex(), Sha256(data));
  std::vector<nlohmann::json> l = Lines(r->path());
  ASSERT_GE(l.size(), 3u);
  EXPECT_NE(l.back()[2].get<std::string>().find("recording stopped: size limit"), std::string::npos);
  EXPECT_EQ(data.find("after"), std::string::npos);
}

TEST_F(RecordingTest, CapBelowMinimumIsRefused) {
  RecordingHeader h;
  EXPECT_FALSE(SessionRecording::Create(dir_, "id", 0, h, 100).ok());
}

TEST_F(RecordingTest, MissingDirectoryIsAnError) {
  RecordingHeader h;
  EXPECT_FALSE(SessionRecording::Create(dir_ + "/nope", "id", 0, h, 1 << 20).ok());
}

// A file size limit makes write(2) fail as a full disk does: the recording stops, the file
// keeps only whole lines, and the hash still matches it. Runs in a child (setrlimit).
TEST_F(RecordingTest, WriteErrorStopsRecordingAndKeepsTheFileValid) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim{3000, 3000};
    setrlimit(RLIMIT_FSIZE, &lim);
    std::unique_ptr<SessionRecording> r = Make();
    if (r == nullptr) _exit(10);
    for (int i = 0; i < 100; ++i) r->Output(std::string(100, 'y'));
    if (r->state() != SessionRecording::State::kFailed) _exit(11);
    if (r->error().empty()) _exit(12);
    const std::string data = Read(r->path());
    if (data.size() > 3000 || data.back() != '\n') _exit(13);
    if (r->Sha256Hex() != Sha256(data)) _exit(14);
    try {
      Lines(r->path());
    } catch (...) {
      _exit(15);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace hatch
