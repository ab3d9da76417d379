// The scp sink (`scp -t`, what `scp -O file host:` runs) fed a fuzzed stream of control lines
// and file data, writing into a Landlock-confined scratch home (sandbox.h). The first input
// byte picks the flags (-r, -p, -d, the target), the rest is the stream.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz/sandbox.h"
#include "sshd/scp/scp.h"

namespace {
hatch::fuzz::FuzzSandbox* g_sandbox = nullptr;
int g_dev_null = -1;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  g_sandbox = &hatch::fuzz::FuzzSandbox::Init(*argc, *argv, "scp_sink_fuzzer");
  g_dev_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (g_dev_null < 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::vector<std::string> args = {"scp"};
  if (flags & 1) args.push_back("-r");
  if (flags & 2) args.push_back("-p");
  if (flags & 4) args.push_back("-d");
  args.push_back("-t");
  args.push_back("--");
  args.push_back((flags & 8) ? "dir" : ".");
  const int in_fd = memfd_create("scp-input", MFD_CLOEXEC);
  if (in_fd < 0) std::abort();
  if (size > 1 && write(in_fd, data + 1, size - 1) != static_cast<ssize_t>(size - 1)) {
    std::abort();
  }
  lseek(in_fd, 0, SEEK_SET);
  g_sandbox->Run([&] {
    if (flags & 8) mkdir((g_sandbox->root() + "/dir").c_str(), 0700);
    hatch::scp::ScpOptions options;
    options.home = g_sandbox->root();
    hatch::scp::RunScp(args, in_fd, g_dev_null, g_dev_null, options);
  });
  close(in_fd);
  return 0;
}
