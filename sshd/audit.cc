#include "sshd/audit.h"

#include <fcntl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sshd/keys.h"

namespace hatch {
namespace {

AuditSink& Global() {
  static AuditSink* sink = [] {
    auto* s = new AuditSink();
    *s = *AuditSink::Open("stdout");
    return s;
  }();
  return *sink;
}

std::string Timestamp() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return absl::StrFormat("%d.%09d", static_cast<long long>(ts.tv_sec), ts.tv_nsec);
}

void WriteAll(int fd, const std::string& text) {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

const char* KindName(SessionKind kind) {
  switch (kind) {
    case SessionKind::kShell: return "shell";
    case SessionKind::kExec: return "exec";
    case SessionKind::kSubsystem: return "subsystem";
  }
  return "?";
}

std::string FingerprintOrEmpty(ssh_key key) { return key != nullptr ? Fingerprint(key) : ""; }

// Diego's log streamer cuts lines at 60 KiB: a long command or path is cut well below that
// so that every audit line stays one line in the log stream.
constexpr size_t kMaxText = 4096;
std::string Capped(absl::string_view s) {
  if (s.size() <= kMaxText) return std::string(s);
  return absl::StrCat(s.substr(0, kMaxText), "...");
}

std::string SecondsText(absl::Duration d) {
  return absl::StrFormat("%.3f", absl::ToDoubleSeconds(d));
}

}  // namespace

absl::StatusOr<AuditSink> AuditSink::Open(absl::string_view spec) {
  AuditSink sink;
  if (spec == "none") return sink;
  if (spec == "stdout" || spec == "stderr" || spec.empty()) {
    const int std_fd = spec == "stderr" ? STDERR_FILENO : STDOUT_FILENO;
    // A closed stdout/stderr: no trail, as for the other logs.
    sink.fd_.reset(fcntl(std_fd, F_DUPFD_CLOEXEC, 3));
    return sink;
  }
  std::string path(spec);
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("-auditLog: cannot open ", path, ": ", std::strerror(errno)));
  }
  if (fd <= STDERR_FILENO) {  // opened with 0-2 closed: keep it away from them
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    ::close(fd);
    fd = high;
  }
  sink.fd_.reset(fd);
  return sink;
}

void AuditSink::Write(absl::string_view event, const nlohmann::ordered_json& data) const {
  const int out = fd();
  if (out < 0) return;
  nlohmann::ordered_json line;
  line["timestamp"] = Timestamp();
  line["source"] = "sshd";
  line["message"] = absl::StrCat("sshd.audit.", event);
  line["log_level"] = 1;  // lager's info: an audit line is no error
  line["data"] = data;
  // Paths and commands may hold any bytes: replace invalid UTF-8 rather than throw.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  WriteAll(out, text);
}

void SetAuditSink(AuditSink sink) { Global() = std::move(sink); }
const AuditSink& GlobalAuditSink() { return Global(); }
int AuditFd() { return Global().fd(); }

int NextAuditChannelNumber() {
  static int next = 0;
  return ++next;
}

std::string NewConnectionId() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
    // No entropy source: an id unique on this host is still useful.
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    v = (static_cast<uint64_t>(ts.tv_nsec) << 32) ^ static_cast<uint64_t>(getpid()) ^
        static_cast<uint64_t>(ts.tv_sec);
  }
  return absl::StrFormat("%016x", v);
}

NegotiatedAlgorithms GetNegotiatedAlgorithms(ssh_session session) {
  auto text = [](const char* s) { return std::string(s != nullptr ? s : ""); };
  NegotiatedAlgorithms a;
  a.kex = text(ssh_get_kex_algo(session));
  a.cipher_in = text(ssh_get_cipher_in(session));
  a.cipher_out = text(ssh_get_cipher_out(session));
  a.mac_in = text(ssh_get_hmac_in(session));
  a.mac_out = text(ssh_get_hmac_out(session));
  return a;
}

absl::string_view FileOpName(FileOp op) {
  switch (op) {
    case FileOp::kRead: return "read";
    case FileOp::kWritten: return "written";
    case FileOp::kCreated: return "created";
    case FileOp::kRemoved: return "removed";
    case FileOp::kRenamed: return "renamed";
    case FileOp::kMkdir: return "mkdir";
    case FileOp::kRmdir: return "rmdir";
    case FileOp::kSetstat: return "setstat";
    case FileOp::kSymlink: return "symlink";
    case FileOp::kLink: return "link";
  }
  return "?";
}

namespace {

nlohmann::ordered_json Base(const ConnectionAudit& c) {
  nlohmann::ordered_json d;
  d["connection"] = c.id();
  d["peer"] = c.peer();
  return d;
}

}  // namespace

