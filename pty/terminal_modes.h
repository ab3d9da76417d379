// RFC 4254 section 8 "encoded terminal modes" (the modes string of a pty-req) -> termios.
#ifndef HATCH_PTY_TERMINAL_MODES_H_
#define HATCH_PTY_TERMINAL_MODES_H_

#include <termios.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hatch::pty {

// Applies `encoded` (repeated (opcode byte, uint32 big-endian argument), ending at
// TTY_OP_END = 0 or at the end of the string) to *t, which the caller owns.
//
// - Control characters VINTR(1)..VDISCARD(18): the argument's low byte; 255 means
//   _POSIX_VDISABLE. VSWTCH(16) is Linux's VSWTC.
// - Flags IGNPAR..IMAXBEL, IUTF8 (42, RFC 8160), ISIG..PENDIN, OPOST..ONLRET, PARENB, PARODD:
//   a non-zero argument sets the flag, zero clears it.
// - CS7(90) / CS8(91): a non-zero argument selects that character size; zero leaves the size
//   alone (CSIZE is one field, so "not CS8" does not say which size is meant).
// - TTY_OP_ISPEED(128) / TTY_OP_OSPEED(129): a baud rate, set with cfsetispeed/cfsetospeed; a
//   rate with no speed_t (or 0) is ignored. glibc on Linux keeps one line speed (cfsetispeed
//   sets it too), so of the two the later one wins (OpenSSH's client sends OSPEED last).
// - Other opcodes in 1..159 (VDSUSP, VSTATUS, VFLUSH: Linux lacks them) are skipped with their
//   argument; an opcode in 160..255 stops parsing (RFC 4254: "cause parsing to stop").
//
// Returns InvalidArgument, leaving *t unchanged, when an opcode's argument is truncated.
absl::Status ApplyTerminalModes(absl::string_view encoded, struct termios* t);

}  // namespace hatch::pty

#endif  // HATCH_PTY_TERMINAL_MODES_H_
