#include "sshd/environment.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace hatch {
namespace {

bool Has(const std::vector<std::string>& envp, const std::string& entry) {
  return std::find(envp.begin(), envp.end(), entry) != envp.end();
}

BaseEnvironment Base() {
  BaseEnvironment b;
  b.vars = {{"PATH", "/bin:/usr/bin"}, {"LANG", "en_US.UTF-8"}, {"MARKER", "42"}};
  b.home = "/home/vcap";
  b.user = "vcap";
  return b;
}

TEST(SessionEnvironment, StartsFromTheBase) {
  SessionEnvironment env(Base());
  std::vector<std::string> envp = env.ToEnvp();
  EXPECT_TRUE(Has(envp, "PATH=/bin:/usr/bin"));
  EXPECT_TRUE(Has(envp, "LANG=en_US.UTF-8"));
  EXPECT_TRUE(Has(envp, "HOME=/home/vcap"));
  EXPECT_TRUE(Has(envp, "USER=vcap"));
  EXPECT_TRUE(Has(envp, "MARKER=42"));
}

TEST(SessionEnvironment, ClientMayOverridePathAndLangButNotHomeOrUser) {
  SessionEnvironment env(Base());
  EXPECT_TRUE(env.Set("PATH", "/custom"));
  EXPECT_TRUE(env.Set("LANG", "C"));
  EXPECT_FALSE(env.Set("HOME", "/tmp"));
  EXPECT_FALSE(env.Set("USER", "root"));
  std::vector<std::string> envp = env.ToEnvp();
  EXPECT_TRUE(Has(envp, "PATH=/custom"));
  EXPECT_TRUE(Has(envp, "LANG=C"));
  EXPECT_TRUE(Has(envp, "HOME=/home/vcap"));
  EXPECT_TRUE(Has(envp, "USER=vcap"));
}

TEST(SessionEnvironment, RejectsNamesThatCannotBeEnvironmentNames) {
  SessionEnvironment env(Base());
  EXPECT_FALSE(env.Set("", "x"));
  EXPECT_FALSE(env.Set("A=B", "x"));
  EXPECT_FALSE(env.Set(std::string("A\0B", 3), "x"));
}

TEST(SessionEnvironment, SessionsDoNotShareChanges) {
  BaseEnvironment base = Base();
  SessionEnvironment first(base);
  first.Set("FOO", "bar");
  SessionEnvironment second(base);
  EXPECT_EQ(second.Get("FOO"), "");
}

TEST(SessionEnvironment, RefusesVariablesPastTheCountLimit) {
  SessionEnvironment env(Base());
  for (size_t i = 0; i < SessionEnvironment::kMaxClientVariables; ++i) {
    ASSERT_TRUE(env.Set("V" + std::to_string(i), "x")) << i;
  }
  EXPECT_FALSE(env.Set("ONE_MORE", "x"));
  EXPECT_TRUE(env.Set("V0", "replaced"));  // a name already set may still change
  EXPECT_EQ(env.Get("V0"), "replaced");
  EXPECT_EQ(env.Get("ONE_MORE"), "");
}

TEST(SessionEnvironment, RefusesVariablesPastTheByteLimit) {
  SessionEnvironment env(Base());
  const std::string big(SessionEnvironment::kMaxClientBytes / 4, 'x');
  int accepted = 0;
  for (int i = 0; i < 8; ++i) accepted += env.Set("BIG" + std::to_string(i), big);
  EXPECT_EQ(accepted, 3);  // a fourth would pass the limit with its name
  // Replacing a value counts only the difference.
  EXPECT_TRUE(env.Set("BIG0", "small"));
  EXPECT_TRUE(env.Set("BIG3", big));
}

TEST(BaseEnvironment, InheritKeepsDaemonEnvButNotItsPath) {
  std::string a = "PATH=/daemon/bin", b = "MARKER=7", c = "NOEQUALS";
  char* envp[] = {a.data(), b.data(), c.data(), nullptr};
  BaseEnvironment inherit = MakeBaseEnvironment(envp, true);
  EXPECT_EQ(inherit.vars["PATH"], "/bin:/usr/bin");
  EXPECT_EQ(inherit.vars["MARKER"], "7");
  BaseEnvironment plain = MakeBaseEnvironment(envp, false);
  EXPECT_EQ(plain.vars.count("MARKER"), 0u);
}

}  // namespace
}  // namespace hatch
