#include "lifecycle/app_env.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hatch::lifecycle {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Built {
  absl::Status status;
  Environment env;
  std::vector<std::string> reports;
};

Built Build(std::vector<std::string> entries, const std::string& app_dir = "/home/vcap/app") {
  Built b{absl::OkStatus(), Environment(entries), {}};
  b.status = BuildAppEnvironment(b.env, app_dir, CredhubFlags{},
                                 [&](absl::string_view line) { b.reports.emplace_back(line); });
  return b;
}

TEST(AppEnvironment, SetsHomeTmpdirAndDepsDirBesideTheAppDir) {
  auto b = Build({"HOME=/root", "TMPDIR=/x", "PATH=/bin"}, "/home/vcap/app");
  ASSERT_TRUE(b.status.ok()) << b.status;
  EXPECT_EQ(b.env.Get("HOME"), "/home/vcap/app");
  EXPECT_EQ(b.env.Get("TMPDIR"), "/home/vcap/tmp");
  EXPECT_EQ(b.env.Get("DEPS_DIR"), "/home/vcap/deps");
  EXPECT_EQ(b.env.Get("PATH"), "/bin");
  EXPECT_EQ(b.env.entries()[0], "HOME=/home/vcap/app");  // replaced in place
  EXPECT_EQ(b.env.Lookup("VCAP_APPLICATION"), std::nullopt);
  EXPECT_EQ(b.env.Lookup("DATABASE_URL"), std::nullopt);
}

TEST(AppEnvironment, AppDirAtTheRootHasItsNeighboursAtTheRoot) {
  auto b = Build({}, "/");
  EXPECT_EQ(b.env.Get("TMPDIR"), "/tmp");
  EXPECT_EQ(b.env.Get("DEPS_DIR"), "/deps");
}

TEST(AppEnvironment, RewritesVcapApplication) {
  auto b = Build({R"(VCAP_APPLICATION={"name":"a","port":1})", "PORT=8080", "INSTANCE_INDEX=0",
                  "INSTANCE_GUID=abc"});
  ASSERT_TRUE(b.status.ok());
  EXPECT_EQ(b.env.Get("VCAP_APPLICATION"),
            R"({"host":"0.0.0.0","instance_id":"abc","instance_index":0,"name":"a","port":8080})");
}

TEST(AppEnvironment, LeavesVcapApplicationThatIsNotAnObject) {
  for (const char* value : {"null", "[]", "garbage"}) {
    auto b = Build({std::string("VCAP_APPLICATION=") + value, "PORT=8080"});
    ASSERT_TRUE(b.status.ok()) << value;
    EXPECT_EQ(b.env.Get("VCAP_APPLICATION"), value);
  }
}

TEST(AppEnvironment, RemovesPlatformOptionsWithoutCredhubUri) {
  auto b = Build({"VCAP_PLATFORM_OPTIONS={}", R"(VCAP_SERVICES={"s":[{"credentials":{"credhub-ref":"/c"}}]})"});
  ASSERT_TRUE(b.status.ok());
  EXPECT_EQ(b.env.Lookup("VCAP_PLATFORM_OPTIONS"), std::nullopt);
  EXPECT_EQ(b.env.Get("VCAP_SERVICES"), R"({"s":[{"credentials":{"credhub-ref":"/c"}}]})");
  EXPECT_THAT(b.reports, IsEmpty());
}

TEST(AppEnvironment, InvalidPlatformOptionsAreAnError) {
  auto b = Build({R"(VCAP_PLATFORM_OPTIONS={"credhub-uri":"missing quote and brace)"});
  EXPECT_THAT(std::string(b.status.message()), HasSubstr("Invalid platform options: "));
}

TEST(AppEnvironment, CredhubFailureNamesTheStep) {
  auto b = Build({R"(VCAP_PLATFORM_OPTIONS={"credhub-uri":"https://credhub.example"})",
                  R"(VCAP_SERVICES={"s":[{"credentials":{"credhub-ref":"/c"}}]})"});
  EXPECT_EQ(b.status.message(),
            "Unable to interpolate credhub refs: Unable to set up credhub client: Missing "
            "CF_INSTANCE_CERT and/or CF_INSTANCE_KEY");
  EXPECT_EQ(b.env.Get("VCAP_SERVICES"), R"({"s":[{"credentials":{"credhub-ref":"/c"}}]})");
}

TEST(AppEnvironment, SetsDatabaseUrlFromServices) {
  auto b = Build({"DATABASE_URL=original content",
                  R"(VCAP_SERVICES={"elephantsql":[{"credentials":{"uri":"postgresql://u:p@h:5432/d"}}]})"});
  ASSERT_TRUE(b.status.ok());
  EXPECT_EQ(b.env.Get("DATABASE_URL"), "postgres://u:p@h:5432/d");
}

TEST(AppEnvironment, KeepsDatabaseUrlWhenNoServiceIsADatabase) {
  auto b = Build({"DATABASE_URL=mine", R"(VCAP_SERVICES={"r":[{"credentials":{"uri":"redis://h"}}]})"});
  EXPECT_EQ(b.env.Get("DATABASE_URL"), "mine");
}

}  // namespace
}  // namespace hatch::lifecycle
