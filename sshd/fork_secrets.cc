#include "sshd/fork_secrets.h"

namespace hatch {
namespace {
ssh_bind g_bind = nullptr;
ssh_session g_session = nullptr;
}  // namespace

void RegisterForkSecrets(ssh_bind bind) { g_bind = bind; }
void RegisterForkSecrets(ssh_session session) { g_session = session; }

void ForgetSecretsInForkedChild() {
  // ssh_free frees channels without sending anything, the socket (its fd is already closed
  // here), the session's host key copy and both crypto states (cleansed).
  if (g_session != nullptr) ssh_free(g_session);
  if (g_bind != nullptr) ssh_bind_free(g_bind);
  g_session = nullptr;
  g_bind = nullptr;
}

}  // namespace hatch
