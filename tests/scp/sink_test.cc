// The sink (scp -t) driven with hand-written protocol bytes from the peer.
#include <sys/stat.h>
#include <utime.h>

#include <string>

#include "gtest/gtest.h"
#include "sshd/scp/scp.h"
#include "tests/scp/scp_harness.h"

namespace hatch::scp {
namespace {

using testing::Exists;
using testing::ModeOf;
using testing::ReadFile;
using testing::RunScpWithInput;
using testing::ScopedUmask;
using testing::ScpRun;
using testing::TempDir;
using testing::WriteFile;

const std::string kOk(1, '\0');

std::string Oks(int n) { return std::string(static_cast<size_t>(n), '\0'); }

class Sink : public ::testing::Test {
 protected:
  ScpRun Run(std::vector<std::string> flags, const std::string& input) {
    std::vector<std::string> args = {"scp"};
    args.insert(args.end(), flags.begin(), flags.end());
    return RunScpWithInput(args, input, options_);
  }
  std::string Path(const std::string& name) const { return dir_ / name; }

  TempDir dir_;
  ScpOptions options_{.home = dir_.path()};
  ScopedUmask umask_{022};
};

TEST_F(Sink, WritesFileFromCLine) {
  ScpRun run = Run({"-t", "--", "."}, "C0644 5 a.txt\nhello" + kOk);
  EXPECT_EQ(run.status, 0);
  // Ready, file accepted, file written.
  EXPECT_EQ(run.output, Oks(3));
  EXPECT_EQ(ReadFile(Path("a.txt")), "hello");
  EXPECT_EQ(ModeOf(Path("a.txt")), 0644u);
}

TEST_F(Sink, EmptyInputIsASuccessfulEmptyTransfer) {
  ScpRun run = Run({"-t", "."}, "");
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, kOk);
}

TEST_F(Sink, WritesToTargetFileNameWhenTargetIsNotADirectory) {
  ScpRun run = Run({"-t", "renamed"}, "C0644 3 original\nabc" + kOk);
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(ReadFile(Path("renamed")), "abc");
  EXPECT_FALSE(Exists(Path("original")));
}

TEST_F(Sink, RelativeAndTildeTargetsResolveFromHome) {
  ASSERT_EQ(::mkdir(Path("sub").c_str(), 0755), 0);
  EXPECT_EQ(Run({"-t", "sub"}, "C0644 1 a\nx" + kOk).status, 0);
  EXPECT_EQ(Run({"-t", "~/sub"}, "C0644 1 b\ny" + kOk).status, 0);
  EXPECT_EQ(Run({"-t", "~"}, "C0644 1 c\nz" + kOk).status, 0);
  EXPECT_EQ(ReadFile(Path("sub/a")), "x");
  EXPECT_EQ(ReadFile(Path("sub/b")), "y");
  EXPECT_EQ(ReadFile(Path("c")), "z");
}

TEST_F(Sink, ReplacesContentOfLongerExistingFile) {
  WriteFile(Path("a"), "a much longer old content");
  EXPECT_EQ(Run({"-t", "."}, "C0644 3 a\nnew" + kOk).status, 0);
  EXPECT_EQ(ReadFile(Path("a")), "new");
}

TEST_F(Sink, NewFileModeHonoursUmask) {
  ScopedUmask umask(027);
  EXPECT_EQ(Run({"-t", "."}, "C0666 0 a\n" + kOk).status, 0);
  EXPECT_EQ(ModeOf(Path("a")), 0640u);
}

TEST_F(Sink, NewFileWithoutOwnerWriteGetsTheSentMode) {
  EXPECT_EQ(Run({"-t", "."}, "C0444 2 ro\nhi" + kOk).status, 0);
  EXPECT_EQ(ModeOf(Path("ro")), 0444u);
  EXPECT_EQ(ReadFile(Path("ro")), "hi");
}

TEST_F(Sink, SetIdBitsAreDroppedWithoutP) {
  EXPECT_EQ(Run({"-t", "."}, "C6755 0 a\n" + kOk).status, 0);
  EXPECT_EQ(ModeOf(Path("a")), 0755u);
}

TEST_F(Sink, TargetModeKeepsModeOfExistingFileWithoutP) {
  WriteFile(Path("a"), "old", 0600);
  EXPECT_EQ(Run({"-t", "."}, "C0755 3 a\nnew" + kOk).status, 0);
  EXPECT_EQ(ModeOf(Path("a")), 0600u);
  EXPECT_EQ(ReadFile(Path("a")), "new");
}

TEST_F(Sink, PreserveSetsExactModeOfExistingFile) {
  WriteFile(Path("a"), "old", 0600);
  EXPECT_EQ(Run({"-p", "-t", "."}, "C0755 3 a\nnew" + kOk).status, 0);
  EXPECT_EQ(ModeOf(Path("a")), 0755u);
}

TEST_F(Sink, PreserveIgnoresUmaskAndKeepsSetIdBits) {
  ScopedUmask umask(077);
  EXPECT_EQ(Run({"-pt", "."}, "C2755 0 a\n" + kOk).status, 0);
  EXPECT_EQ(ModeOf(Path("a")), 02755u);
}

TEST_F(Sink, PreserveSetsTimesFromTLine) {
  ScpRun run = Run({"-p", "-t", "."}, "T1234567890 0 1000000000 500000\nC0644 1 a\nx" + kOk);
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, Oks(4));
  struct stat st;
  ASSERT_EQ(::stat(Path("a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567890);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 500000000);
}

TEST_F(Sink, TLineAppliesOnlyToTheNextEntry) {
  ScpRun run = Run({"-t", "."}, "T1234567890 0 1234567890 0\nC0644 1 a\nx" + kOk +
                                   "C0644 1 b\ny" + kOk);
  EXPECT_EQ(run.status, 0);
  struct stat st;
  ASSERT_EQ(::stat(Path("a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567890);
  ASSERT_EQ(::stat(Path("b").c_str(), &st), 0);
  EXPECT_NE(st.st_mtim.tv_sec, 1234567890);
}

TEST_F(Sink, ReceivesRecursiveDirectories) {
  std::string input = "D0755 0 top\n" "C0644 3 f1\nabc" + kOk +
                      "D0700 0 inner\n" "C0600 0 empty\n" + kOk + "E\n" +
                      "E\n" "C0644 1 after\nz" + kOk;
  ScpRun run = Run({"-r", "-t", "."}, input);
  EXPECT_EQ(run.status, 0) << run.output;
  // ready, D(ready), C, data, D(ready), C, data, E, E, C, data
  EXPECT_EQ(run.output, Oks(11));
  EXPECT_EQ(ReadFile(Path("top/f1")), "abc");
  EXPECT_EQ(ReadFile(Path("top/inner/empty")), "");
  EXPECT_EQ(ModeOf(Path("top/inner")), 0700u);
  EXPECT_EQ(ReadFile(Path("after")), "z");
}

TEST_F(Sink, RecursiveIntoExistingDirectoryWithTimes) {
  ASSERT_EQ(::mkdir(Path("top").c_str(), 0755), 0);
  ScpRun run = Run({"-r", "-p", "-t", "."},
                   "T1111111111 0 1111111111 0\nD0750 0 top\nC0644 1 f\nx" + kOk + "E\n");
  EXPECT_EQ(run.status, 0);
  struct stat st;
  ASSERT_EQ(::stat(Path("top").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1111111111);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

TEST_F(Sink, ReadOnlyDirectoryFromPeerIsFilledThenMadeReadOnly) {
  ScpRun run = Run({"-r", "-t", "."}, "D0555 0 ro\nC0644 1 f\nx" + kOk + "E\n");
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(ReadFile(Path("ro/f")), "x");
  EXPECT_EQ(ModeOf(Path("ro")), 0555u);
}

TEST_F(Sink, DirectoryLineOverAFileIsAnErrorButGoesOn) {
  WriteFile(Path("d"), "file");
  ScpRun run = Run({"-r", "-t", "."}, "D0755 0 d\nC0644 1 f\nx" + kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk + "\x01scp: ./d: Not a directory\n" + Oks(2));
  EXPECT_EQ(ReadFile(Path("f")), "x");
}

TEST_F(Sink, DirectoryWithoutRecursiveFlagIsAProtocolError) {
  ScpRun run = Run({"-t", "."}, "D0755 0 d\nE\n");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk + "\x01scp: protocol error: received directory without -r\n");
  EXPECT_FALSE(Exists(Path("d")));
}

TEST_F(Sink, RefusesDotDotInDirectoryLine) {
  TempDir outer;
  options_.home = outer / "home";
  ASSERT_EQ(::mkdir(options_.home.c_str(), 0755), 0);
  ScpRun run = Run({"-r", "-t", "."}, "D0755 0 ..\nC0644 3 escaped\nbad" + kOk + "E\n");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk + "\x01scp: error: unexpected filename: ..\n");
  EXPECT_FALSE(Exists(outer / "escaped"));
}

TEST_F(Sink, RefusesDotDirectoryLine) {
  ScpRun run = Run({"-r", "-t", "sub"}, "D0755 0 .\nE\n");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk + "\x01scp: error: unexpected filename: .\n");
}

TEST_F(Sink, RefusesSlashInFileLine) {
  TempDir outer;
  options_.home = outer / "home";
  ASSERT_EQ(::mkdir(options_.home.c_str(), 0755), 0);
  ScpRun run = Run({"-t", "."}, "C0644 3 ../escaped\nbad" + kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk + "\x01scp: error: unexpected filename: ../escaped\n");
  EXPECT_FALSE(Exists(outer / "escaped"));
}

TEST_F(Sink, RefusesAbsoluteNameInFileLine) {
  ScpRun run = Run({"-t", "."}, "C0644 3 /tmp/escaped\nbad" + kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk + "\x01scp: error: unexpected filename: /tmp/escaped\n");
}

TEST_F(Sink, RefusesEmptyNameInFileLine) {
  ScpRun run = Run({"-t", "."}, "C0644 0 \n");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk + "\x01scp: error: unexpected filename: \n");
}

TEST_F(Sink, RefusesNulByteHidingDotDotInDirectoryLine) {
  TempDir outer;
  options_.home = outer / "home";
  ASSERT_EQ(::mkdir(options_.home.c_str(), 0755), 0);
  ScpRun run = Run({"-r", "-t", "."},
                   std::string("D0755 0 ..\0x\n", 13) + "C0644 1 escaped\nb" + kOk + "E\n");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk + "\x01scp: error: unexpected filename: " + std::string("..\0x\n", 5));
  EXPECT_FALSE(Exists(outer / "escaped"));
}

TEST_F(Sink, MalformedLinesAreProtocolErrors) {
  struct Case {
    std::string input;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"C0844 1 a\nx", "bad mode"},
           {"C0644 x a\n", "size not present"},
           {"C0644 1\n", "size not delimited"},
           {"C0644 99999999999999999999 a\n", "size out of range"},
           {"T1 0 x 0\n", "atime.sec not present"},
           {"\n", "unexpected <newline>"},
           {"C0644 0 a\n" + kOk + "Z junk\n", "expected control record"},
           {"C0644 3 a", "lost connection"},
           {std::string(3000, 'C'), "control record too long"},
       }) {
    ScpRun run = Run({"-t", "."}, c.input);
    EXPECT_EQ(run.status, 1) << c.why;
    EXPECT_EQ(run.output.substr(run.output.find('\x01')),
              "\x01scp: protocol error: " + c.why + "\n");
  }
}

TEST_F(Sink, FirstLineThatIsNoRecordIsPassedOnAsTheError) {
  ScpRun run = Run({"-t", "."}, "No match.\n");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk + "\x01scp: No match.\n");
}

