#include "sshd/scp/control_line.h"

#include <cstdint>
#include <limits>

#include "absl/status/status.h"

namespace hatch::scp {
namespace {

// Reads decimal digits from the front of a line.
class LineCursor {
 public:
  explicit LineCursor(absl::string_view text) : rest_(text) {}

  bool AtDigit() const { return !rest_.empty() && rest_[0] >= '0' && rest_[0] <= '9'; }

  // Consumes one or more digits; *overflow is set when the value exceeds uint64_t (the value
  // then saturates).
  bool TakeNumber(uint64_t* value, bool* overflow) {
    if (!AtDigit()) return false;
    *value = 0;
    *overflow = false;
    while (AtDigit()) {
      uint64_t digit = static_cast<uint64_t>(rest_[0] - '0');
      if (*value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
        *overflow = true;
        *value = std::numeric_limits<uint64_t>::max();
      } else if (!*overflow) {
        *value = *value * 10 + digit;
      }
      rest_.remove_prefix(1);
    }
    return true;
  }

  bool TakeChar(char c) {
    if (rest_.empty() || rest_[0] != c) return false;
    rest_.remove_prefix(1);
    return true;
  }

  bool AtEnd() const { return rest_.empty(); }
  absl::string_view rest() const { return rest_; }

 private:
  absl::string_view rest_;
};

constexpr uint64_t kMaxTimeT = static_cast<uint64_t>(std::numeric_limits<time_t>::max());
constexpr uint64_t kMaxOffT = static_cast<uint64_t>(std::numeric_limits<off_t>::max());

// "<sec> <usec>" followed by `delimiter` (a space, or the end of the line when '\0').
absl::Status ParseTime(LineCursor* cursor, const char* which, char delimiter,
                       struct timespec* out, bool* in_range) {
  uint64_t seconds, micros;
  bool overflow;
  std::string name(which);
  if (!cursor->TakeNumber(&seconds, &overflow)) {
    return absl::InvalidArgumentError(name + ".sec not present");
  }
  if (!cursor->TakeChar(' ')) return absl::InvalidArgumentError(name + ".sec not delimited");
  if (overflow || seconds > kMaxTimeT) *in_range = false;
  bool usec_ok = cursor->TakeNumber(&micros, &overflow) && !overflow && micros <= 999999;
  bool delimited = delimiter == '\0' ? cursor->AtEnd() : cursor->TakeChar(delimiter);
  if (!usec_ok || !delimited) return absl::InvalidArgumentError(name + ".usec not delimited");
  out->tv_sec = *in_range ? static_cast<time_t>(seconds) : 0;
  out->tv_nsec = static_cast<long>(micros) * 1000;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TimesLine> ParseTimesLine(absl::string_view line) {
  LineCursor cursor(line);
  if (!cursor.TakeChar('T')) return absl::InvalidArgumentError("expected control record");
  TimesLine times;
  absl::Status status = ParseTime(&cursor, "mtime", ' ', &times.mtime, &times.in_range);
  if (!status.ok()) return status;
  status = ParseTime(&cursor, "atime", '\0', &times.atime, &times.in_range);
  if (!status.ok()) return status;
  return times;
}

absl::StatusOr<EntryLine> ParseEntryLine(absl::string_view line) {
  EntryLine entry;
  LineCursor cursor(line);
  if (cursor.TakeChar('D')) {
    entry.is_directory = true;
  } else if (!cursor.TakeChar('C')) {
    return absl::InvalidArgumentError("expected control record");
  }
  for (int i = 0; i < 4; ++i) {
    absl::string_view rest = cursor.rest();
    if (rest.empty() || rest[0] < '0' || rest[0] > '7') {
      return absl::InvalidArgumentError("bad mode");
    }
    entry.mode = (entry.mode << 3) | static_cast<mode_t>(rest[0] - '0');
    cursor.TakeChar(rest[0]);
  }
  if (!cursor.TakeChar(' ')) return absl::InvalidArgumentError("mode not delimited");
  uint64_t size;
  bool overflow;
  if (!cursor.TakeNumber(&size, &overflow)) {
    return absl::InvalidArgumentError("size not present");
  }
  if (!cursor.TakeChar(' ')) return absl::InvalidArgumentError("size not delimited");
  if (overflow || size > kMaxOffT) return absl::InvalidArgumentError("size out of range");
  entry.size = static_cast<off_t>(size);
  entry.name = std::string(cursor.rest());
  return entry;
}

bool IsSafeEntryName(absl::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == absl::string_view::npos &&
         name.find('\0') == absl::string_view::npos;
}

}  // namespace hatch::scp
