#include "pty/pty.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pty/terminal_modes.h"

namespace hatch::pty {
namespace {

unsigned short Clamp16(uint32_t v) {
  return static_cast<unsigned short>(std::min<uint32_t>(v, USHRT_MAX));
}

absl::Status NoMaster() { return absl::FailedPreconditionError("pty master was released"); }

}  // namespace

absl::StatusOr<Pty> Pty::Open() {
  UniqueFd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) return absl::ErrnoToStatus(errno, "posix_openpt");
  if (grantpt(master.get()) != 0) return absl::ErrnoToStatus(errno, "grantpt");
  if (unlockpt(master.get()) != 0) return absl::ErrnoToStatus(errno, "unlockpt");
  char path[PATH_MAX];
  // ptsname_r returns the error number rather than setting errno.
  if (int err = ptsname_r(master.get(), path, sizeof(path)); err != 0) {
    return absl::ErrnoToStatus(err, "ptsname_r");
  }
  return Pty(std::move(master), path);
}

absl::Status Pty::SetWindowSize(const WindowSize& size) {
  if (!master_) return NoMaster();
  return SetPtyWindowSize(master_.get(), size);
}

absl::Status Pty::ApplyModes(absl::string_view encoded) {
  if (!master_) return NoMaster();
  return ApplyPtyModes(master_.get(), encoded);
}

absl::Status SetPtyWindowSize(int master_fd, const WindowSize& size) {
  winsize ws{};
  ws.ws_col = Clamp16(size.cols);
  ws.ws_row = Clamp16(size.rows);
  ws.ws_xpixel = Clamp16(size.width_px);
  ws.ws_ypixel = Clamp16(size.height_px);
  if (ioctl(master_fd, TIOCSWINSZ, &ws) != 0) return absl::ErrnoToStatus(errno, "TIOCSWINSZ");
  return absl::OkStatus();
}

absl::Status ApplyPtyModes(int master_fd, absl::string_view encoded) {
  termios t;
  if (tcgetattr(master_fd, &t) != 0) return absl::ErrnoToStatus(errno, "tcgetattr");
  if (absl::Status s = ApplyTerminalModes(encoded, &t); !s.ok()) return s;
  if (tcsetattr(master_fd, TCSANOW, &t) != 0) return absl::ErrnoToStatus(errno, "tcsetattr");
  return absl::OkStatus();
}

int AttachControllingTerminal(const char* slave_path) {
  int fd;
  // No O_CLOEXEC: if 0, 1 or 2 was closed, open() returns that number and dup2() onto itself
  // would not clear the flag, so the fd would vanish at exec.
  do {
    fd = open(slave_path, O_RDWR | O_NOCTTY);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return -errno;
  if (ioctl(fd, TIOCSCTTY, 0) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  for (int target = 0; target <= 2; ++target) {
    if (fd != target && dup2(fd, target) < 0) {
      int err = errno;
      if (fd > 2) close(fd);
      return -err;
    }
  }
  if (fd > 2) close(fd);
  return 0;
}

}  // namespace hatch::pty