TEST_F(Sink, TruncatedDataIsFatalAndKeepsWhatArrived) {
  ScpRun run = Run({"-t", "."}, "C0644 10 a\nhel");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, Oks(2) + "\x01scp: dropped connection\n");
  EXPECT_EQ(ReadFile(Path("a")), "hel");
}

TEST_F(Sink, MissingFinalReplyFromPeerIsFatal) {
  ScpRun run = Run({"-t", "."}, "C0644 3 a\nabc");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, Oks(2));
}

TEST_F(Sink, WriteErrorIsReportedAfterTheDataAndTheTransferGoesOn) {
  ScpRun run = Run({"-t", "/dev/full"}, "C0644 5 a\nhello" + kOk + "C0644 1 b\nx" + kOk);
  EXPECT_EQ(run.status, 1);
  const std::string error = "\x01scp: /dev/full: No space left on device\n";
  EXPECT_EQ(run.output, Oks(2) + error + kOk + error);
}

TEST_F(Sink, OpenErrorRefusesTheFile) {
  ScpRun run = Run({"-t", "missing/dir/x"}, "C0644 5 a\n");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk + "\x01scp: missing/dir/x: No such file or directory\n");
}

TEST_F(Sink, PeerWarningCountsAsErrorButTransferGoesOn) {
  ScpRun run = Run({"-t", "."}, "\x01scp: x: No such file or directory\nC0644 1 a\nx" + kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, Oks(3));
  EXPECT_EQ(ReadFile(Path("a")), "x");
}

