// Logger: JSON lines on stdout in the lager format Cloud Foundry's tools read:
//   {"timestamp":"1700000000.123456789","source":"sshd","message":"sshd.started",
//    "log_level":1,"data":{...}}
// Levels as lager: debug=0, info=1, error=2, fatal=3. One write(2) per line, so lines from
// the listener and its connection children never interleave mid-line.
// Callers must never put key material in `data` (shared/DESIGN.md, "Errors and logs").
#ifndef HATCH_SSHD_LOG_H_
#define HATCH_SSHD_LOG_H_

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hatch {

enum class LogLevel { kDebug = 0, kInfo = 1, kError = 2, kFatal = 3 };

// Parses "debug", "info", "error" or "fatal" (lager's names).
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

// Process-wide: lines below this level are dropped. Default: info.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Writes one line `sshd.<message>` if `level` is enabled.
void Log(LogLevel level, absl::string_view message, const nlohmann::json& data = nullptr);

inline void LogDebug(absl::string_view m, const nlohmann::json& d = nullptr) { Log(LogLevel::kDebug, m, d); }
inline void LogInfo(absl::string_view m, const nlohmann::json& d = nullptr) { Log(LogLevel::kInfo, m, d); }
inline void LogError(absl::string_view m, const nlohmann::json& d = nullptr) { Log(LogLevel::kError, m, d); }

}  // namespace hatch

#endif  // HATCH_SSHD_LOG_H_
