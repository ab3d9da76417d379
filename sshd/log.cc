#include "sshd/log.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hatch {
namespace {

LogLevel g_level = LogLevel::kInfo;

std::string Timestamp() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return absl::StrFormat("%d.%09d", static_cast<long long>(ts.tv_sec), ts.tv_nsec);
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "error") return LogLevel::kError;
  if (name == "fatal") return LogLevel::kFatal;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level \"", name, "\" (want debug, info, error or fatal)"));
}

void SetLogLevel(LogLevel level) { g_level = level; }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= static_cast<int>(g_level); }

void Log(LogLevel level, absl::string_view message, const nlohmann::json& data) {
  if (!LogEnabled(level)) return;
  nlohmann::ordered_json line;
  line["timestamp"] = Timestamp();
  line["source"] = "sshd";
  line["message"] = absl::StrCat("sshd.", message);
  line["log_level"] = static_cast<int>(level);
  line["data"] = data.is_null() ? nlohmann::json::object() : data;
  // Replace invalid UTF-8 (a client's command may hold any bytes) instead of throwing.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stdout gone: logging must never stop the daemon
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace hatch
