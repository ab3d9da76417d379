#include "sshd/session_recorder.h"

#include <utility>

namespace hatch {

std::unique_ptr<SessionRecorder> SessionRecorder::Start(const std::string& dir,
                                                        uint64_t max_bytes,
                                                        const ConnectionAudit* audit,
                                                        int channel,
                                                        const RecordingHeader& header, bool pty) {
  if (dir.empty()) return nullptr;
  absl::StatusOr<std::unique_ptr<SessionRecording>> r =
      SessionRecording::Create(dir, audit->id(), channel, header, max_bytes);
  if (!r.ok()) {
    audit->RecordingFailed(channel, dir, r.status().message());
    return nullptr;
  }
  std::unique_ptr<SessionRecorder> recorder(
      new SessionRecorder(std::move(*r), audit, channel, pty));
  recorder->CheckStopped();  // a header over the cap
  return recorder;
}

void SessionRecorder::OnOutput(const char* data, size_t len, bool /*extended*/) {
  recording_->Output(absl::string_view(data, len));
  CheckStopped();
}

void SessionRecorder::OnInput(const char* data, size_t len) {
  if (!pty_) return;
  recording_->Input(absl::string_view(data, len));
  CheckStopped();
}

void SessionRecorder::Resize(int cols, int rows) {
  recording_->Resize(cols, rows);
  CheckStopped();
}

void SessionRecorder::Finish() {
  recording_->Close();
  CheckStopped();
}

void SessionRecorder::CheckStopped() {
  if (reported_) return;
  switch (recording_->state()) {
    case SessionRecording::State::kCapped:
      reported_ = true;
      audit_->RecordingTruncated(channel_, recording_->path(), recording_->max_bytes());
      break;
    case SessionRecording::State::kFailed:
      reported_ = true;
      audit_->RecordingFailed(channel_, recording_->path(), recording_->error());
      break;
    default:
      break;
  }
}

}  // namespace hatch
