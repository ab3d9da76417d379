#include "lifecycle/credhub_flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hatch::lifecycle {
namespace {

using ::testing::HasSubstr;

TEST(CredhubFlags, DefaultsToThreeAttemptsOneSecondApart) {
  auto flags = ParseCredhubFlags({});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->connect_attempts, 3);
  EXPECT_EQ(flags->retry_delay, absl::Seconds(1));
}

TEST(CredhubFlags, AcceptsGoFlagForms) {
  auto flags = ParseCredhubFlags({"-credhubConnectAttempts=5", "--credhubRetryDelay", "250ms"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->connect_attempts, 5);
  EXPECT_EQ(flags->retry_delay, absl::Milliseconds(250));
  flags = ParseCredhubFlags({"--credhubConnectAttempts=0x10", "-credhubRetryDelay=0s"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->connect_attempts, 16);
  EXPECT_EQ(flags->retry_delay, absl::ZeroDuration());
}

TEST(CredhubFlags, StopsAtTheFirstNonFlagAndAfterDoubleDash) {
  auto flags = ParseCredhubFlags({"{\"start_command\":\"x\"}", "-credhubConnectAttempts=9"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->connect_attempts, 3);
  flags = ParseCredhubFlags({"", "-credhubConnectAttempts=9"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->connect_attempts, 3);
  flags = ParseCredhubFlags({"-credhubConnectAttempts=2", "--", "-bogus"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->connect_attempts, 2);
  flags = ParseCredhubFlags({"-", "-bogus"});
  EXPECT_TRUE(flags.ok());
}

TEST(CredhubFlags, ReportsErrorsInGosWords) {
  EXPECT_EQ(ParseCredhubFlags({"-bogus"}).status().message(), "flag provided but not defined: -bogus");
  EXPECT_EQ(ParseCredhubFlags({"-credhubConnectAttempts"}).status().message(),
            "flag needs an argument: -credhubConnectAttempts");
  EXPECT_EQ(ParseCredhubFlags({"-credhubConnectAttempts=three"}).status().message(),
            "invalid value \"three\" for flag -credhubConnectAttempts: parse error");
  EXPECT_EQ(ParseCredhubFlags({"-credhubRetryDelay=1"}).status().message(),
            "invalid value \"1\" for flag -credhubRetryDelay: parse error");
  EXPECT_EQ(ParseCredhubFlags({"---credhubRetryDelay=1s"}).status().message(),
            "bad flag syntax: ---credhubRetryDelay=1s");
  EXPECT_EQ(ParseCredhubFlags({"-credhubConnectAttempts=9223372036854775808"}).status().message(),
            "invalid value \"9223372036854775808\" for flag -credhubConnectAttempts: value out of range");
}

TEST(CredhubFlags, HelpIsNotAnError) {
  EXPECT_TRUE(absl::IsCancelled(ParseCredhubFlags({"-h"}).status()));
  EXPECT_TRUE(absl::IsCancelled(ParseCredhubFlags({"--help"}).status()));
  EXPECT_THAT(CredhubFlagsUsage("shell"), HasSubstr("Usage of shell:\n  -credhubConnectAttempts int"));
}

TEST(GoDuration, ParsesWhatTimeParseDurationParses) {
  EXPECT_EQ(*ParseGoDuration("1s"), absl::Seconds(1));
  EXPECT_EQ(*ParseGoDuration("1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseGoDuration(".5s"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseGoDuration("1h2m3s4ms5us6ns"),
            absl::Hours(1) + absl::Minutes(2) + absl::Seconds(3) + absl::Milliseconds(4) +
                absl::Microseconds(5) + absl::Nanoseconds(6));
  EXPECT_EQ(*ParseGoDuration("3\xC2\xB5s"), absl::Microseconds(3));
  EXPECT_EQ(*ParseGoDuration("3\xCE\xBCs"), absl::Microseconds(3));
  EXPECT_EQ(*ParseGoDuration("0"), absl::ZeroDuration());
  EXPECT_EQ(*ParseGoDuration("-0"), absl::ZeroDuration());
  EXPECT_EQ(*ParseGoDuration("-1.5h"), -absl::Minutes(90));
  EXPECT_EQ(*ParseGoDuration("+2m"), absl::Minutes(2));
  EXPECT_EQ(*ParseGoDuration("2562047h47m16.854775807s"), absl::Nanoseconds(INT64_MAX));
  for (const char* bad : {"", "1", "s", "1x", ".s", "1.2.3s", "-", "1s2", "2562047h47m16.854775808s",
                          "9999999999999999999h", " 1s"}) {
    EXPECT_FALSE(ParseGoDuration(bad).ok()) << "accepted: " << bad;
  }
}

TEST(GoInt, ParsesWhatStrconvParseIntBaseZeroParses) {
  EXPECT_EQ(*ParseGoInt("10"), 10);
  EXPECT_EQ(*ParseGoInt("-10"), -10);
  EXPECT_EQ(*ParseGoInt("+7"), 7);
  EXPECT_EQ(*ParseGoInt("0x1F"), 31);
  EXPECT_EQ(*ParseGoInt("0o17"), 15);
  EXPECT_EQ(*ParseGoInt("017"), 15);
  EXPECT_EQ(*ParseGoInt("0b101"), 5);
  EXPECT_EQ(*ParseGoInt("1_000"), 1000);
  EXPECT_EQ(*ParseGoInt("0"), 0);
  EXPECT_EQ(*ParseGoInt("-9223372036854775808"), INT64_MIN);
  for (const char* bad : {"", "-", "x", "08", "0x", "_1", "1_", "1__0", "1e3", " 1", "0x_"}) {
    EXPECT_FALSE(ParseGoInt(bad).ok()) << "accepted: " << bad;
  }
  EXPECT_TRUE(absl::IsOutOfRange(ParseGoInt("9223372036854775808").status()));
}

}  // namespace
}  // namespace hatch::lifecycle
