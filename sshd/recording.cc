#include "sshd/recording.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hatch {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
constexpr uint64_t kMinMaxBytes = 4096;
// Room kept for the cap marker, so the file never passes max_bytes.
constexpr uint64_t kMarkerReserve = 256;

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Length of the UTF-8 sequence at s[0..n): >0 a valid sequence, 0 an incomplete but so far
// valid one (more bytes needed), -k invalid: its first k bytes (the "maximal subpart",
// Unicode §3.9) are to be replaced by one U+FFFD.
int SequenceLength(const unsigned char* s, size_t n) {
  const unsigned char b = s[0];
  if (b < 0x80) return 1;
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (RFC 3629 §4)
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;  // overlong
    if (b == 0xED) hi = 0x9F;  // surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;  // overlong
    if (b == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return -1;
  }
  for (int i = 1; i < len; ++i) {
    if (static_cast<size_t>(i) >= n) return 0;
    const unsigned char c = s[i];
    if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return -i;
  }
  return len;
}

void EscapeValid(const unsigned char* s, size_t len, std::string* out) {
  if (len > 1) {
    out->append(reinterpret_cast<const char*>(s), len);
    return;
  }
  const unsigned char c = s[0];
  switch (c) {
    case '"': out->append("\\\""); return;
    case '\\': out->append("\\\\"); return;
    case '\n': out->append("\\n"); return;
    case '\r': out->append("\\r"); return;
    case '\t': out->append("\\t"); return;
    case '\b': out->append("\\b"); return;
    case '\f': out->append("\\f"); return;
    default: break;
  }
  if (c < 0x20 || c == 0x7F) {
    // Binary output (a NUL per byte) is the worst case: no format call per byte.
    static constexpr char kHex[] = "0123456789abcdef";
    const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
    out->append(esc, sizeof esc);
  } else {
    out->push_back(static_cast<char>(c));
  }
}

}  // namespace

void Utf8JsonEscaper::Append(absl::string_view bytes, std::string* out) {
  // Complete a sequence left over from the previous chunk, a byte at a time.
  while (pending_size_ > 0 && !bytes.empty()) {
    pending_[pending_size_++] = bytes.front();
    bytes.remove_prefix(1);
    const auto* p = reinterpret_cast<const unsigned char*>(pending_);
    int len = SequenceLength(p, pending_size_);
    if (len > 0) {
      EscapeValid(p, static_cast<size_t>(len), out);
      pending_size_ = 0;
    } else if (len < 0) {
      // Replace the invalid start, rescan what follows it together with the new bytes.
      out->append(kReplacement);
      std::string rest(pending_ - len, pending_size_ + len);
      pending_size_ = 0;
      std::string joined = absl::StrCat(rest, bytes);
      Append(joined, out);
      return;
    }
  }
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    // Fast path for the common case: printable ASCII.
    if (s[i] >= 0x20 && s[i] < 0x7F && s[i] != '"' && s[i] != '\\') {
      size_t j = i + 1;
      while (j < n && s[j] >= 0x20 && s[j] < 0x7F && s[j] != '"' && s[j] != '\\') ++j;
      out->append(reinterpret_cast<const char*>(s + i), j - i);
      i = j;
      continue;
    }
    int len = SequenceLength(s + i, n - i);
    if (len > 0) {
      EscapeValid(s + i, static_cast<size_t>(len), out);
      i += static_cast<size_t>(len);
    } else if (len == 0) {
      pending_size_ = n - i;  // < 4
      std::memcpy(pending_, s + i, pending_size_);
      return;
    } else {
      out->append(kReplacement);
      i += static_cast<size_t>(-len);
    }
  }
}

void Utf8JsonEscaper::Flush(std::string* out) {
  if (pending_size_ > 0) out->append(kReplacement);
  pending_size_ = 0;
}

struct SessionRecording::Hash {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Hash() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~Hash() { EVP_MD_CTX_free(ctx); }
};

