// The source (scp -f) driven with hand-written replies from the peer.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "sshd/scp/scp.h"
#include "tests/scp/scp_harness.h"

namespace hatch::scp {
namespace {

using testing::ReadFile;
using testing::RunScpWithInput;
using testing::ScpRun;
using testing::TempDir;
using testing::WriteFile;

const std::string kOk(1, '\0');

std::string Oks(int n) { return std::string(static_cast<size_t>(n), '\0'); }

void SetTimes(const std::string& path, time_t mtime, time_t atime) {
  struct timespec ts[2] = {{atime, 0}, {mtime, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, 0), 0);
}

class Source : public ::testing::Test {
 protected:
  // `replies` is everything the peer sends: its ready byte first, then one reply per line.
  ScpRun Run(std::vector<std::string> args, const std::string& replies) {
    args.insert(args.begin(), "scp");
    return RunScpWithInput(args, replies, options_);
  }
  std::string Path(const std::string& name) const { return dir_ / name; }

  TempDir dir_;
  ScpOptions options_{.home = dir_.path()};
};

TEST_F(Source, SendsFileWithCLineAndData) {
  WriteFile(Path("a.txt"), "hello", 0640);
  ScpRun run = Run({"-f", "--", "a.txt"}, Oks(3));
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, "C0640 5 a.txt\nhello" + kOk);
}

TEST_F(Source, SendsBaseNameOfAbsolutePathAndStripsTrailingSlashes) {
  WriteFile(Path("a.txt"), "x");
  ScpRun run = Run({"-f", Path("a.txt")}, Oks(3));
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, "C0644 1 a.txt\nx" + kOk);
}

TEST_F(Source, WaitsForThePeerBeforeSending) {
  WriteFile(Path("a"), "x");
  ScpRun run = Run({"-f", "a"}, "");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "");
}

TEST_F(Source, PreserveSendsTimesBeforeTheFile) {
  WriteFile(Path("a"), "x", 0600);
  SetTimes(Path("a"), 1234567890, 1000000000);
  ScpRun run = Run({"-p", "-f", "a"}, Oks(4));
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, "T1234567890 0 1000000000 0\nC0600 1 a\nx" + kOk);
}

TEST_F(Source, SendsSetIdBitsButNotTheStickyBit) {
  WriteFile(Path("a"), "");
  ASSERT_EQ(::chmod(Path("a").c_str(), 07755), 0);
  ScpRun run = Run({"-f", "a"}, Oks(3));
  EXPECT_EQ(run.output, "C6755 0 a\n" + kOk);
}

TEST_F(Source, SendsDirectoryTreeWithRecursiveFlag) {
  ASSERT_EQ(::mkdir(Path("d").c_str(), 0750), 0);
  ASSERT_EQ(::mkdir(Path("d/e").c_str(), 0700), 0);
  WriteFile(Path("d/e/f"), "abc");
  ScpRun run = Run({"-r", "-f", "d"}, Oks(7));
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, "D0750 0 d\nD0700 0 e\nC0644 3 f\nabc" + kOk + "E\nE\n");
}

TEST_F(Source, PreserveSendsTimesForDirectories) {
  ASSERT_EQ(::mkdir(Path("d").c_str(), 0755), 0);
  SetTimes(Path("d"), 1111111111, 1222222222);
  ScpRun run = Run({"-r", "-p", "-f", "d/"}, Oks(4));
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, "T1111111111 0 1222222222 0\nD0755 0 d\nE\n");
}

TEST_F(Source, DirectoryWithoutRecursiveFlagIsNotARegularFile) {
  ASSERT_EQ(::mkdir(Path("d").c_str(), 0755), 0);
  ScpRun run = Run({"-f", "d"}, kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "\x01scp: d: not a regular file\n");
}

TEST_F(Source, FifoIsNotARegularFileAndDoesNotHang) {
  ASSERT_EQ(::mkfifo(Path("fifo").c_str(), 0644), 0);
  ScpRun run = Run({"-f", "fifo"}, kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "\x01scp: fifo: not a regular file\n");
}

TEST_F(Source, MissingSourceIsReportedAndOthersAreStillSent) {
  WriteFile(Path("a"), "1");
  WriteFile(Path("b"), "2");
  ScpRun run = Run({"-f", "a", "missing", "b"}, Oks(5));
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "C0644 1 a\n1" + kOk +
                            "\x01scp: missing: No such file or directory\n"
                            "C0644 1 b\n2" + kOk);
}

TEST_F(Source, GlobsOperandsInSortedOrder) {
  WriteFile(Path("b.txt"), "b");
  WriteFile(Path("a.txt"), "a");
  WriteFile(Path("c.log"), "c");
  ScpRun run = Run({"-f", "*.txt"}, Oks(5));
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, "C0644 1 a.txt\na" + kOk + "C0644 1 b.txt\nb" + kOk);
}