TEST_F(Sink, PeerFatalErrorEndsTheTransfer) {
  ScpRun run = Run({"-t", "."}, "\x02scp: fatal\nC0644 1 a\nx" + kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, kOk);
  EXPECT_FALSE(Exists(Path("a")));
}

TEST_F(Sink, PeerErrorAfterDataIsCounted) {
  ScpRun run = Run({"-t", "."}, "C0644 1 a\nx\x01scp: a: read error\n");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, Oks(3));
}

TEST_F(Sink, TargetMustBeDirectoryWithD) {
  WriteFile(Path("file"), "");
  ScpRun run = Run({"-d", "-t", "file"}, "C0644 1 a\nx" + kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "\x01scp: file: Not a directory\n");
  run = Run({"-d", "-t", "nowhere"}, "");
  EXPECT_EQ(run.output, "\x01scp: nowhere: No such file or directory\n");
  ASSERT_EQ(::mkdir(Path("dir").c_str(), 0755), 0);
  run = Run({"-d", "-t", "dir"}, "C0644 1 a\nx" + kOk);
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(ReadFile(Path("dir/a")), "x");
}

TEST_F(Sink, MoreThanOneTargetIsAmbiguous) {
  ScpRun run = Run({"-t", "a", "b"}, "");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "\x01scp: ambiguous target\n");
}

TEST_F(Sink, ReadOnlyRefusesUploads) {
  options_.read_only = true;
  ScpRun run = Run({"-t", "."}, "C0644 1 a\nx" + kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "\x01scp: .: Read-only file system\n");
  EXPECT_FALSE(Exists(Path("a")));
}

TEST_F(Sink, LargeFileCrossesManyBuffers) {
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + i / 4096);
  ScpRun run = Run({"-t", "."}, "C0644 " + std::to_string(data.size()) + " big\n" + data + kOk);
  EXPECT_EQ(run.status, 0);
  EXPECT_TRUE(ReadFile(Path("big")) == data);
}

TEST_F(Sink, VerboseLogsLinesToErrorFd) {
  ScpRun run = Run({"-v", "-t", "."}, "C0644 1 a\nx" + kOk);
  EXPECT_EQ(run.status, 0);
  EXPECT_NE(run.errors.find("Sink: C0644 1 a\n"), std::string::npos) << run.errors;
}

TEST_F(Sink, HomeThatCannotBeEnteredIsReported) {
  options_.home = dir_ / "missing";
  ScpRun run = Run({"-t", "."}, "");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "\x01scp: " + options_.home + ": No such file or directory\n");
}

}  // namespace
}  // namespace hatch::scp
