#include "lifecycle/environment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hatch::lifecycle {
namespace {

using ::testing::ElementsAre;

TEST(Environment, FirstEntryOfANameWinsAsInGo) {
  Environment env({"A=1", "B=2", "A=3", "NOEQUALS"});
  EXPECT_EQ(env.Get("A"), "1");
  EXPECT_THAT(env.entries(), ElementsAre("A=1", "B=2", "NOEQUALS"));
}

TEST(Environment, SetReplacesInPlaceAndAppendsNewNames) {
  Environment env({"A=1", "B=2"});
  ASSERT_TRUE(env.Set("A", "x=y").ok());
  ASSERT_TRUE(env.Set("C", "").ok());
  EXPECT_THAT(env.entries(), ElementsAre("A=x=y", "B=2", "C="));
  EXPECT_EQ(env.Get("A"), "x=y");
  EXPECT_EQ(env.Lookup("C"), "");
  EXPECT_EQ(env.Lookup("D"), std::nullopt);
  EXPECT_EQ(env.Get("D"), "");
}

TEST(Environment, UnsetRemovesTheEntry) {
  Environment env({"A=1", "B=2"});
  env.Unset("A");
  env.Unset("Z");
  EXPECT_THAT(env.entries(), ElementsAre("B=2"));
}

TEST(Environment, RefusesWhatExecCannotCarry) {
  Environment env;
  EXPECT_FALSE(env.Set("", "x").ok());
  EXPECT_FALSE(env.Set("A=B", "x").ok());
  EXPECT_FALSE(env.Set("A", std::string("a\0b", 3)).ok());
  EXPECT_TRUE(env.entries().empty());
}

TEST(Environment, ReadsThisProcess) {
  ASSERT_EQ(setenv("HATCH_LIFECYCLE_TEST_VAR", "v", 1), 0);
  EXPECT_EQ(Environment::FromProcess().Get("HATCH_LIFECYCLE_TEST_VAR"), "v");
}

}  // namespace
}  // namespace hatch::lifecycle
