// ParseScpCommand: which exec requests hatch serves itself, and their words.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sshd/scp/scp.h"

namespace hatch::scp {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Words(const std::string& command) {
  std::vector<std::string> args;
  EXPECT_TRUE(ParseScpCommand(command, &args)) << command;
  return args;
}

bool Served(const std::string& command) {
  std::vector<std::string> args;
  return ParseScpCommand(command, &args);
}

TEST(ParseScpCommand, SplitsWhatOpenSshSendsForAnUpload) {
  EXPECT_THAT(Words("scp -v -r -p -d -t -- /tmp/x"),
              ElementsAre("scp", "-v", "-r", "-p", "-d", "-t", "--", "/tmp/x"));
}

TEST(ParseScpCommand, AcceptsSourceModeWithSeveralOperands) {
  EXPECT_THAT(Words("scp -f a b\tc"), ElementsAre("scp", "-f", "a", "b", "c"));
}

TEST(ParseScpCommand, AcceptsClusteredFlags) {
  EXPECT_THAT(Words("scp -prt dir"), ElementsAre("scp", "-prt", "dir"));
}

TEST(ParseScpCommand, AcceptsAbsolutePathToScp) {
  EXPECT_THAT(Words("/usr/bin/scp -t ."), ElementsAre("/usr/bin/scp", "-t", "."));
}

TEST(ParseScpCommand, RemovesSingleQuotes) {
  EXPECT_THAT(Words("scp -t 'my dir/it''s'"), ElementsAre("scp", "-t", "my dir/its"));
  EXPECT_THAT(Words("scp -t 'a \"b\" \\c $d'"), ElementsAre("scp", "-t", "a \"b\" \\c $d"));
}

TEST(ParseScpCommand, RemovesDoubleQuotesAndTheirEscapes) {
  EXPECT_THAT(Words(R"(scp -f "a b" "q\"uote" "back\\slash" "\$HOME" "keep\n")"),
              ElementsAre("scp", "-f", "a b", "q\"uote", "back\\slash", "$HOME", "keep\\n"));
}

TEST(ParseScpCommand, RemovesBackslashes) {
  EXPECT_THAT(Words(R"(scp -f a\ b it\'s \"q\" \\)"),
              ElementsAre("scp", "-f", "a b", "it's", "\"q\"", "\\"));
}

TEST(ParseScpCommand, BackslashNewlineContinuesTheLine) {
  EXPECT_THAT(Words("scp -f ab\\\ncd"), ElementsAre("scp", "-f", "abcd"));
}

TEST(ParseScpCommand, KeepsEmptyQuotedWordsAndJoinsAdjacentParts) {
  EXPECT_THAT(Words("scp -t ''"), ElementsAre("scp", "-t", ""));
  EXPECT_THAT(Words("scp -t a'b c'\"d\"e"), ElementsAre("scp", "-t", "ab cde"));
}

TEST(ParseScpCommand, KeepsGlobCharactersAndTildeForRunScp) {
  EXPECT_THAT(Words("scp -f ~/logs/*.log a?[bc]"),
              ElementsAre("scp", "-f", "~/logs/*.log", "a?[bc]"));
}

TEST(ParseScpCommand, HashInsideAWordIsLiteral) {
  EXPECT_THAT(Words("scp -t a#b"), ElementsAre("scp", "-t", "a#b"));
}

TEST(ParseScpCommand, IgnoresOtherPrograms) {
  EXPECT_FALSE(Served("ls -t"));
  EXPECT_FALSE(Served("rscp -t x"));
  EXPECT_FALSE(Served("bin/scp -t x"));
  EXPECT_FALSE(Served(""));
  EXPECT_FALSE(Served("   "));
}

TEST(ParseScpCommand, IgnoresScpWithoutServerFlag) {
  EXPECT_FALSE(Served("scp a b"));
  EXPECT_FALSE(Served("scp -r a host:b"));
  EXPECT_FALSE(Served("scp -- -t"));
  EXPECT_FALSE(Served("scp x -t"));
}

TEST(ParseScpCommand, LeavesShellSyntaxToTheShell) {
  EXPECT_FALSE(Served("scp -t x; rm -rf /"));
  EXPECT_FALSE(Served("scp -t x && id"));
  EXPECT_FALSE(Served("scp -t x | cat"));
  EXPECT_FALSE(Served("scp -t x > y"));
  EXPECT_FALSE(Served("scp -t < y"));
  EXPECT_FALSE(Served("scp -f $HOME"));
  EXPECT_FALSE(Served("scp -f \"$HOME\""));
  EXPECT_FALSE(Served("scp -f `id`"));
  EXPECT_FALSE(Served("scp -f \"`id`\""));
  EXPECT_FALSE(Served("scp -f $(id)"));
  EXPECT_FALSE(Served("scp -t (x)"));
  EXPECT_FALSE(Served("scp -t x # comment"));
  EXPECT_FALSE(Served("scp -t x\nid"));
  EXPECT_FALSE(Served(std::string("scp -t x\0y", 10)));
}

TEST(ParseScpCommand, RefusesUnterminatedQuoting) {
  EXPECT_FALSE(Served("scp -t 'x"));
  EXPECT_FALSE(Served("scp -t \"x"));
  EXPECT_FALSE(Served("scp -t \"x\\\""));
  EXPECT_FALSE(Served("scp -t x\\"));
}

}  // namespace
}  // namespace hatch::scp
