// Connection (sshd/connection.h) served in a forked child over a socketpair, as the listener
// forks one per accepted client, with a libssh client in the test process.
#include "sshd/connection.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sshd/algorithms.h"
#include "sshd/keys.h"
#include "sshd/ssh_handles.h"

namespace hatch {
namespace {

std::string ReadProcFile(pid_t pid, const char* name) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/", name));
  std::string text;
  std::getline(in, text);
  return text;
}

// Waits up to `limit` for `pid` to exit; if it does not, kills it and says where it waited
// (its kernel wait channel and system call: "sock_alloc_send_pskb" and 44 is a send()).
::testing::AssertionResult ExitsWithin(pid_t pid, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return ::testing::AssertionSuccess();
    usleep(10 * 1000);
  }
  const std::string where = absl::StrCat("waiting in ", ReadProcFile(pid, "wchan"),
                                         ", system call ", ReadProcFile(pid, "syscall"));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return ::testing::AssertionFailure() << where;
}

// A client whose machine went away with its TCP window closed (here: a client that stopped
// reading its socket while a session floods it) must still be found dead by the keepalive
// (-keepaliveInterval x -keepaliveCountMax), not hold a connection process forever.
TEST(Connection, KeepaliveEndsAConnectionWhoseClientStoppedReading) {
  ssh_init();
  Config config;
  config.allow_unauthenticated_clients = true;
  config.idle_timeout = absl::ZeroDuration();
  config.keepalive_interval = absl::Milliseconds(200);
  config.keepalive_count_max = 2;
  absl::StatusOr<SshKey> key = LoadHostKey("");
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<AlgorithmPolicy> policy = BuildAlgorithmPolicy(config, key->get());
  ASSERT_TRUE(policy.ok()) << policy.status();
  SshBind bind(ssh_bind_new());
  ASSERT_EQ(ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_IMPORT_KEY, key->get()), SSH_OK);
  key->release();
  ASSERT_TRUE(ApplyAlgorithmPolicy(*policy, bind.get()).ok());
  ServerState state;
  state.config = &config;
  state.bind = bind.get();
  state.base_environment.vars = {{"PATH", "/bin:/usr/bin"}};
  state.base_environment.home = "/";

  // Blocking, as accept4() in the listener hands it over.
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  // A small send buffer, as a slow link gives: libssh's output outgrows what the socket can
  // take at once, every time.
  const int sndbuf = 16 * 1024;
  ASSERT_EQ(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[1]);
    int status;
    {
      Connection connection(&state, UniqueFd(fds[0]), "socketpair");
      status = connection.Run();
    }
    _exit(status);
  }
  close(fds[0]);

  SshSession client(ssh_new());
  const bool no = false;
  const long timeout_s = 20;
  ssh_options_set(client.get(), SSH_OPTIONS_FD, &fds[1]);
  ssh_options_set(client.get(), SSH_OPTIONS_HOST, "127.0.0.1");
  ssh_options_set(client.get(), SSH_OPTIONS_USER, "test");
  ssh_options_set(client.get(), SSH_OPTIONS_PROCESS_CONFIG, &no);
  ssh_options_set(client.get(), SSH_OPTIONS_TIMEOUT, &timeout_s);
  ASSERT_EQ(ssh_connect(client.get()), SSH_OK) << ssh_get_error(client.get());
  ASSERT_EQ(ssh_userauth_none(client.get(), nullptr), SSH_AUTH_SUCCESS);
  SshChannel channel(ssh_channel_new(client.get()));
  ASSERT_EQ(ssh_channel_open_session(channel.get()), SSH_OK);
  ASSERT_EQ(ssh_channel_request_exec(channel.get(), "exec cat /dev/zero"), SSH_OK);

  // The client reads for a while, as a download runs, then stops for good (its machine went
  // away): the window, then the socket fill up.
  char buf[64 * 1024];
  size_t received = 0;
  for (const absl::Time stop = absl::Now() + absl::Milliseconds(300); absl::Now() < stop;) {
    const int n = ssh_channel_read_timeout(channel.get(), buf, sizeof buf, 0, 100);
    ASSERT_GE(n, 0);
    received += static_cast<size_t>(n);
  }
  ASSERT_GT(received, 0u);
  EXPECT_TRUE(ExitsWithin(pid, absl::Seconds(10)))
      << "the connection process still runs 10 s after its keepalives went unanswered";
  channel.reset();
}

}  // namespace
}  // namespace hatch
