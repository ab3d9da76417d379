// Pseudo-terminals for sessions: allocation, window size, terminal modes, and the child's
// side (making the slave its controlling terminal). Knows bytes and fds, not SSH.
#ifndef HATCH_PTY_PTY_H_
#define HATCH_PTY_PTY_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"

namespace hatch::pty {

// As in a pty-req / window-change request (RFC 4254 sections 6.2 and 6.7). The kernel keeps
// 16 bits per field; larger values are clamped to 65535.
struct WindowSize {
  uint32_t cols = 80, rows = 24, width_px = 0, height_px = 0;
};

// Owns the master side of a new pseudo-terminal and remembers the slave's path. The slave is
// never opened by Pty (so the daemon never gets a controlling terminal); a forked child opens
// it with AttachControllingTerminal(). The slave starts with the kernel's default termios
// (ICRNL IXON OPOST ONLCR ISIG ICANON ECHO..., CS8, ^C ^\ DEL ^U ^D ...), until ApplyModes.
// Move-only; a moved-from Pty, or one whose master was released, holds no fd.
class Pty {
 public:
  // posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), grantpt, unlockpt, ptsname_r.
  static absl::StatusOr<Pty> Open();

  Pty(Pty&&) = default;
  Pty& operator=(Pty&&) = default;

  // The master fd (close-on-exec), owned by this Pty; -1 after ReleaseMaster().
  int master() const { return master_.get(); }
  // e.g. "/dev/pts/3".
  const std::string& slave_path() const { return slave_path_; }

  // SetPtyWindowSize(master(), size).
  absl::Status SetWindowSize(const WindowSize& size);
  // ApplyPtyModes(master(), encoded).
  absl::Status ApplyModes(absl::string_view encoded);

  // Hands the master fd to the caller; this Pty then holds none.
  UniqueFd ReleaseMaster() { return std::move(master_); }

 private:
  Pty(UniqueFd master, std::string slave_path)
      : master_(std::move(master)), slave_path_(std::move(slave_path)) {}

  UniqueFd master_;
  std::string slave_path_;
};

// TIOCSWINSZ on a pty master (`master_fd` is borrowed). Linux applies it to the slave and,
// when the size changes, sends SIGWINCH to the slave's foreground process group.
absl::Status SetPtyWindowSize(int master_fd, const WindowSize& size);

// tcgetattr, ApplyTerminalModes, tcsetattr(TCSANOW) through a pty master (`master_fd` is
// borrowed): Linux directs termios calls on a master to its slave, so this works before the
// child has opened the slave, and the child sees the result. On error the modes are unchanged.
absl::Status ApplyPtyModes(int master_fd, absl::string_view encoded);

// For a forked child after setsid(): opens `slave_path`, makes it the controlling terminal
// (TIOCSCTTY), dup2s it onto 0, 1 and 2 and closes the extra fd. Only async-signal-safe
// calls (it runs between fork and exec): returns 0, or -errno of the failed step.
int AttachControllingTerminal(const char* slave_path);

}  // namespace hatch::pty

#endif  // HATCH_PTY_PTY_H_