absl::StatusOr<std::unique_ptr<SessionRecording>> SessionRecording::Create(
    const std::string& dir, absl::string_view connection_id, int channel,
    const RecordingHeader& header, uint64_t max_bytes) {
  if (max_bytes < kMinMaxBytes) {
    return absl::InvalidArgumentError(absl::StrCat("recording size cap below ", kMinMaxBytes));
  }
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  // Names sort by start time; the connection id and channel make them unique.
  std::string path = absl::StrFormat("%s/%04d%02d%02dT%02d%02d%02d.%06ldZ-%s-%d.cast", dir,
                                     utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                                     utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec / 1000,
                                     connection_id, channel);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  std::unique_ptr<SessionRecording> r(new SessionRecording(path, UniqueFd(fd), max_bytes));

  nlohmann::ordered_json h;
  h["version"] = 2;
  h["width"] = header.width > 0 ? header.width : 80;
  h["height"] = header.height > 0 ? header.height : 24;
  h["timestamp"] = static_cast<int64_t>(now.tv_sec);
  nlohmann::ordered_json env = nlohmann::ordered_json::object();
  if (!header.term.empty()) env["TERM"] = header.term;
  if (!header.shell.empty()) env["SHELL"] = header.shell;
  h["env"] = env;
  // A command may be long; the header must leave room for events under the cap.
  if (!header.command.empty()) h["command"] = header.command.substr(0, 1024);
  if (!header.title.empty()) h["title"] = header.title;
  std::string line = h.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  if (!r->WriteLine(line) && r->state() == State::kFailed) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", r->error()));
  }
  return r;
}

SessionRecording::SessionRecording(std::string path, UniqueFd fd, uint64_t max_bytes)
    : path_(std::move(path)),
      fd_(std::move(fd)),
      max_bytes_(max_bytes),
      started_ns_(MonotonicNs()),
      hash_(std::make_unique<Hash>()) {}

SessionRecording::~SessionRecording() { Close(); }

std::string SessionRecording::TimeText() const {
  const int64_t ns = MonotonicNs() - started_ns_;
  return absl::StrFormat("%d.%06d", ns / 1000000000, (ns % 1000000000) / 1000);
}

void SessionRecording::Event(char type, absl::string_view bytes, Utf8JsonEscaper* escaper) {
  if (state_ != State::kRecording) return;
  line_.clear();
  absl::StrAppend(&line_, "[", TimeText(), ",\"", absl::string_view(&type, 1), "\",\"");
  const size_t before = line_.size();
  escaper->Append(bytes, &line_);
  if (line_.size() == before) return;  // only part of a character so far
  line_.append("\"]\n");
  WriteLine(line_);
}

void SessionRecording::Output(absl::string_view bytes) { Event('o', bytes, &output_escaper_); }
void SessionRecording::Input(absl::string_view bytes) { Event('i', bytes, &input_escaper_); }

void SessionRecording::Resize(int cols, int rows) {
  if (state_ != State::kRecording) return;
  WriteLine(absl::StrCat("[", TimeText(), ",\"r\",\"", cols, "x", rows, "\"]\n"));
}

bool SessionRecording::WriteLine(const std::string& line) {
  if (state_ != State::kRecording) return false;
  if (written_ + line.size() + kMarkerReserve > max_bytes_) {
    // The marker is "o" so that a replay shows it where the recording ends.
    const std::string marker = absl::StrCat(
        "[", TimeText(), ",\"o\",\"\\r\\n[hatch: recording stopped: size limit of ",
        max_bytes_, " bytes reached]\\r\\n\"]\n");
    if (WriteAll(marker)) {
      state_ = State::kCapped;
      fd_.reset();
    }
    return false;
  }
  return WriteAll(line);
}

bool SessionRecording::WriteAll(const std::string& line) {
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_.get(), p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = n < 0 ? std::strerror(errno) : "short write";
      // Keep the file a valid recording: drop the part of this line that got in.
      if (left != line.size()) (void)::ftruncate(fd_.get(), static_cast<off_t>(written_));
      state_ = State::kFailed;
      fd_.reset();
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  written_ += line.size();
  EVP_DigestUpdate(hash_->ctx, line.data(), line.size());
  return true;
}

void SessionRecording::Close() {
  if (state_ != State::kRecording) return;
  line_.clear();
  output_escaper_.Flush(&line_);
  if (!line_.empty()) {
    std::string tail = absl::StrCat("[", TimeText(), ",\"o\",\"", line_, "\"]\n");
    WriteLine(tail);
  }
  if (state_ == State::kRecording) {
    state_ = State::kClosed;
    fd_.reset();
  }
}

std::string SessionRecording::Sha256Hex() const {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string hex;
  if (copy != nullptr && EVP_MD_CTX_copy_ex(copy, hash_->ctx) == 1 &&
      EVP_DigestFinal_ex(copy, digest, &len) == 1) {
    for (unsigned int i = 0; i < len; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
  }
  EVP_MD_CTX_free(copy);
  return hex;
}

}  // namespace hatch