TEST_F(Source, GlobWithoutMatchIsNoSuchFile) {
  ScpRun run = Run({"-f", "*.none"}, kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "\x01scp: *.none: No such file or directory\n");
}

TEST_F(Source, ExistingNameWithGlobCharactersIsTakenLiterally) {
  WriteFile(Path("x*y"), "star");
  WriteFile(Path("xay"), "other");
  ScpRun run = Run({"-f", "x*y"}, Oks(3));
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, "C0644 4 x*y\nstar" + kOk);
}

TEST_F(Source, NamesWithSpacesAndQuotes) {
  const std::string name = "it's a \"quoted\" name.txt";
  WriteFile(Path(name), "q");
  ScpRun run = Run({"-f", name}, Oks(3));
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, "C0644 1 " + name + "\nq" + kOk);
}

TEST_F(Source, NameWithNewlineIsSentEncodedAsOpenSshDoes) {
  WriteFile(Path("a\nb\\c\x01\xc3\xa9"), "x");
  ScpRun run = Run({"-f", "a\nb\\c\x01\xc3\xa9"}, Oks(3));
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, "C0644 1 a\\^Jb\\\\c\\^A\\M-C\\M-)\nx" + kOk);
  run = Run({"-f", "missing\nname"}, kOk);
  EXPECT_EQ(run.output, "\x01scp: missing\\^Jname: No such file or directory\n");
}

TEST_F(Source, TildeResolvesToHome) {
  WriteFile(Path("a"), "x");
  ScpRun run = Run({"-f", "~/a"}, Oks(3));
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.output, "C0644 1 a\nx" + kOk);
}

TEST_F(Source, PeerRefusingAFileSkipsItsData) {
  WriteFile(Path("a"), "1");
  WriteFile(Path("b"), "2");
  ScpRun run = Run({"-f", "a", "b"}, kOk + "\x01scp: a: Permission denied\n" + Oks(2));
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "C0644 1 a\nC0644 1 b\n2" + kOk);
}

TEST_F(Source, PeerFatalReplyEndsTheTransfer) {
  WriteFile(Path("a"), "1");
  WriteFile(Path("b"), "2");
  ScpRun run = Run({"-f", "a", "b"}, kOk + "\x02scp: fatal\n");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "C0644 1 a\n");
}

TEST_F(Source, LostPeerEndsTheTransfer) {
  WriteFile(Path("a"), "1");
  WriteFile(Path("b"), "2");
  ScpRun run = Run({"-f", "a", "b"}, kOk);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "C0644 1 a\n");
}

TEST_F(Source, LargeFileStreamsExactly) {
  std::string data(5 * 1024 * 1024 + 3, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 65536);
  WriteFile(Path("big"), data);
  ScpRun run = Run({"-f", "big"}, Oks(3));
  EXPECT_EQ(run.status, 0);
  const std::string header = "C0644 " + std::to_string(data.size()) + " big\n";
  EXPECT_TRUE(run.output == header + data + kOk) << run.output.size();
}

TEST_F(Source, VerboseLogsLinesToErrorFd) {
  WriteFile(Path("a"), "x");
  ScpRun run = Run({"-v", "-q", "-f", "a"}, Oks(3));
  EXPECT_EQ(run.status, 0);
  EXPECT_NE(run.errors.find("Sending file modes: C0644 1 a\n"), std::string::npos);
}

TEST_F(Source, SourceStillWorksReadOnly) {
  options_.read_only = true;
  WriteFile(Path("a"), "x");
  EXPECT_EQ(Run({"-f", "a"}, Oks(3)).status, 0);
}

TEST(ScpCommandLine, UnknownOptionIsAClearError) {
  ScpRun run = RunScpWithInput({"scp", "-z", "-t", "."}, "", {});
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.output, "");
  EXPECT_EQ(run.errors.rfind("scp: unknown option -- z\nusage: scp", 0), 0u) << run.errors;
}

TEST(ScpCommandLine, NeedsExactlyOneOfSinkAndSource) {
  ScpRun run = RunScpWithInput({"scp", "-r", "."}, "", {});
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.errors.find("exactly one of -t and -f"), std::string::npos);
  run = RunScpWithInput({"scp", "-tf", "."}, "", {});
  EXPECT_EQ(run.status, 1);
}

TEST(ScpCommandLine, RestoresTheWorkingDirectory) {
  TempDir dir;
  char before[4096], after[4096];
  ASSERT_NE(::getcwd(before, sizeof before), nullptr);
  RunScpWithInput({"scp", "-t", "."}, "", {.home = dir.path()});
  ASSERT_NE(::getcwd(after, sizeof after), nullptr);
  EXPECT_STREQ(before, after);
}

}  // namespace
}  // namespace hatch::scp
