// diego-sshd: hatch's SSH daemon, a drop-in replacement for Cloud Foundry's diego-sshd.
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "sshd/algorithms.h"
#include "sshd/audit.h"
#include "sshd/config.h"
#include "sshd/connection.h"
#include "sshd/fork_secrets.h"
#include "sshd/keys.h"
#include "sshd/listener.h"
#include "sshd/log.h"
#include "sshd/ssh_handles.h"
#include "sandbox/landlock.h"
#include "sandbox/session_sandbox.h"

#ifndef HATCH_VERSION
#define HATCH_VERSION "dev"
#endif

extern char** environ;

namespace {

// Taken before anything else in the process runs: .preinit_array entries run before every
// static initialiser, of this program and (dynamic build) of every shared library. libssh's
// constructor alone initialises OpenSSL, which reads openssl.cnf; abseil registers flags.
// Until this runs, /proc/<pid>/cmdline (readable by every user) still shows the keys: what
// is left is the dynamic loader's time, or nothing of ours in the static release binary.
hatch::Secrets* g_secrets = nullptr;

void TakeSecretsFirst(int argc, char** argv, char** envp) {
  g_secrets = new hatch::Secrets;
  hatch::TakeSecrets(argc, argv, envp, g_secrets);
}

[[gnu::section(".preinit_array"), gnu::used]] void (*take_secrets_first)(int, char**, char**) =
    &TakeSecretsFirst;

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "diego-sshd: %s\n", std::string(status.message()).c_str());
  return 1;
}

