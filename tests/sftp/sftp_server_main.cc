// hatch-sftp-server: RunSftpServer on stdin/stdout, for driving hatch's SFTP server with real
// clients without an SSH daemon (OpenSSH's `sftp -D`, paramiko over pipes), and for the
// throughput comparison with OpenSSH's sftp-server.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "sshd/sftp/sftp_server.h"

ABSL_FLAG(std::string, home, "", "directory relative paths resolve from (default: cwd)");
ABSL_FLAG(bool, read_only, false, "refuse every write, as sftp-server -R");
ABSL_FLAG(uint32_t, max_handles, 256, "open handles per session");
ABSL_FLAG(uint32_t, max_message, 256 * 1024, "largest request accepted, in bytes");
ABSL_FLAG(std::string, umask, "", "umask to set before serving, in octal (e.g. 027); "
                                 "default: the inherited one");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  hatch::sftp::SftpServerOptions options;
  options.home = absl::GetFlag(FLAGS_home);
  if (options.home.empty()) {
    char cwd[PATH_MAX];
    options.home = getcwd(cwd, sizeof cwd) != nullptr ? cwd : "/";
  }
  options.read_only = absl::GetFlag(FLAGS_read_only);
  options.max_handles = absl::GetFlag(FLAGS_max_handles);
  options.max_message = absl::GetFlag(FLAGS_max_message);
  const std::string mask = absl::GetFlag(FLAGS_umask);
  if (!mask.empty()) umask(static_cast<mode_t>(std::stoul(mask, nullptr, 8) & 0777));
  return hatch::sftp::RunSftpServer(STDIN_FILENO, STDOUT_FILENO, options);
}
