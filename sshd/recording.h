// SessionRecording: one session's terminal I/O as an asciicast v2 file
// (https://docs.asciinema.org/manual/asciicast/v2/), which `asciinema play`/`cat` replay:
//   {"version":2,"width":80,"height":24,"timestamp":1700000000,"env":{"TERM":"xterm"},...}
//   [0.012345,"o","$ "]
//   [1.500000,"i","ls\r"]
//   [2.000000,"r","100x30"]
// Event data is JSON-escaped UTF-8. Output and input are decoded as streams: a multi-byte
// character split across two reads is kept (at most 3 bytes) until its end arrives, and
// bytes that are not UTF-8 become U+FFFD, so any session yields valid JSON.
//
// Bounded: each event is one write(2) to a local file, straight from the caller (no queue);
// once the file would pass `max_bytes`, a visible marker is written, the file is closed and
// later events are dropped (state kCapped). A write error (full disk, file size limit) drops
// the incomplete line (ftruncate back), closes the file and drops later events (kFailed):
// the session itself goes on either way. The SHA-256 covers exactly the bytes in the file,
// computed while writing (the file is never read back).
#ifndef HATCH_SSHD_RECORDING_H_
#define HATCH_SSHD_RECORDING_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"

namespace hatch {

// Keeps the tail of an incomplete UTF-8 sequence between chunks; emits JSON string content.
class Utf8JsonEscaper {
 public:
  // Appends the JSON-escaped text of `pending + bytes` to `out`, keeping an incomplete
  // final sequence for the next call.
  void Append(absl::string_view bytes, std::string* out);
  // Appends what is pending (an incomplete sequence: one U+FFFD) and forgets it.
  void Flush(std::string* out);

 private:
  char pending_[4] = {};
  size_t pending_size_ = 0;
};

struct RecordingHeader {
  int width = 80;
  int height = 24;
  std::string term;     // env.TERM ("" leaves it out)
  std::string shell;    // env.SHELL ("" leaves it out)
  std::string command;  // exec's command ("" for a shell)
  std::string title;    // e.g. "user@peer"
};

class SessionRecording {
 public:
  enum class State { kRecording, kCapped, kFailed, kClosed };

  // Creates `dir`/<UTC time>-<connection_id>-<channel>.cast (O_EXCL, mode 0600, close-on-exec)
  // and writes the header. `max_bytes` bounds the whole file, marker included (>= 4096).
  static absl::StatusOr<std::unique_ptr<SessionRecording>> Create(
      const std::string& dir, absl::string_view connection_id, int channel,
      const RecordingHeader& header, uint64_t max_bytes);
  ~SessionRecording();
  SessionRecording(const SessionRecording&) = delete;
  SessionRecording& operator=(const SessionRecording&) = delete;

  void Output(absl::string_view bytes);  // "o": what the client sees
  void Input(absl::string_view bytes);   // "i": what the client typed
  void Resize(int cols, int rows);       // "r": "COLSxROWS"

  // Flushes a pending partial character and closes the file (a no-op once stopped).
  void Close();

  State state() const { return state_; }
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }  // set in kFailed
  uint64_t max_bytes() const { return max_bytes_; }
  uint64_t bytes_written() const { return written_; }
  // Lowercase hex SHA-256 of the bytes written so far (the whole file once closed).
  std::string Sha256Hex() const;

 private:
  SessionRecording(std::string path, UniqueFd fd, uint64_t max_bytes);
  void Event(char type, absl::string_view bytes, Utf8JsonEscaper* escaper);
  // Writes one whole line (or nothing): false and state_ set when it did not fit or failed.
  bool WriteLine(const std::string& line);
  // Writes `line` whole, or sets kFailed and leaves the file as it was before it.
  bool WriteAll(const std::string& line);
  std::string TimeText() const;

  struct Hash;
  std::string path_;
  UniqueFd fd_;
  uint64_t max_bytes_;
  uint64_t written_ = 0;
  State state_ = State::kRecording;
  std::string error_;
  int64_t started_ns_ = 0;  // CLOCK_MONOTONIC at creation: event times are relative to it
  Utf8JsonEscaper output_escaper_;
  Utf8JsonEscaper input_escaper_;
  std::unique_ptr<Hash> hash_;
  std::string line_;  // reused for every event
};

}  // namespace hatch

#endif  // HATCH_SSHD_RECORDING_H_
