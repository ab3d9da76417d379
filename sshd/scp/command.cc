// ParseScpCommand: recognise `scp -t/-f` exec requests, splitting words as /bin/sh would.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "sshd/scp/scp.h"

namespace hatch::scp {
namespace {

// Characters that make the shell do more than split and unquote (POSIX XCU 2.2, 2.3):
// operators, expansions, subshells. A command holding one unquoted is left to the shell.
bool IsShellSpecial(char c) {
  switch (c) {
    case '$': case '`': case ';': case '&': case '|': case '<': case '>': case '(': case ')':
    case '\n': case '\0':
      return true;
    default:
      return false;
  }
}

// Splits `command` into words with quote removal (POSIX XCU 2.2.1-2.2.3). False when the
// command needs more of the shell than that, or a quote is left open.
bool SplitShellWords(absl::string_view command, std::vector<std::string>* words) {
  words->clear();
  std::string word;
  bool in_word = false;
  size_t i = 0;
  auto end_word = [&] {
    if (in_word) words->push_back(std::move(word));
    word.clear();
    in_word = false;
  };
  while (i < command.size()) {
    char c = command[i++];
    if (c == ' ' || c == '\t') {
      end_word();
    } else if (c == '\'') {
      // Single quotes: everything literal up to the next single quote.
      size_t close = command.find('\'', i);
      if (close == absl::string_view::npos) return false;
      word.append(command.data() + i, close - i);
      i = close + 1;
      in_word = true;
    } else if (c == '"') {
      // Double quotes: literal except $, ` (expansions: refused) and \ before $ ` " \ newline.
      in_word = true;
      for (;;) {
        if (i >= command.size()) return false;
        char d = command[i++];
        if (d == '"') break;
        if (d == '$' || d == '`') return false;
        if (d == '\\' && i < command.size() &&
            absl::string_view("$`\"\\\n").find(command[i]) != absl::string_view::npos) {
          d = command[i++];
          if (d == '\n') continue;  // line continuation
        }
        word.push_back(d);
      }
    } else if (c == '\\') {
      // Unquoted backslash: the next character is literal; backslash-newline vanishes.
      if (i >= command.size()) return false;
      char d = command[i++];
      if (d != '\n') {
        word.push_back(d);
        in_word = true;
      }
    } else if (IsShellSpecial(c) || (c == '#' && !in_word)) {
      return false;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  end_word();
  return true;
}

bool IsScpProgram(absl::string_view word) {
  return word == "scp" || (absl::EndsWith(word, "/scp") && absl::StartsWith(word, "/"));
}

// True when the options (getopt-style, up to "--" or the first operand) include -t or -f.
bool HasServerFlag(const std::vector<std::string>& words) {
  for (size_t i = 1; i < words.size(); ++i) {
    absl::string_view w = words[i];
    if (w == "--" || w.size() < 2 || w[0] != '-') break;
    if (w.find_first_of("tf", 1) != absl::string_view::npos) return true;
  }
  return false;
}

}  // namespace

bool ParseScpCommand(absl::string_view command, std::vector<std::string>* args) {
  if (!SplitShellWords(command, args)) return false;
  return !args->empty() && IsScpProgram((*args)[0]) && HasServerFlag(*args);
}

}  // namespace hatch::scp
