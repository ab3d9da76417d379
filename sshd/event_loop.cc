#include "sshd/event_loop.h"

#include <signal.h>
#include <sys/signalfd.h>

namespace hatch {

FdWatch::FdWatch(ssh_event event, int fd, std::function<void(short)> on_ready)
    : event_(event), fd_(fd), on_ready_(std::move(on_ready)) {}

FdWatch::~FdWatch() { Stop(); }

void FdWatch::Sync() {
  if (wanted_ == registered_ || fd_ < 0) return;
  if (registered_ != 0) ssh_event_remove_fd(event_, fd_);
  registered_ = 0;
  if (wanted_ != 0 && ssh_event_add_fd(event_, fd_, wanted_, &FdWatch::Dispatch, this) == SSH_OK) {
    registered_ = wanted_;
  }
}

void FdWatch::Stop() {
  if (registered_ != 0) ssh_event_remove_fd(event_, fd_);
  registered_ = 0;
  wanted_ = 0;
}

int FdWatch::Dispatch(socket_t fd, int revents, void* self) {
  static_cast<FdWatch*>(self)->on_ready_(static_cast<short>(revents));
  return 0;
}

UniqueFd BlockedSignalFd(std::initializer_list<int> signals) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : signals) sigaddset(&mask, sig);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  return UniqueFd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
}

}  // namespace hatch
