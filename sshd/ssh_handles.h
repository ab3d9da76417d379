// Owners of libssh's handles, one small type each (as SshKey in keys.h): the handle is freed
// exactly once, by whoever holds the owner. Code that only uses a handle takes the raw
// pointer (`.get()`) and never frees it.
//
// Order matters where libssh links handles: a channel belongs to its session (free every
// SshChannel before the SshSession), and a session added to an event must be removed from it
// before either is freed (SshEvent does not know its sessions; Connection removes its own).
#ifndef HATCH_SSHD_SSH_HANDLES_H_
#define HATCH_SSHD_SSH_HANDLES_H_

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <memory>

namespace hatch {

struct SshSessionDeleter {
  void operator()(ssh_session s) const { ssh_free(s); }
};
struct SshEventDeleter {
  void operator()(ssh_event e) const { ssh_event_free(e); }
};
struct SshChannelDeleter {
  void operator()(ssh_channel c) const { ssh_channel_free(c); }
};
struct SshMessageDeleter {
  void operator()(ssh_message m) const { ssh_message_free(m); }
};
struct SshBindDeleter {
  void operator()(ssh_bind b) const { ssh_bind_free(b); }
};

using SshSession = std::unique_ptr<ssh_session_struct, SshSessionDeleter>;
using SshEvent = std::unique_ptr<ssh_event_struct, SshEventDeleter>;
using SshChannel = std::unique_ptr<ssh_channel_struct, SshChannelDeleter>;
// A message libssh let the callback keep (SSH_MESSAGE_KEEP): answered later, then freed.
using SshMessage = std::unique_ptr<ssh_message_struct, SshMessageDeleter>;
using SshBind = std::unique_ptr<ssh_bind_struct, SshBindDeleter>;

}  // namespace hatch

#endif  // HATCH_SSHD_SSH_HANDLES_H_
