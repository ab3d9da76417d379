// The audit trail (`-auditLog`): one lager JSON line per security-relevant event,
//   {"timestamp":"..","source":"sshd","message":"sshd.audit.<event>","log_level":1,
//    "data":{"connection":"<id>","peer":"<ip>:<port>",...}}
// written whatever -logLevel says (Diego runs the daemon with -logLevel=fatal), one write(2)
// per line so the listener, connection processes and built-ins never interleave mid-line.
//
// What the trail can carry is decided by the types below: key fingerprints are computed
// here from the key (never its blob), env requests give names only (anything from '=' on
// is cut), and nothing takes passwords, env values or file contents.
#ifndef HATCH_SSHD_AUDIT_H_
#define HATCH_SSHD_AUDIT_H_

#include <libssh/libssh.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "sshd/file_observer.h"

namespace hatch {

// Where the trail goes. Process-wide: opened once in main() and inherited by the
// connection processes and the built-ins they fork (see AuditFd()).
class AuditSink {
 public:
  // "stdout", "stderr", "none" or a file PATH (opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC,
  // mode 0600; an existing file keeps its mode). stdout/stderr are duplicated to a
  // close-on-exec fd above 2, so a forked built-in whose 0-2 are its channel's pipes still
  // writes the trail where the daemon does. Errors are one line, fit for stderr.
  static absl::StatusOr<AuditSink> Open(absl::string_view spec);

  AuditSink() = default;  // "none"
  AuditSink(AuditSink&&) = default;
  AuditSink& operator=(AuditSink&&) = default;

  // -1 for "none"; never 0-2.
  int fd() const { return fd_.get(); }

  // Writes one `sshd.audit.<event>` line with `data` (an object). A failed write is
  // dropped: the trail must never stop the daemon.
  void Write(absl::string_view event, const nlohmann::ordered_json& data) const;

 private:
  UniqueFd fd_;
};

// The process-wide sink (default: stdout). SetAuditSink takes ownership.
void SetAuditSink(AuditSink sink);
const AuditSink& GlobalAuditSink();
// The sink's fd, for a forked built-in that must keep it across close_range (-1: none).
int AuditFd();

// A random 64-bit id, 16 hex digits, that ties the events of one connection together.
std::string NewConnectionId();

// 1, 2, 3, ...: numbers the sessions and tunnels of one connection (process-wide, and each
// connection is its own process), tying "started" to "ended" events.
int NextAuditChannelNumber();

// Algorithms negotiated at key exchange (libssh's ssh_get_*), for "login.succeeded".
struct NegotiatedAlgorithms {
  std::string kex, cipher_in, cipher_out, mac_in, mac_out;
};
NegotiatedAlgorithms GetNegotiatedAlgorithms(ssh_session session);

enum class SessionKind { kShell, kExec, kSubsystem };

struct SessionStart {
  int channel = 0;               // the channel's local id, ties started to ended
  SessionKind kind = SessionKind::kShell;
  std::string command;           // exec's command or the subsystem's name; "" for a shell
  bool pty = false;
  std::string term;              // pty-req's TERM ("" without a pty)
  std::vector<std::string> env_requests;  // as the client sent them: only names are kept
  std::string recording;         // file path, "" when not recorded
};

struct SessionEnd {
  int channel = 0;
  SessionKind kind = SessionKind::kShell;
  std::string command;
  std::optional<int> exit_status;   // exactly one of these is set once the process ended
  std::string exit_signal;          // "TERM", "KILL", ... ("" unless killed by a signal)
  absl::Duration duration;
  uint64_t bytes_in = 0;            // client -> session
  uint64_t bytes_out = 0;           // session -> client
  bool hung_up = false;             // ended by the client or the connection, not by itself
  std::string recording;            // file path, "" when not recorded
  std::string recording_sha256;     // hex SHA-256 of the file as written
};

// FileOp and FileEvent: sshd/file_observer.h (the built-ins report them).
absl::string_view FileOpName(FileOp op);  // "read", "written", ... (the event's suffix)


enum class ForwardKind { kLocal, kRemote };
struct Forward {
  ForwardKind kind = ForwardKind::kLocal;
  int channel = -1;          // the tunnel's channel (-1 for a remote listener itself)
  std::string host;          // local: the destination; remote: the bound address
  int port = 0;
  std::string originator;    // "host:port" the client (local) or the connecting peer (remote) named
};

// The events of one connection, stamped with its id and peer. Cheap to copy; a forked
// built-in uses its copy of the connection's.
class ConnectionAudit {
 public:
  ConnectionAudit() = default;
  ConnectionAudit(std::string id, std::string peer)
      : id_(std::move(id)), peer_(std::move(peer)), started_(absl::Now()) {}

  const std::string& id() const { return id_; }
  const std::string& peer() const { return peer_; }
  absl::Time started() const { return started_; }

  // `key` may be null (none auth, or no key offered); only its fingerprint is written.
  void LoginSucceeded(absl::string_view user, absl::string_view method, ssh_key key,
                      const NegotiatedAlgorithms& algorithms) const;
  void LoginFailed(absl::string_view user, absl::string_view method, ssh_key key) const;
  void SessionStarted(const SessionStart& s) const;
  void SessionEnded(const SessionEnd& s) const;
  void File(const FileEvent& e) const;
  void ForwardOpened(const Forward& f) const;
  void ForwardClosed(const Forward& f, uint64_t bytes_in, uint64_t bytes_out,
                     absl::Duration duration) const;
  void RecordingTruncated(int channel, absl::string_view path, uint64_t cap_bytes) const;
  void RecordingFailed(int channel, absl::string_view path, absl::string_view error) const;
  // Duration since construction.
  void ConnectionEnded(absl::string_view reason) const;

 private:
  std::string id_;
  std::string peer_;
  absl::Time started_;
};

// Writes a built-in's file events (sshd/file_observer.h) as that connection's audit lines.
class AuditFileObserver : public FileObserver {
 public:
  explicit AuditFileObserver(ConnectionAudit audit) : audit_(std::move(audit)) {}
  void OnFileEvent(const FileEvent& event) override { audit_.File(event); }

 private:
  ConnectionAudit audit_;
};

}  // namespace hatch

#endif  // HATCH_SSHD_AUDIT_H_
