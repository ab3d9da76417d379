// The audit trail's file events from scp (sshd/file_observer.h): one per file received or
// sent, with absolute paths.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sshd/file_observer.h"
#include "sshd/scp/scp.h"
#include "tests/scp/scp_harness.h"

namespace hatch::scp {
namespace {

using testing::RunScpWithInput;
using testing::ScopedUmask;
using testing::ScpRun;
using testing::TempDir;
using testing::WriteFile;

const std::string kOk(1, '\0');

// RunScp runs on the calling thread: no locking needed.
class Events : public FileObserver {
 public:
  void OnFileEvent(const FileEvent& e) override { events.push_back(e); }
  std::vector<FileEvent> events;
};

class ScpFileEvents : public ::testing::Test {
 protected:
  ScpRun Run(std::vector<std::string> args, const std::string& input) {
    args.insert(args.begin(), "scp");
    return RunScpWithInput(args, input, options_);
  }
  TempDir dir_;
  Events events_;
  ScpOptions options_{.home = dir_.path(), .observer = &events_};
  ScopedUmask umask_{022};
};

TEST_F(ScpFileEvents, UploadReportsCreatedAndWrittenWithTheBytes) {
  ScpRun run = Run({"-t", "."}, "C0644 5 a.txt\nhello" + kOk);
  ASSERT_EQ(run.status, 0);
  ASSERT_EQ(events_.events.size(), 2u);
  EXPECT_EQ(events_.events[0].op, FileOp::kCreated);
  EXPECT_EQ(events_.events[0].path, dir_ / "a.txt");
  EXPECT_EQ(events_.events[0].protocol, "scp");
  EXPECT_EQ(events_.events[1].op, FileOp::kWritten);
  EXPECT_EQ(events_.events[1].bytes, 5u);
}

TEST_F(ScpFileEvents, RecursiveUploadReportsTheDirectory) {
  ScpRun run = Run({"-r", "-t", "."}, "D0755 0 d\nC0600 1 f\nx" + kOk + "E\n");
  ASSERT_EQ(run.status, 0) << run.errors;
  ASSERT_EQ(events_.events.size(), 3u);
  EXPECT_EQ(events_.events[0].op, FileOp::kMkdir);
  EXPECT_EQ(events_.events[0].path, dir_ / "d");
  EXPECT_EQ(events_.events[2].path, dir_ / "d/f");
}

TEST_F(ScpFileEvents, DownloadReportsOneReadWithTheBytes) {
  WriteFile(dir_ / "big", std::string(70000, 'z'));
  ScpRun run = Run({"-f", "big"}, std::string(3, '\0'));
  ASSERT_EQ(run.status, 0);
  ASSERT_EQ(events_.events.size(), 1u);
  EXPECT_EQ(events_.events[0].op, FileOp::kRead);
  EXPECT_EQ(events_.events[0].path, dir_ / "big");
  EXPECT_EQ(events_.events[0].bytes, 70000u);
}

}  // namespace
}  // namespace hatch::scp
