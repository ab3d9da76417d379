// FdWatch: one fd watched in a libssh ssh_event, with the poll events it wants.
//
// libssh's poll loop keeps raw indexes into its handle array while it runs callbacks, so an
// fd must never be added to or removed from the event inside a callback. FdWatch therefore
// only records what is wanted (Want); Sync(), called by the connection's loop between two
// ssh_event_dopoll() calls, applies it.
#ifndef HATCH_SSHD_EVENT_LOOP_H_
#define HATCH_SSHD_EVENT_LOOP_H_

#include <libssh/libssh.h>
#include <poll.h>

#include <functional>
#include <initializer_list>

#include "base/unique_fd.h"

namespace hatch {

class FdWatch {
 public:
  // `event` must outlive this object; `fd` stays owned by the caller and must stay open
  // until this FdWatch is destroyed or Stop()ped. `on_ready` gets poll revents.
  FdWatch(ssh_event event, int fd, std::function<void(short)> on_ready);
  ~FdWatch();
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;

  void Want(short events) { wanted_ = events; }
  // Applies the wanted events to the libssh event. Never call from a libssh callback.
  void Sync();
  // Removes the fd from the event now. Never call from a libssh callback.
  void Stop();
  int fd() const { return fd_; }

 private:
  static int Dispatch(socket_t fd, int revents, void* self);

  ssh_event event_;
  int fd_;
  std::function<void(short)> on_ready_;
  short wanted_ = 0;
  short registered_ = 0;
};

// Blocks `signals` in this thread and returns a non-blocking, close-on-exec signalfd that
// reads them, so a poll loop sees them as an fd (the listener and every connection use one).
// Children reset their mask (process.h), so the block does not reach sessions.
UniqueFd BlockedSignalFd(std::initializer_list<int> signals);

}  // namespace hatch

#endif  // HATCH_SSHD_EVENT_LOOP_H_
