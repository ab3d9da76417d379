// The whole SFTP server loop (RunSftpServer) fed a fuzzed client byte stream: packet framing,
// INIT, every request and extension, handles, and the file-system calls they make, inside a
// Landlock-confined scratch home (sandbox.h). The input is the stream as a client would send
// it (uint32 length, type, id, fields); replies go to /dev/null.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz/sandbox.h"
#include "sshd/sftp/sftp_server.h"

namespace {
hatch::fuzz::FuzzSandbox* g_sandbox = nullptr;
int g_dev_null = -1;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  g_sandbox = &hatch::fuzz::FuzzSandbox::Init(*argc, *argv, "sftp_server_fuzzer");
  g_dev_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (g_dev_null < 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A memfd is a complete, already-ended input: poll says readable, read returns 0 at its end
  // (a clean EOF, as when the client closes the channel).
  const int in_fd = memfd_create("sftp-input", MFD_CLOEXEC);
  if (in_fd < 0) std::abort();
  if (size > 0 && write(in_fd, data, size) != static_cast<ssize_t>(size)) std::abort();
  lseek(in_fd, 0, SEEK_SET);
  g_sandbox->Run([&] {
    hatch::sftp::SftpServerOptions options;
    options.home = g_sandbox->root();
    options.max_handles = 8;  // reachable by short inputs
    hatch::sftp::RunSftpServer(in_fd, g_dev_null, options);
  });
  close(in_fd);
  return 0;
}
