#include "pty/terminal_modes.h"

#include <cstdint>
#include <optional>

#include "absl/strings/str_cat.h"

namespace hatch::pty {
namespace {

// RFC 4254 section 8 opcodes (and RFC 8160 for IUTF8).
constexpr uint8_t kTtyOpEnd = 0;
constexpr uint8_t kCs7 = 90;
constexpr uint8_t kCs8 = 91;
constexpr uint8_t kTtyOpIspeed = 128;
constexpr uint8_t kTtyOpOspeed = 129;
constexpr uint8_t kFirstUndefinedOpcode = 160;
constexpr cc_t kEncodedDisabled = 255;

struct ControlChar {
  uint8_t opcode;
  int index;  // into termios::c_cc
};

// VDSUSP (11), VFLUSH (15) and VSTATUS (17) have no Linux c_cc slot.
constexpr ControlChar kControlChars[] = {
    {1, VINTR},     {2, VQUIT},     {3, VERASE},   {4, VKILL},  {5, VEOF},
    {6, VEOL},      {7, VEOL2},     {8, VSTART},   {9, VSTOP},  {10, VSUSP},
    {12, VREPRINT}, {13, VWERASE},  {14, VLNEXT},  {16, VSWTC}, {18, VDISCARD},
};

struct Flag {
  uint8_t opcode;
  tcflag_t termios::*field;
  tcflag_t bit;
};

constexpr Flag kFlags[] = {
    {30, &termios::c_iflag, IGNPAR},  {31, &termios::c_iflag, PARMRK},
    {32, &termios::c_iflag, INPCK},   {33, &termios::c_iflag, ISTRIP},
    {34, &termios::c_iflag, INLCR},   {35, &termios::c_iflag, IGNCR},
    {36, &termios::c_iflag, ICRNL},   {37, &termios::c_iflag, IUCLC},
    {38, &termios::c_iflag, IXON},    {39, &termios::c_iflag, IXANY},
    {40, &termios::c_iflag, IXOFF},   {41, &termios::c_iflag, IMAXBEL},
    {42, &termios::c_iflag, IUTF8},   {50, &termios::c_lflag, ISIG},
    {51, &termios::c_lflag, ICANON},  {52, &termios::c_lflag, XCASE},
    {53, &termios::c_lflag, ECHO},    {54, &termios::c_lflag, ECHOE},
    {55, &termios::c_lflag, ECHOK},   {56, &termios::c_lflag, ECHONL},
    {57, &termios::c_lflag, NOFLSH},  {58, &termios::c_lflag, TOSTOP},
    {59, &termios::c_lflag, IEXTEN},  {60, &termios::c_lflag, ECHOCTL},
    {61, &termios::c_lflag, ECHOKE},  {62, &termios::c_lflag, PENDIN},
    {70, &termios::c_oflag, OPOST},   {71, &termios::c_oflag, OLCUC},
    {72, &termios::c_oflag, ONLCR},   {73, &termios::c_oflag, OCRNL},
    {74, &termios::c_oflag, ONOCR},   {75, &termios::c_oflag, ONLRET},
    {92, &termios::c_cflag, PARENB},  {93, &termios::c_cflag, PARODD},
};

struct Speed {
  uint32_t baud;
  speed_t value;
};

constexpr Speed kSpeeds[] = {
    {50, B50},           {75, B75},           {110, B110},         {134, B134},
    {150, B150},         {200, B200},         {300, B300},         {600, B600},
    {1200, B1200},       {1800, B1800},       {2400, B2400},       {4800, B4800},
    {9600, B9600},       {19200, B19200},     {38400, B38400},     {57600, B57600},
    {115200, B115200},   {230400, B230400},   {460800, B460800},   {500000, B500000},
    {576000, B576000},   {921600, B921600},   {1000000, B1000000}, {1152000, B1152000},
    {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000}, {3000000, B3000000},
    {3500000, B3500000}, {4000000, B4000000},
};

std::optional<speed_t> SpeedForBaud(uint32_t baud) {
  for (const Speed& s : kSpeeds) {
    if (s.baud == baud) return s.value;
  }
  return std::nullopt;
}

uint32_t ReadBigEndian32(absl::string_view bytes) {
  return static_cast<uint32_t>(static_cast<uint8_t>(bytes[0])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(bytes[1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(bytes[2])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(bytes[3]));
}

// Applies one opcode with its argument; opcodes Linux has no field for are ignored.
void ApplyOne(uint8_t opcode, uint32_t arg, termios* t) {
  for (const ControlChar& c : kControlChars) {
    if (c.opcode == opcode) {
      cc_t value = static_cast<cc_t>(arg);
      t->c_cc[c.index] = value == kEncodedDisabled ? _POSIX_VDISABLE : value;
      return;
    }
  }
  for (const Flag& f : kFlags) {
    if (f.opcode == opcode) {
      if (arg != 0) {
        t->*f.field |= f.bit;
      } else {
        t->*f.field &= ~f.bit;
      }
      return;
    }
  }
  if ((opcode == kCs7 || opcode == kCs8) && arg != 0) {
    t->c_cflag = (t->c_cflag & ~CSIZE) | (opcode == kCs7 ? CS7 : CS8);
  } else if (opcode == kTtyOpIspeed || opcode == kTtyOpOspeed) {
    std::optional<speed_t> speed = SpeedForBaud(arg);
    if (!speed) return;
    if (opcode == kTtyOpIspeed) {
      cfsetispeed(t, *speed);
    } else {
      cfsetospeed(t, *speed);
    }
  }
}

}  // namespace

absl::Status ApplyTerminalModes(absl::string_view encoded, struct termios* t) {
  termios result = *t;  // *t changes only if the whole string parses
  size_t pos = 0;
  while (pos < encoded.size()) {
    const uint8_t opcode = static_cast<uint8_t>(encoded[pos]);
    if (opcode == kTtyOpEnd || opcode >= kFirstUndefinedOpcode) break;
    if (encoded.size() - pos - 1 < 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("terminal modes: opcode ", opcode, " at offset ", pos,
                       " has a truncated argument"));
    }
    ApplyOne(opcode, ReadBigEndian32(encoded.substr(pos + 1, 4)), &result);
    pos += 5;
  }
  *t = result;
  return absl::OkStatus();
}

}  // namespace hatch::pty
