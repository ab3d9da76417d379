#include "tests/scp/scp_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "base/unique_fd.h"

namespace hatch::scp::testing {
namespace {

struct Pipe {
  UniqueFd read;
  UniqueFd write;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
};

void Drain(int fd, std::string* out) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    out->append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

ScpRun RunScpWithInput(const std::vector<std::string>& args, const std::string& input,
                       const ScpOptions& options) {
  // RunScp may stop reading early; the feeder must then fail with EPIPE, not die.
  ::signal(SIGPIPE, SIG_IGN);
  Pipe in, out, err;
  ScpRun run;
  std::thread feeder([fd = std::move(in.write), &input]() mutable {
    size_t done = 0;
    while (done < input.size()) {
      ssize_t n = ::write(fd.get(), input.data() + done, input.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  });
  std::thread out_drainer(Drain, out.read.get(), &run.output);
  std::thread err_drainer(Drain, err.read.get(), &run.errors);
  run.status = RunScp(args, in.read.get(), out.write.get(), err.write.get(), options);
  in.read.reset();
  out.write.reset();
  err.write.reset();
  feeder.join();
  out_drainer.join();
  err_drainer.join();
  return run;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "hatch-scp-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Read-only directories made by a test must become writable before removal.
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      ::chmod(it->path().c_str(), 0700);
    }
  }
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << content;
    if (!f) throw std::runtime_error("write " + path);
  }
  ::chmod(path.c_str(), mode);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return static_cast<mode_t>(-1);
  return st.st_mode & 07777;
}

ScopedUmask::ScopedUmask(mode_t mask) : saved_(::umask(mask)) {}
ScopedUmask::~ScopedUmask() { ::umask(saved_); }

}  // namespace hatch::scp::testing
