#include "lifecycle/go_url.h"

#include <string>

#include <gtest/gtest.h>

namespace hatch::lifecycle {
namespace {

std::string Reprint(const std::string& raw) {
  auto url = GoUrl::Parse(raw);
  if (!url.ok()) return "error: " + std::string(url.status().message());
  return url->String();
}

// Expected strings are what Go's url.Parse(raw).String() prints.
TEST(GoUrl, ReprintsDatabaseUrisAsGoDoes) {
  EXPECT_EQ(Reprint("postgres://username:password@host/db"), "postgres://username:password@host/db");
  EXPECT_EQ(Reprint("mysql://u:p!w@h:5432/db"), "mysql://u:p%21w@h:5432/db");
  EXPECT_EQ(Reprint("postgres://u:it's@h/db"), "postgres://u:it%27s@h/db");
  EXPECT_EQ(Reprint("postgres://u:p@w@h/db"), "postgres://u:p%40w@h/db");
  EXPECT_EQ(Reprint("postgres://us%2Fer:p%3Aw@h/db"), "postgres://us%2Fer:p%3Aw@h/db");
  EXPECT_EQ(Reprint("postgres://u:p%40ss@[::1]:5432/d%20b"), "postgres://u:p%40ss@[::1]:5432/d%20b");
  EXPECT_EQ(Reprint("postgres://[fe80::1%25en0]:5432/db"), "postgres://[fe80::1%25en0]:5432/db");
}

TEST(GoUrl, LowercasesTheSchemeOnly) {
  EXPECT_EQ(Reprint("MYSQL://U:P@Host/DB?reconnect=true&x=%zz#frag"),
            "mysql://U:P@Host/DB?reconnect=true&x=%zz#frag");
}

TEST(GoUrl, KeepsQueryAsWrittenAndEscapesPathAndFragmentAsNeeded) {
  EXPECT_EQ(Reprint("postgres://h/a b"), "postgres://h/a%20b");
  EXPECT_EQ(Reprint("postgres://h/%2Fdb"), "postgres://h/%2Fdb");
  EXPECT_EQ(Reprint("postgres://h/d;b,c"), "postgres://h/d;b,c");
  EXPECT_EQ(Reprint("postgres://u@h/db?"), "postgres://u@h/db?");
  EXPECT_EQ(Reprint("postgres://h/db#a%20b!"), "postgres://h/db#a%20b!");
  EXPECT_EQ(Reprint("postgres://h\xC3\xA9/db"), "postgres://h%C3%A9/db");
}

TEST(GoUrl, OpaqueEmptyAndRootedForms) {
  EXPECT_EQ(Reprint("mysql:opaque"), "mysql:opaque");
  EXPECT_EQ(Reprint("mysql://"), "mysql:");
  EXPECT_EQ(Reprint("mysql:///db"), "mysql:///db");
  EXPECT_EQ(Reprint("mysql:/db"), "mysql:/db");  // Go 1.20+ (URL.OmitHost)
}

TEST(GoUrl, RefusesWhatGoRefuses) {
  for (const char* bad : {"postgresql://invalid:password@host/%a", "postgres://h:abc/db",
                          "postgres://h%41/db", "postgres://h/db\n", "postgres://[::1/db",
                          "://x", "postgres://u\xC3\xA9:p@h/db", "postgres://h/%zz",
                          "no-scheme/path"}) {
    EXPECT_FALSE(GoUrl::Parse(bad).ok()) << "accepted: " << bad;
  }
}

TEST(GoUrl, SplitsHostAndPort) {
  auto url = GoUrl::Parse("https://credhub.service.cf.internal:8844/x");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->Hostname(), "credhub.service.cf.internal");
  EXPECT_EQ(url->Port(), "8844");
  url = GoUrl::Parse("https://[::1]:8844");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->Hostname(), "::1");
  EXPECT_EQ(url->Port(), "8844");
  url = GoUrl::Parse("https://example.com");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->Port(), "");
}

}  // namespace
}  // namespace hatch::lifecycle
