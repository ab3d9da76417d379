// SessionRecorder: records one shell/exec session (-recordSessions) by tapping its
// ChannelPump, and reports on the audit trail when the recording stops early.
// With a pty: the terminal's output as "o", the client's keystrokes as "i", window changes
// as "r". Without: stdout and stderr as "o" (stdin is not recorded: it may be a file upload).
#ifndef HATCH_SSHD_SESSION_RECORDER_H_
#define HATCH_SSHD_SESSION_RECORDER_H_

#include <memory>
#include <string>

#include "sshd/audit.h"
#include "sshd/channel_pump.h"
#include "sshd/recording.h"

namespace hatch {

class SessionRecorder : public PumpTap {
 public:
  // A recorder in `dir` (nullptr when `dir` is empty). When the file cannot be created, a
  // "recording.failed" event is written and nullptr returned: the session runs unrecorded.
  // `audit` must outlive the recorder.
  static std::unique_ptr<SessionRecorder> Start(const std::string& dir, uint64_t max_bytes,
                                                const ConnectionAudit* audit, int channel,
                                                const RecordingHeader& header, bool pty);

  void OnOutput(const char* data, size_t len, bool extended) override;
  void OnInput(const char* data, size_t len) override;
  void Resize(int cols, int rows);

  // Closes the file (idempotent); path() and sha256() then describe it as it stays.
  void Finish();
  const std::string& path() const { return recording_->path(); }
  std::string sha256() const { return recording_->Sha256Hex(); }

 private:
  SessionRecorder(std::unique_ptr<SessionRecording> recording, const ConnectionAudit* audit,
                  int channel, bool pty)
      : recording_(std::move(recording)), audit_(audit), channel_(channel), pty_(pty) {}
  // Writes the audit event once, when the recording has just stopped early.
  void CheckStopped();

  std::unique_ptr<SessionRecording> recording_;
  const ConnectionAudit* audit_;
  int channel_;
  bool pty_;
  bool reported_ = false;
};

}  // namespace hatch

#endif  // HATCH_SSHD_SESSION_RECORDER_H_
