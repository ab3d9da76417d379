#include "lifecycle/go_path.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/lifecycle/test_util.h"

namespace hatch::lifecycle {
namespace {

TEST(GoPath, CleansLikeFilepathClean) {
  EXPECT_EQ(GoCleanPath(""), ".");
  EXPECT_EQ(GoCleanPath("/"), "/");
  EXPECT_EQ(GoCleanPath("//a//b/./c/"), "/a/b/c");
  EXPECT_EQ(GoCleanPath("/home/vcap/app/../tmp"), "/home/vcap/tmp");
  EXPECT_EQ(GoCleanPath("/../tmp"), "/tmp");
  EXPECT_EQ(GoCleanPath("a/../../b"), "../b");
  EXPECT_EQ(GoCleanPath("a/.."), ".");
  EXPECT_EQ(GoCleanPath("./a/"), "a");
}

TEST(GoPath, JoinsNonEmptyElements) {
  EXPECT_EQ(GoJoinPath({"/home/vcap/app", "..", "deps"}), "/home/vcap/deps");
  EXPECT_EQ(GoJoinPath({"", "app"}), "app");
  EXPECT_EQ(GoJoinPath({"", ""}), "");
  EXPECT_EQ(GoJoinPath({"/", "..", "tmp"}), "/tmp");
}

TEST(GoPath, AbsUsesPwdWhenItIsTheWorkingDirectory) {
  testing::TempDir dir;
  testing::MakeDirs(dir / "real/app");
  ASSERT_EQ(symlink((dir / "real").c_str(), (dir / "link").c_str()), 0);
  char old[4096];
  ASSERT_NE(getcwd(old, sizeof old), nullptr);
  ASSERT_EQ(chdir((dir / "link").c_str()), 0);
  // Through the symlink when $PWD says so (Go's os.Getwd), else the physical path.
  EXPECT_EQ(*GoAbsPath("app", dir / "link"), dir / "link/app");
  EXPECT_EQ(*GoAbsPath("app/", "/"), dir / "real/app");
  EXPECT_EQ(*GoAbsPath("app", "relative"), dir / "real/app");
  EXPECT_EQ(*GoAbsPath("/x/../y", ""), "/y");
  ASSERT_EQ(chdir(old), 0);
}

}  // namespace
}  // namespace hatch::lifecycle
