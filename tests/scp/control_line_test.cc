// The control-line parsers see bytes from the peer: every malformed shape is refused.
#include "sshd/scp/control_line.h"

#include "gtest/gtest.h"

namespace hatch::scp {
namespace {

TEST(ControlLine, ParsesFileLine) {
  absl::StatusOr<EntryLine> entry = ParseEntryLine("C0644 12345 name with spaces");
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_FALSE(entry->is_directory);
  EXPECT_EQ(entry->mode, 0644u);
  EXPECT_EQ(entry->size, 12345);
  EXPECT_EQ(entry->name, "name with spaces");
}

TEST(ControlLine, ParsesDirectoryLineWithSetIdBits) {
  absl::StatusOr<EntryLine> entry = ParseEntryLine("D4755 0 d");
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_TRUE(entry->is_directory);
  EXPECT_EQ(entry->mode, 04755u);
}

TEST(ControlLine, ParsesLargestSize) {
  absl::StatusOr<EntryLine> entry = ParseEntryLine("C0644 9223372036854775807 f");
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->size, INT64_MAX);
}

void ExpectEntryError(const std::string& line, const std::string& why) {
  absl::StatusOr<EntryLine> entry = ParseEntryLine(line);
  ASSERT_FALSE(entry.ok()) << line;
  EXPECT_EQ(entry.status().message(), why) << line;
}

TEST(ControlLine, RefusesMalformedEntryLines) {
  ExpectEntryError("X0644 1 f", "expected control record");
  ExpectEntryError("C0648 1 f", "bad mode");
  ExpectEntryError("C064 1 f", "bad mode");
  ExpectEntryError("C", "bad mode");
  ExpectEntryError("C06444 1 f", "mode not delimited");
  ExpectEntryError("C0644 f", "size not present");
  ExpectEntryError("C0644 -1 f", "size not present");
  ExpectEntryError("C0644 1", "size not delimited");
  ExpectEntryError("C0644 1x f", "size not delimited");
  ExpectEntryError("C0644 9223372036854775808 f", "size out of range");
  ExpectEntryError("C0644 99999999999999999999999 f", "size out of range");
}

TEST(ControlLine, ParsesTimesLine) {
  absl::StatusOr<TimesLine> times = ParseTimesLine("T1700000000 123456 1600000000 0");
  ASSERT_TRUE(times.ok()) << times.status();
  EXPECT_TRUE(times->in_range);
  EXPECT_EQ(times->mtime.tv_sec, 1700000000);
  EXPECT_EQ(times->mtime.tv_nsec, 123456000);
  EXPECT_EQ(times->atime.tv_sec, 1600000000);
  EXPECT_EQ(times->atime.tv_nsec, 0);
}

TEST(ControlLine, TimesBeyondTimeTAreIgnoredNotRefused) {
  absl::StatusOr<TimesLine> times = ParseTimesLine("T99999999999999999999999 0 1 0");
  ASSERT_TRUE(times.ok()) << times.status();
  EXPECT_FALSE(times->in_range);
}

void ExpectTimesError(const std::string& line, const std::string& why) {
  absl::StatusOr<TimesLine> times = ParseTimesLine(line);
  ASSERT_FALSE(times.ok()) << line;
  EXPECT_EQ(times.status().message(), why) << line;
}

TEST(ControlLine, RefusesMalformedTimesLines) {
  ExpectTimesError("T", "mtime.sec not present");
  ExpectTimesError("Tx 0 1 0", "mtime.sec not present");
  ExpectTimesError("T1", "mtime.sec not delimited");
  ExpectTimesError("T1 1000000 1 0", "mtime.usec not delimited");
  ExpectTimesError("T1 0", "mtime.usec not delimited");
  ExpectTimesError("T1 0 ", "atime.sec not present");
  ExpectTimesError("T1 0 1", "atime.sec not delimited");
  ExpectTimesError("T1 0 1 ", "atime.usec not delimited");
  ExpectTimesError("T1 0 1 0 ", "atime.usec not delimited");
  ExpectTimesError("T1 0 1 0x", "atime.usec not delimited");
}

TEST(ControlLine, EntryNamesThatLeaveTheTargetAreUnsafe) {
  EXPECT_TRUE(IsSafeEntryName("file"));
  EXPECT_TRUE(IsSafeEntryName("..."));
  EXPECT_TRUE(IsSafeEntryName(".hidden"));
  EXPECT_TRUE(IsSafeEntryName("a b 'c' \"d\""));
  EXPECT_FALSE(IsSafeEntryName(""));
  EXPECT_FALSE(IsSafeEntryName("."));
  EXPECT_FALSE(IsSafeEntryName(".."));
  EXPECT_FALSE(IsSafeEntryName("a/b"));
  EXPECT_FALSE(IsSafeEntryName("/etc"));
  EXPECT_FALSE(IsSafeEntryName(std::string("..\0x", 4)));
}

}  // namespace
}  // namespace hatch::scp
