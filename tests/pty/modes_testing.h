// Test helpers: an RFC 4254 section 8 encoded terminal modes string built by hand, and a
// termios comparison.
#ifndef HATCH_TESTS_PTY_MODES_TESTING_H_
#define HATCH_TESTS_PTY_MODES_TESTING_H_

#include <termios.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace hatch::pty::testing {

class EncodedModes {
 public:
  // Appends opcode and its uint32 argument, big-endian.
  EncodedModes& Add(uint8_t opcode, uint32_t arg) {
    bytes_.push_back(static_cast<char>(opcode));
    for (int shift = 24; shift >= 0; shift -= 8) bytes_.push_back(static_cast<char>(arg >> shift));
    return *this;
  }
  // Appends raw bytes (a bare opcode, a truncated argument, TTY_OP_END...).
  EncodedModes& Raw(std::string bytes) {
    bytes_ += bytes;
    return *this;
  }
  EncodedModes& End() { return Raw(std::string(1, '\0')); }
  const std::string& str() const { return bytes_; }

 private:
  std::string bytes_;
};

// RFC 4254 section 8 / RFC 8160 opcode numbers used by the tests.
enum Opcode : uint8_t {
  kVintr = 1, kVquit = 2, kVerase = 3, kVkill = 4, kVeof = 5, kVdsusp = 11, kVwerase = 13,
  kVstatus = 17,
  kIgnpar = 30, kIcrnl = 36, kIxany = 39, kImaxbel = 41, kIutf8 = 42,
  kIsig = 50, kIcanon = 51, kEcho = 53, kTostop = 58, kEchoctl = 60,
  kOpost = 70, kOnlcr = 72, kOcrnl = 73, kOnlret = 75,
  kCs7 = 90, kCs8 = 91, kParenb = 92, kParodd = 93,
  kIspeed = 128, kOspeed = 129,
};

// Field by field: memcmp would also compare padding, which tcgetattr() does not write.
inline bool SameTermios(const termios& a, const termios& b) {
  return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag &&
         a.c_lflag == b.c_lflag && std::equal(a.c_cc, a.c_cc + NCCS, b.c_cc) &&
         cfgetispeed(&a) == cfgetispeed(&b) && cfgetospeed(&a) == cfgetospeed(&b);
}

}  // namespace hatch::pty::testing

#endif  // HATCH_TESTS_PTY_MODES_TESTING_H_