void ConnectionAudit::LoginSucceeded(absl::string_view user, absl::string_view method,
                                     ssh_key key, const NegotiatedAlgorithms& a) const {
  nlohmann::ordered_json d = Base(*this);
  d["user"] = Capped(user);
  d["method"] = std::string(method);
  d["key_fingerprint"] = FingerprintOrEmpty(key);
  d["kex"] = a.kex;
  d["cipher_in"] = a.cipher_in;
  d["cipher_out"] = a.cipher_out;
  d["mac_in"] = a.mac_in;
  d["mac_out"] = a.mac_out;
  GlobalAuditSink().Write("login.succeeded", d);
}

void ConnectionAudit::LoginFailed(absl::string_view user, absl::string_view method,
                                  ssh_key key) const {
  nlohmann::ordered_json d = Base(*this);
  d["user"] = Capped(user);
  d["method"] = std::string(method);
  d["key_fingerprint"] = FingerprintOrEmpty(key);
  GlobalAuditSink().Write("login.failed", d);
}

void ConnectionAudit::SessionStarted(const SessionStart& s) const {
  nlohmann::ordered_json d = Base(*this);
  d["channel"] = s.channel;
  d["type"] = KindName(s.kind);
  d["command"] = Capped(s.command);
  d["pty"] = s.pty;
  d["term"] = s.term;
  nlohmann::ordered_json names = nlohmann::ordered_json::array();
  for (const std::string& e : s.env_requests) {
    names.push_back(e.substr(0, e.find('=')));  // a name, never a value
  }
  d["env_names"] = std::move(names);
  d["recording"] = s.recording;
  GlobalAuditSink().Write("session.started", d);
}

void ConnectionAudit::SessionEnded(const SessionEnd& s) const {
  nlohmann::ordered_json d = Base(*this);
  d["channel"] = s.channel;
  d["type"] = KindName(s.kind);
  d["command"] = Capped(s.command);
  if (s.exit_status.has_value()) d["exit_status"] = *s.exit_status;
  if (!s.exit_signal.empty()) d["exit_signal"] = s.exit_signal;
  d["duration"] = SecondsText(s.duration);
  d["bytes_in"] = s.bytes_in;
  d["bytes_out"] = s.bytes_out;
  if (s.hung_up) d["hung_up"] = true;
  d["recording"] = s.recording;
  d["recording_sha256"] = s.recording_sha256;
  GlobalAuditSink().Write("session.ended", d);
}

void ConnectionAudit::File(const FileEvent& e) const {
  nlohmann::ordered_json d = Base(*this);
  d["protocol"] = e.protocol;
  d["path"] = Capped(e.path);
  switch (e.op) {
    case FileOp::kRenamed: d["new_path"] = Capped(e.target); break;
    case FileOp::kSymlink:
    case FileOp::kLink: d["target"] = Capped(e.target); break;
    case FileOp::kRead:
    case FileOp::kWritten: d["bytes"] = e.bytes; break;
    default: break;
  }
  if (e.mode.has_value()) d["mode"] = absl::StrFormat("%04o", *e.mode & 07777);
  GlobalAuditSink().Write(absl::StrCat("file.", FileOpName(e.op)), d);
}

void ConnectionAudit::ForwardOpened(const Forward& f) const {
  nlohmann::ordered_json d = Base(*this);
  d["kind"] = f.kind == ForwardKind::kLocal ? "local" : "remote";
  if (f.channel >= 0) d["channel"] = f.channel;
  d["host"] = f.host;
  d["port"] = f.port;
  d["originator"] = f.originator;
  GlobalAuditSink().Write("forward.opened", d);
}

void ConnectionAudit::ForwardClosed(const Forward& f, uint64_t bytes_in, uint64_t bytes_out,
                                    absl::Duration duration) const {
  nlohmann::ordered_json d = Base(*this);
  d["kind"] = f.kind == ForwardKind::kLocal ? "local" : "remote";
  if (f.channel >= 0) d["channel"] = f.channel;
  d["host"] = f.host;
  d["port"] = f.port;
  d["originator"] = f.originator;
  d["bytes_in"] = bytes_in;
  d["bytes_out"] = bytes_out;
  d["duration"] = SecondsText(duration);
  GlobalAuditSink().Write("forward.closed", d);
}

void ConnectionAudit::RecordingTruncated(int channel, absl::string_view path,
                                         uint64_t cap_bytes) const {
  nlohmann::ordered_json d = Base(*this);
  d["channel"] = channel;
  d["recording"] = std::string(path);
  d["max_bytes"] = cap_bytes;
  GlobalAuditSink().Write("recording.truncated", d);
}

void ConnectionAudit::RecordingFailed(int channel, absl::string_view path,
                                      absl::string_view error) const {
  nlohmann::ordered_json d = Base(*this);
  d["channel"] = channel;
  d["recording"] = std::string(path);
  d["error"] = std::string(error);
  GlobalAuditSink().Write("recording.failed", d);
}

void ConnectionAudit::ConnectionEnded(absl::string_view reason) const {
  nlohmann::ordered_json d = Base(*this);
  d["reason"] = std::string(reason);
  d["duration"] = SecondsText(absl::Now() - started_);
  GlobalAuditSink().Write("connection.ended", d);
}

}  // namespace hatch
