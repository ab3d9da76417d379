// The small parts on their own: wire encoding, the handle table, paths, long names.
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "sshd/sftp/attrs.h"
#include "sshd/sftp/byte_buffer.h"
#include "sshd/sftp/handle_table.h"
#include "sshd/sftp/paths.h"
#include "sshd/sftp/protocol.h"
#include "sshd/sftp/wire.h"
#include "tests/sftp/test_client.h"

namespace hatch::sftp {
namespace {

using testing::TempDir;

TEST(SftpWireReader, TruncatedFieldFailsForGood) {
  const uint8_t bytes[] = {0, 0, 0, 5, 'a', 'b'};
  WireReader reader(bytes, sizeof bytes);
  EXPECT_EQ(reader.String(), "");
  EXPECT_FALSE(reader.ok());
  EXPECT_EQ(reader.U8(), 0);
  EXPECT_FALSE(reader.ok());
}

TEST(SftpWireReader, ReadsBigEndianFields) {
  const uint8_t bytes[] = {7, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 2, 'h', 'i'};
  WireReader reader(bytes, sizeof bytes);
  EXPECT_EQ(reader.U8(), 7);
  EXPECT_EQ(reader.U32(), 258u);
  EXPECT_EQ(reader.U64(), 9u);
  EXPECT_EQ(reader.String(), "hi");
  EXPECT_TRUE(reader.ok());
  EXPECT_EQ(reader.remaining(), 0u);
}

TEST(SftpReplyWriter, OverflowingReplyIsDroppedWhole) {
  ByteBuffer out(64);
  ReplyWriter writer(&out, 16);
  writer.Begin(kFxpData);
  writer.String(std::string(20, 'x'));
  EXPECT_FALSE(writer.Finish());
  EXPECT_TRUE(out.empty());
  writer.Begin(kFxpStatus);
  writer.U32(1);
  EXPECT_TRUE(writer.Finish());
  ASSERT_EQ(out.size(), 9u);
  EXPECT_EQ(LoadBigEndian32(out.data()), 5u);  // type + uint32
  EXPECT_EQ(out.data()[4], kFxpStatus);
}

TEST(SftpByteBuffer, CompactsToMakeTailRoom) {
  ByteBuffer buffer(8);
  std::memcpy(buffer.tail(), "abcdefgh", 8);
  buffer.Commit(8);
  buffer.Consume(6);
  EXPECT_EQ(buffer.tail_room(), 0u);
  EXPECT_TRUE(buffer.EnsureTailRoom(6));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buffer.data()), buffer.size()), "gh");
  EXPECT_FALSE(buffer.EnsureTailRoom(7));
}

TEST(SftpHandleTable, RefusesBeyondTheLimitAndClosesWhatItRefuses) {
  TempDir dir;
  testing::WriteFile(dir.Join("f"), "x");
  HandleTable table(2);
  const int before = testing::CountOpenFds();
  auto open_file = [&] {
    return OpenFile{UniqueFd(open(dir.Join("f").c_str(), O_RDONLY)), "f", false};
  };
  auto a = table.AddFile(open_file());
  auto b = table.AddFile(open_file());
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(table.AddFile(open_file()));
  EXPECT_EQ(testing::CountOpenFds(), before + 2);
  EXPECT_NE(table.File(*a), nullptr);
  EXPECT_EQ(table.Dir(*a), nullptr);
  EXPECT_EQ(table.Close(*a), 0);
  EXPECT_EQ(table.File(*a), nullptr);
  EXPECT_EQ(table.Close(*a), EBADF);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.File("short"), nullptr);
}

TEST(SftpPathResolver, RelativePathsJoinHome) {
  PathResolver paths("/home/vcap");
  EXPECT_EQ(paths.Absolute(""), "/home/vcap");
  EXPECT_EQ(paths.Absolute("app/x"), "/home/vcap/app/x");
  EXPECT_EQ(paths.Absolute("/etc"), "/etc");
}

TEST(SftpPathResolver, RelativeHomeIsTakenFromTheWorkingDirectory) {
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  PathResolver paths("some/dir");
  EXPECT_EQ(paths.home(), std::string(cwd) + "/some/dir");
  EXPECT_EQ(PathResolver("").home(), "/");
}

TEST(SftpPathResolver, RealPathResolvesDotsAndSymlinksAndAllowsAMissingLeaf) {
  TempDir dir;
  ASSERT_EQ(mkdir(dir.Join("a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir.Join("a/b").c_str(), 0755), 0);
  ASSERT_EQ(symlink("a/b", dir.Join("link").c_str()), 0);
  ASSERT_EQ(symlink(dir.Join("a").c_str(), dir.Join("abs").c_str()), 0);
  PathResolver paths(dir.path());
  std::string out;
  EXPECT_EQ(paths.RealPath("link/../b/./", &out), 0);
  EXPECT_EQ(out, dir.Join("a/b"));
  EXPECT_EQ(paths.RealPath("abs/b/new-file", &out), 0);
  EXPECT_EQ(out, dir.Join("a/b/new-file"));
  EXPECT_EQ(paths.RealPath("missing/deeper", &out), ENOENT);
  EXPECT_EQ(paths.RealPath("/..", &out), 0);
  EXPECT_EQ(out, "/");
  ASSERT_EQ(symlink("loop", dir.Join("loop").c_str()), 0);
  EXPECT_EQ(paths.RealPath("loop/x", &out), ELOOP);
}

TEST(SftpLongName, LooksLikeOpenSshSftpServers) {
  struct stat st = {};
  st.st_mode = S_IFREG | 0644;
  st.st_nlink = 1;
  st.st_uid = 0;
  st.st_gid = 0;
  st.st_size = 1234;
  st.st_mtime = 0;  // older than six months: the year is shown
  setenv("TZ", "UTC", 1);
  tzset();
  AccountNames accounts;
  EXPECT_EQ(LongName("file", st, &accounts, 1700000000),
            "-rw-r--r--    1 root     root         1234 Jan  1  1970 file");
  st.st_mode = S_IFDIR | 01777;
  st.st_uid = 4000000001u;
  st.st_mtime = 1700000000 - 3600;
  EXPECT_EQ(LongName("tmp", st, &accounts, 1700000000),
            "drwxrwxrwt    1 4000000001 root         1234 Nov 14 21:13 tmp");
  st.st_mode = S_IFREG | 06744;
  EXPECT_EQ(LongName("s", st, &accounts, 1700000000).substr(0, 10), "-rwsr-Sr--");
}

}  // namespace
}  // namespace hatch::sftp
