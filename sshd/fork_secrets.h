// Key material a process forked without exec must not keep. The sftp/scp built-ins and the
// name lookup child (c-ares) are forked from the connection process and share its memory
// copy-on-write: the host key (in the ssh_bind and its copy in the session) and the session's
// cipher keys. Such a child frees both objects first thing; libssh and OpenSSL cleanse private
// key and cipher key memory as they free it. Process-wide registry: main registers the bind,
// the connection its session.
#ifndef HATCH_SSHD_FORK_SECRETS_H_
#define HATCH_SSHD_FORK_SECRETS_H_

#include <libssh/libssh.h>
#include <libssh/server.h>

namespace hatch {

// Neither is owned; each stays registered for the life of the process.
void RegisterForkSecrets(ssh_bind bind);
void RegisterForkSecrets(ssh_session session);

// In a forked child that will not exec, before it opens any fd of its own (freeing the
// session close()s its socket's fd number, no shutdown: that must be the inherited socket
// or already closed): frees the registered bind and session. The parent's objects are
// untouched (these are the child's copies).
void ForgetSecretsInForkedChild();

}  // namespace hatch

#endif  // HATCH_SSHD_FORK_SECRETS_H_
