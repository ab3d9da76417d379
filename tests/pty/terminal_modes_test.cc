#include "pty/terminal_modes.h"

#include <termios.h>

#include "gtest/gtest.h"
#include "tests/pty/modes_testing.h"

namespace hatch::pty {
namespace {

using testing::EncodedModes;
using testing::SameTermios;
namespace op = testing;

// A termios like the kernel's default for a pty slave.
termios DefaultTermios() {
  termios t{};
  t.c_iflag = ICRNL | IXON;
  t.c_oflag = OPOST | ONLCR;
  t.c_cflag = CS8 | CREAD;
  t.c_lflag = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN;
  t.c_cc[VINTR] = 003;
  t.c_cc[VERASE] = 0177;
  cfsetispeed(&t, B38400);
  cfsetospeed(&t, B38400);
  return t;
}

TEST(TerminalModes, ControlCharsTakeTheArgument) {
  termios t = DefaultTermios();
  ASSERT_TRUE(ApplyTerminalModes(EncodedModes()
                                     .Add(op::kVintr, 'C' - '@')
                                     .Add(op::kVerase, 'H' - '@')
                                     .Add(op::kVkill, 'U' - '@')
                                     .Add(op::kVeof, 'D' - '@')
                                     .Add(op::kVwerase, 'W' - '@')
                                     .End()
                                     .str(),
                                 &t)
                  .ok());
  EXPECT_EQ(t.c_cc[VINTR], 003);
  EXPECT_EQ(t.c_cc[VERASE], 010);
  EXPECT_EQ(t.c_cc[VKILL], 025);
  EXPECT_EQ(t.c_cc[VEOF], 004);
  EXPECT_EQ(t.c_cc[VWERASE], 027);
}

TEST(TerminalModes, ControlChar255DisablesIt) {
  termios t = DefaultTermios();
  ASSERT_TRUE(ApplyTerminalModes(EncodedModes().Add(op::kVquit, 255).End().str(), &t).ok());
  EXPECT_EQ(t.c_cc[VQUIT], _POSIX_VDISABLE);
}

TEST(TerminalModes, InputFlagsAreSetAndCleared) {
  termios t = DefaultTermios();
  ASSERT_TRUE(ApplyTerminalModes(EncodedModes()
                                     .Add(op::kIcrnl, 0)
                                     .Add(op::kIxany, 1)
                                     .Add(op::kIgnpar, 7)  // any non-zero value means on
                                     .Add(op::kImaxbel, 1)
                                     .Add(op::kIutf8, 1)
                                     .End()
                                     .str(),
                                 &t)
                  .ok());
  EXPECT_EQ(t.c_iflag, IXON | IXANY | IGNPAR | IMAXBEL | IUTF8);
}

TEST(TerminalModes, LocalFlagsAreSetAndCleared) {
  termios t = DefaultTermios();
  ASSERT_TRUE(ApplyTerminalModes(EncodedModes()
                                     .Add(op::kEcho, 0)
                                     .Add(op::kIcanon, 0)
                                     .Add(op::kEchoctl, 0)
                                     .Add(op::kTostop, 1)
                                     .Add(op::kIsig, 1)
                                     .End()
                                     .str(),
                                 &t)
                  .ok());
  EXPECT_EQ(t.c_lflag, ISIG | ECHOE | ECHOK | ECHOKE | IEXTEN | TOSTOP);
}

TEST(TerminalModes, OutputFlagsAreSetAndCleared) {
  termios t = DefaultTermios();
  ASSERT_TRUE(ApplyTerminalModes(
                  EncodedModes().Add(op::kOnlcr, 0).Add(op::kOcrnl, 1).Add(op::kOnlret, 1).str(),
                  &t)
                  .ok());
  EXPECT_EQ(t.c_oflag, OPOST | OCRNL | ONLRET);
}

TEST(TerminalModes, CharacterSizeAndParity) {
  termios t = DefaultTermios();
  ASSERT_TRUE(ApplyTerminalModes(
                  EncodedModes().Add(op::kCs7, 1).Add(op::kParenb, 1).Add(op::kParodd, 1).str(),
                  &t)
                  .ok());
  EXPECT_EQ(t.c_cflag & CSIZE, static_cast<tcflag_t>(CS7));
  EXPECT_EQ(t.c_cflag & (PARENB | PARODD), static_cast<tcflag_t>(PARENB | PARODD));
  EXPECT_NE(t.c_cflag & CREAD, 0u);

  // OpenSSH's client on an 8-bit terminal sends CS7=1 then CS8=1.
  ASSERT_TRUE(ApplyTerminalModes(
                  EncodedModes().Add(op::kCs7, 1).Add(op::kCs8, 1).Add(op::kParenb, 0).str(), &t)
                  .ok());
  EXPECT_EQ(t.c_cflag & CSIZE, static_cast<tcflag_t>(CS8));
  EXPECT_EQ(t.c_cflag & PARENB, 0u);

  // A zero argument does not say which size is meant: the size stays.
  ASSERT_TRUE(ApplyTerminalModes(EncodedModes().Add(op::kCs8, 0).Add(op::kCs7, 0).str(), &t).ok());
  EXPECT_EQ(t.c_cflag & CSIZE, static_cast<tcflag_t>(CS8));
}

TEST(TerminalModes, SpeedsAreBaudRates) {
  termios t = DefaultTermios();
  ASSERT_TRUE(ApplyTerminalModes(EncodedModes().Add(op::kIspeed, 9600).End().str(), &t).ok());
  EXPECT_EQ(cfgetispeed(&t), static_cast<speed_t>(B9600));
  ASSERT_TRUE(ApplyTerminalModes(EncodedModes().Add(op::kOspeed, 115200).End().str(), &t).ok());
  EXPECT_EQ(cfgetospeed(&t), static_cast<speed_t>(B115200));
  ASSERT_TRUE(ApplyTerminalModes(EncodedModes().Add(op::kOspeed, 4000000).End().str(), &t).ok());
  EXPECT_EQ(cfgetospeed(&t), static_cast<speed_t>(B4000000));
  // As OpenSSH's client sends them: the output speed is the one that stays.
  ASSERT_TRUE(ApplyTerminalModes(
                  EncodedModes().Add(op::kIspeed, 9600).Add(op::kOspeed, 19200).End().str(), &t)
                  .ok());
  EXPECT_EQ(cfgetospeed(&t), static_cast<speed_t>(B19200));
}

TEST(TerminalModes, SpeedWithNoSpeedTIsIgnored) {
  termios t = DefaultTermios();
  ASSERT_TRUE(ApplyTerminalModes(
                  EncodedModes().Add(op::kIspeed, 12345).Add(op::kOspeed, 0).End().str(), &t)
                  .ok());
  EXPECT_EQ(cfgetispeed(&t), static_cast<speed_t>(B38400));
  EXPECT_EQ(cfgetospeed(&t), static_cast<speed_t>(B38400));
}

TEST(TerminalModes, OpcodesLinuxLacksAreSkippedWithTheirArgument) {
  termios t = DefaultTermios();
  const termios before = t;
  // VDSUSP, VSTATUS and unassigned 100, 127, 159: each argument holds bytes that would be valid
  // opcodes (1 = VINTR) if the parser did not consume it.
  ASSERT_TRUE(ApplyTerminalModes(EncodedModes()
                                     .Add(op::kVdsusp, 0x01010101)
                                     .Add(op::kVstatus, 0x01010101)
                                     .Add(100, 0x01010101)
                                     .Add(127, 0x01010101)
                                     .Add(159, 0x01010101)
                                     .End()
                                     .str(),
                                 &t)
                  .ok());
  EXPECT_TRUE(SameTermios(t, before));

  ASSERT_TRUE(
      ApplyTerminalModes(EncodedModes().Add(100, 0).Add(op::kIutf8, 1).End().str(), &t).ok());
  EXPECT_NE(t.c_iflag & IUTF8, 0u);
}

TEST(TerminalModes, Opcode160AndAboveStopsParsing) {
  termios t = DefaultTermios();
  // What follows 160 is not read at all, so a truncated argument there is no error.
  ASSERT_TRUE(ApplyTerminalModes(
                  EncodedModes().Add(op::kIutf8, 1).Raw("\xa0").Add(op::kEcho, 0).Raw("\x01").str(),
                  &t)
                  .ok());
  EXPECT_NE(t.c_iflag & IUTF8, 0u);
  EXPECT_NE(t.c_lflag & ECHO, 0u);

  termios u = DefaultTermios();
  ASSERT_TRUE(
      ApplyTerminalModes(EncodedModes().Raw("\xff").Add(op::kEcho, 0).str(), &u).ok());
  EXPECT_NE(u.c_lflag & ECHO, 0u);
}

TEST(TerminalModes, TtyOpEndStopsParsing) {
  termios t = DefaultTermios();
  ASSERT_TRUE(ApplyTerminalModes(EncodedModes().Add(op::kEcho, 0).End().Add(op::kIcanon, 0).str(),
                                 &t)
                  .ok());
  EXPECT_EQ(t.c_lflag & ECHO, 0u);
  EXPECT_NE(t.c_lflag & ICANON, 0u);
}

TEST(TerminalModes, EmptyStringChangesNothing) {
  termios t = DefaultTermios();
  const termios before = t;
  ASSERT_TRUE(ApplyTerminalModes("", &t).ok());
  EXPECT_TRUE(SameTermios(t, before));
}

TEST(TerminalModes, TruncatedArgumentIsAnErrorAndChangesNothing) {
  for (size_t arg_bytes = 0; arg_bytes < 4; ++arg_bytes) {
    termios t = DefaultTermios();
    const termios before = t;
    std::string encoded = EncodedModes().Add(op::kIutf8, 1).Add(op::kEcho, 0).str() +
                          std::string("\x01\x00\x00\x00", 1 + arg_bytes);
    absl::Status s = ApplyTerminalModes(encoded, &t);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << arg_bytes << ": " << s;
    EXPECT_TRUE(SameTermios(t, before)) << arg_bytes;
  }
}

}  // namespace
}  // namespace hatch::pty
