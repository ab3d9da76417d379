#include "lifecycle/staging_info.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/lifecycle/test_util.h"

namespace hatch::lifecycle {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<StagingInfo> Parse(const std::string& text) {
  return ParseStagingInfo(text, "staging_info.yml");
}

TEST(StagingInfo, ReadsTheYamlABuildpackStagingWrites) {
  auto info = Parse(
      "---\n"
      "detected_buildpack: ruby\n"
      "start_command: bundle exec rackup config.ru -p $PORT\n"
      "config:\n"
      "  entrypoint_prefix: /home/vcap/deps/0/bin/wrap --flag\n");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->detected_buildpack, "ruby");
  EXPECT_EQ(info->start_command, "bundle exec rackup config.ru -p $PORT");
  EXPECT_EQ(info->entrypoint_prefix, "/home/vcap/deps/0/bin/wrap --flag");
}

TEST(StagingInfo, ReadsJson) {
  auto info = Parse(R"({"detected_buildpack":"java","start_command":"java -jar app.jar","other":[1]})");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->start_command, "java -jar app.jar");
  EXPECT_EQ(info->entrypoint_prefix, "");
}

TEST(StagingInfo, IgnoresUnknownKeysAndTheirTags) {
  // What old Ruby-based staging wrote.
  auto info = Parse(
      "---\nbuildpack_path: !ruby/object:Pathname\n  path: /tmp/buildpacks/null-buildpack\n"
      "detected_buildpack: \nstart_command: ./run\n");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->start_command, "./run");
  EXPECT_EQ(info->detected_buildpack, "");
}

TEST(StagingInfo, TakesAnyScalarAsText) {
  EXPECT_EQ(Parse("start_command: 123\n")->start_command, "123");
  EXPECT_EQ(Parse("start_command: true\n")->start_command, "true");
  EXPECT_EQ(Parse("start_command: 'null'\n")->start_command, "null");
  EXPECT_EQ(Parse("start_command: ~\n")->start_command, "");
  EXPECT_EQ(Parse("start_command:\n")->start_command, "");
  EXPECT_EQ(Parse("start_command: |\n  echo a\n  echo b\n")->start_command, "echo a\necho b\n");
  EXPECT_EQ(Parse("config: ~\n")->entrypoint_prefix, "");
}

TEST(StagingInfo, AcceptsAnchorsAndAliasesLibyamlAccepts) {
  auto info = Parse("base: &cmd-1 ./run --web\nstart_command: *cmd-1\n");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->start_command, "./run --web");
}

TEST(StagingInfo, EmptyFileIsEmpty) {
  EXPECT_EQ(Parse("")->start_command, "");
  EXPECT_EQ(Parse("---\n")->start_command, "");
  EXPECT_EQ(Parse("# nothing\n")->start_command, "");
}

TEST(StagingInfo, CorruptFilesAreClearErrors) {
  for (const char* bad : {"start_command: [a, b]\n", "start_command: {a: b}\n",
                          "detected_buildpack: [x]\n", "config: prefix\n",
                          "config:\n  entrypoint_prefix: [x]\n", "- a\n- b\n", "just text\n",
                          "a: b\n c: d\n: x\n  - y", "start_command: &ruby/object:Pathname",
                          "start_command: *undefined\n", "start_command: 'open"}) {
    auto info = Parse(bad);
    EXPECT_FALSE(info.ok()) << bad;
    EXPECT_THAT(std::string(info.status().message()), HasSubstr("failed to unmarshal staging_info.yml"))
        << bad;
  }
}

TEST(StagingInfo, MissingFileIsEmptyButUnreadableIsAnError) {
  testing::TempDir dir;
  auto info = ReadStagingInfo(dir / "staging_info.yml");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->start_command, "");
  testing::MakeDirs(dir / "staging_info.yml");
  info = ReadStagingInfo(dir / "staging_info.yml");
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("Is a directory"));
  testing::WriteFile(dir / "other.yml", "start_command: web\n");
  EXPECT_EQ(ReadStagingInfo(dir / "other.yml")->start_command, "web");
}

}  // namespace
}  // namespace hatch::lifecycle