// Prepares what confines every session and tries it in a child, so that a kernel that cannot
// enforce it is a start-up error rather than a failed session. -readOnly is never weakened:
// without the kernel's support the daemon does not start. The baseline filter alone is
// defence in depth: where the kernel or the container refuses seccomp, sessions run without
// it (logged) rather than the runtime's unchanged command line failing to start.
absl::Status PrepareSessionSandbox(hatch::Config* config) {
  int abi = hatch::sandbox::KernelLandlockAbi();
  // For tests of the refusal: pretend an older kernel. It can only lower the ABI, which
  // only ever makes -readOnly refuse to start; never a weaker session.
  if (const char* pretend = std::getenv("HATCH_TEST_LANDLOCK_ABI"); pretend != nullptr) {
    int n = 0;
    if (absl::SimpleAtoi(pretend, &n) && n >= 0 && n < abi) abi = n;
    unsetenv("HATCH_TEST_LANDLOCK_ABI");
  }
  absl::Status s = hatch::sandbox::SessionSandbox::Check(config->session_sandbox(), abi);
  if (!s.ok() && !config->read_only && config->syscall_filter) {
    hatch::LogError("sandbox.syscall-filter-unavailable", {{"error", std::string(s.message())}});
    // Also on stderr, whatever -logLevel says: Diego runs the daemon with -logLevel=fatal,
    // and sessions without their filter must not go unnoticed (the executor streams stderr
    // to the app's logs as ERR).
    std::fprintf(stderr, "diego-sshd: warning: sessions run without the syscall filter: %s\n",
                 std::string(s.message()).c_str());
    config->syscall_filter = false;
    return absl::OkStatus();
  }
  if (s.ok()) {
    hatch::LogInfo("sandbox", {{"read_only", config->read_only},
                               {"syscall_filter", config->syscall_filter},
                               {"landlock_abi", abi}});
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  // The secrets left argv and the environment block before any initialiser ran
  // (TakeSecretsFirst); the variables leave the environment now (libc's view of it is set up).
  if (g_secrets == nullptr) {  // no .preinit_array support: take them now
    g_secrets = new hatch::Secrets;
    hatch::TakeSecrets(argc, argv, g_secrets);
  }
  std::unique_ptr<hatch::Secrets> owned_secrets(g_secrets);
  hatch::Secrets& secrets = *owned_secrets;
  hatch::ScrubSecrets(argc, argv);
  // No fd inherited from whatever started us: a connection or session must not get a stray
  // fd of the runtime's.
  close_range(3, ~0U, 0);
  // The app image's openssl.cnf is not ours: loading it could dlopen() provider modules a
  // static binary cannot use.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);
  // Sessions run as the same uid: without this, any of them could read the host key out of
  // the daemon's /proc/<pid>/mem. execve() makes session programs dumpable again.
  prctl(PR_SET_DUMPABLE, 0);
  // Whatever started us may have left signals ignored or blocked. The daemon needs two at
  // their defaults: SIGCHLD (ignored, the kernel reaps children itself and no session's exit
  // status is ever seen) and SIGALRM (the pre-auth deadlines). None stays blocked; the event
  // loops block what they read through signalfd themselves.
  signal(SIGCHLD, SIG_DFL);
  signal(SIGALRM, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // A file size limit must fail a recording's write (EFBIG), not kill the connection; the
  // sessions' processes start with every signal at its default again (Spawn).
  signal(SIGXFSZ, SIG_IGN);
  // `-version` is abseil's own flag: ParseConfig prints this and exits 0.
  absl::FlagsUsageConfig usage;
  usage.version_string = [] {
    return absl::StrCat("diego-sshd (hatch) ", HATCH_VERSION, "\nlibssh ", ssh_version(0), "\n",
                        OpenSSL_version(OPENSSL_VERSION), "\n");
  };
  // -help lists the daemon's own flags (abseil's default shows only flags defined in the
  // file holding main()).
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "sshd/config.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::StatusOr<hatch::Config> config = hatch::ParseConfig(argc, argv, &secrets);
  if (!config.ok()) return Fail(config.status());
  hatch::SetLogLevel(config->log_level);
  if (absl::Status s = PrepareSessionSandbox(&*config); !s.ok()) return Fail(s);
  absl::StatusOr<hatch::AuditSink> audit = hatch::AuditSink::Open(config->audit_log);
  if (!audit.ok()) return Fail(audit.status());
  hatch::SetAuditSink(std::move(*audit));
  ssh_init();

  absl::StatusOr<hatch::SshKey> host_key = hatch::LoadHostKey(config->host_key);
  if (!host_key.ok()) return Fail(host_key.status());
  hatch::ServerState state;
  if (!config->authorized_key.empty()) {
    absl::StatusOr<hatch::SshKey> authorized = hatch::ParseAuthorizedKey(config->authorized_key);
    if (!authorized.ok()) return Fail(authorized.status());
    absl::StatusOr<std::string> blob = hatch::PublicKeyBlob(authorized->get());
    if (!blob.ok()) return Fail(blob.status());
    state.authorized_key_blob = *blob;
  }
  // The key texts are not needed past this point.
  OPENSSL_cleanse(config->host_key.data(), config->host_key.size());
  OPENSSL_cleanse(config->authorized_key.data(), config->authorized_key.size());
  secrets.Wipe();

  absl::StatusOr<hatch::AlgorithmPolicy> policy =
      hatch::BuildAlgorithmPolicy(*config, host_key->get());
  if (!policy.ok()) return Fail(policy.status());

  hatch::SshBind bind(ssh_bind_new());
  const std::string fingerprint = hatch::Fingerprint(host_key->get());
  // The bind takes ownership of the key.
  if (ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_IMPORT_KEY, host_key->get()) != SSH_OK) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("host key: ", ssh_get_error(bind.get()))));
  }
  host_key->release();
  // The sftp/scp built-ins (forked, no exec) free it, sshd/fork_secrets.h.
  hatch::RegisterForkSecrets(bind.get());
  ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_BANNER, "diego-sshd");
  if (absl::Status s = hatch::ApplyAlgorithmPolicy(*policy, bind.get()); !s.ok()) return Fail(s);

  absl::StatusOr<hatch::UniqueFd> listen_fd = hatch::Listen(config->address);
  if (!listen_fd.ok()) return Fail(listen_fd.status());

  state.config = &*config;
  state.bind = bind.get();
  state.base_environment = hatch::MakeBaseEnvironment(environ, config->inherit_daemon_env);
  hatch::LogDebug("host-key", {{"fingerprint", fingerprint}});
  hatch::Listener listener(&state, std::move(*listen_fd));
  int status = listener.Run();
  bind.reset();
  ssh_finalize();
  return status;
}
