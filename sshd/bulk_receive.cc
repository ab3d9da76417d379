#include "sshd/bulk_receive.h"

#include <sys/socket.h>

#include <algorithm>

namespace hatch {

int BulkReceive::AfterTurn(uint64_t received, absl::Time now) {
  const uint64_t arrived = received - last_received_;
  last_received_ = received;
  const bool paused = now - last_arrival_ >= kTail;
  if (arrived > 0) {
    burst_ = paused ? arrived : burst_ + arrived;
    last_arrival_ = now;
  } else if (paused) {
    burst_ = 0;
  }
  if (!streaming_ && !unsupported_ && burst_ >= threshold_) {
    SetLowWater(kLowWater);
    streaming_ = !unsupported_;
    raised_ = now;
  } else if (streaming_ && arrived == 0 && paused) {
    SetLowWater(1);
    streaming_ = false;
    burst_ = 0;
    threshold_ = now - raised_ < kShortStream ? std::min(threshold_ * 2, kMaxStreamingBytes)
                                              : kStreamingBytes;
  }
  if (!streaming_) return idle_timeout_ms_;
  // Wake up once kTail has passed since the last arrival (at least 1 ms: poll's unit).
  const int64_t left = absl::ToInt64Milliseconds(kTail - (now - last_arrival_));
  return left < 1 ? 1 : static_cast<int>(left);
}

void BulkReceive::SetLowWater(int bytes) {
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes) != 0) unsupported_ = true;
}

}  // namespace hatch
