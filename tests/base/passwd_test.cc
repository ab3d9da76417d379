#include "base/passwd.h"

#include <gtest/gtest.h>

namespace hatch {
namespace {

TEST(Passwd, FindsEntryByUid) {
  auto e = FindPasswdEntry("root:x:0:0:root:/root:/bin/bash\nvcap:x:2000:2000::/home/vcap:/bin/bash\n", 2000);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->name, "vcap");
  EXPECT_EQ(e->home, "/home/vcap");
  EXPECT_EQ(e->shell, "/bin/bash");
}

TEST(Passwd, SkipsMalformedLinesAndMissingUid) {
  EXPECT_FALSE(FindPasswdEntry("garbage\nx:y:notanumber:0::/:/bin/sh\n", 0).has_value());
  EXPECT_FALSE(FindPasswdEntry("", 5).has_value());
}

}  // namespace
}  // namespace hatch
