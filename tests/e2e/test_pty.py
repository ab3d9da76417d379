"""pty sessions: pty-req (size, TERM, RFC 4254 terminal modes), controlling tty, window-change,
Ctrl-C / Ctrl-Z, full-screen programs (issue 2, "Sessions": pty)."""

import fcntl
import os
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

import pytest

from conftest import (RawReplies, ShellReader, pids_with_marker, pm_exec, read_channel,
                      wait_until)

PROMPT = "hatch-e2e$ "


def start_shell(client, width=80, height=24, term="xterm"):
    """An interactive bash over paramiko invoke_shell with a known prompt."""
    chan = client.invoke_shell(term=term, width=width, height=height)
    sh = ShellReader(chan)
    # Our own prompt, so the test does not depend on the user's bashrc. The prompt is built
    # from two halves, so its echo does not match it.
    sh.send("bind 'set enable-bracketed-paste off' 2>/dev/null; "
            "PS1='hatch-e2e''$ '; PROMPT_COMMAND=; unset HISTFILE\n")
    # Whatever the shell printed while starting (prompts, redraws) ends before this line.
    sh.send("echo shell-''ready\n")
    sh.expect("shell-ready\r\n")
    sh.expect(PROMPT)
    return sh


def wait_for_process(cmdline_part):
    """Waits until a process whose command line contains `cmdline_part` runs (so a key sent
    next reaches it, not the shell still starting it)."""
    wait_until(lambda: pids_with_marker(cmdline_part), 10, what=repr(cmdline_part))


def run_in_shell(sh, command, timeout=15):
    """Sends one command line and returns its output: what comes between the terminal's echo
    of the line and the next prompt. (Waiting for the echo first skips prompts that readline
    redraws on its own, e.g. after SIGWINCH.)"""
    sh.send(command + "\n")
    sh.expect(command + "\r\n", timeout)
    out = sh.expect(PROMPT, timeout)[: -len(PROMPT)]
    return out.decode("utf-8", "replace").replace("\r\n", "\n")


# ---------------------------------------------------------------------------------------------
# paramiko


def test_paramiko_pty_size_and_term_reach_the_process(sshd, pm):
    c = pm.connect(sshd)
    chan = c.get_transport().open_session(timeout=15)
    chan.get_pty(term="vt220", width=123, height=45)
    chan.exec_command("stty -a; echo TERM=$TERM; tty; tput cols")
    out, err = read_channel(chan)
    text = out.decode().replace("\r\n", "\n")
    assert "rows 45; columns 123;" in text
    assert "TERM=vt220\n" in text
    assert "\n/dev/pts/" in text
    assert text.rstrip().endswith("\n123")
    assert chan.recv_exit_status() == 0
    assert err == b""


def test_pty_merges_stderr_into_the_terminal(sshd, pm):
    c = pm.connect(sshd)
    out, err, status, _ = pm_exec(c, "echo to-out; echo to-err >&2; exit 4", get_pty=True)
    assert out.replace(b"\r\n", b"\n") == b"to-out\nto-err\n"
    assert (err, status) == (b"", 4)


def test_pty_is_the_controlling_terminal(sshd, pm):
    c = pm.connect(sshd)
    out, _, status, _ = pm_exec(
        c, "echo via-dev-tty > /dev/tty && ps -o tty=,sid=,pgid= -p $$ && echo pid=$$",
        get_pty=True)
    lines = out.decode().replace("\r\n", "\n").split("\n")
    assert status == 0
    assert lines[0] == "via-dev-tty"
    tty, sid, pgid = lines[1].split()
    pid = lines[2].split("=")[1]
    assert tty.startswith("pts/")
    # The shell leads its own session and process group (setsid).
    assert sid == pid and pgid == pid


def test_exec_without_pty_has_no_terminal(sshd, ssh):
    r = ssh.run(sshd, "tty; test -t 0 || echo no-tty-0")
    assert r.stdout == b"not a tty\nno-tty-0\n"
    assert r.returncode == 0


def stty_words(text):
    """The words of `stty -a` output (it wraps lines by the terminal's width)."""
    return set(text.replace(";", " ").split())


def _modes(*pairs):
    """RFC 4254 §8 encoded terminal modes: (opcode, uint32) pairs, TTY_OP_END."""
    out = b""
    for op, value in pairs:
        out += struct.pack(">BI", op, value)
    return out + b"\x00"


def _pty_req(raw, chan, term, cols, rows, modes):
    return raw.request(chan, "pty-req", term, cols, rows, 0, 0, modes)


def test_terminal_modes_applied_and_unknown_opcodes_skipped(sshd, pm):
    c = pm.connect(sshd)
    t = c.get_transport()
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    modes = _modes(
        (89, 7),      # an unassigned opcode (1..159 carry a uint32): skipped
        (1, 2),       # VINTR = ^B
        (3, 0x08),    # VERASE = ^H
        (42, 1),      # IUTF8
        (53, 0),      # ECHO off
        (52, 7),      # another unassigned one in the middle (52 is ECHOE? no: 54 is ECHOE)
        (128, 9600),  # TTY_OP_ISPEED
        (129, 38400),  # TTY_OP_OSPEED
    )
    assert _pty_req(raw, chan, "xterm", 90, 30, modes) is True
    chan.exec_command("stty -a")
    out, _ = read_channel(chan)
    text = out.decode().replace("\r\n", "\n")
    assert "rows 30; columns 90;" in text
    assert "intr = ^B;" in text
    assert "erase = ^H;" in text
    words = stty_words(text)
    assert "iutf8" in words and "-echo" in words
    assert "speed 38400 baud" in text


# RFC 4254 §8 opcodes Linux has, with the name `stty -a` prints.
CHAR_MODES = {1: "intr", 2: "quit", 3: "erase", 4: "kill", 5: "eof", 6: "eol", 7: "eol2",
              8: "start", 9: "stop", 10: "susp", 12: "rprnt", 13: "werase", 14: "lnext",
              18: "discard"}
FLAG_MODES = {30: "ignpar", 31: "parmrk", 32: "inpck", 33: "istrip", 34: "inlcr", 35: "igncr",
              36: "icrnl", 37: "iuclc", 38: "ixon", 39: "ixany", 40: "ixoff", 41: "imaxbel",
              42: "iutf8", 50: "isig", 51: "icanon", 52: "xcase", 53: "echo", 54: "echoe",
              55: "echok", 56: "echonl", 57: "noflsh", 58: "tostop", 59: "iexten",
              60: "echoctl", 61: "echoke", 70: "opost", 71: "olcuc", 72: "onlcr", 73: "ocrnl",
              74: "onocr", 75: "onlret", 93: "parodd"}
# Not checked: PARENB (92), CS7 (90) and CS8 (91): Linux's pty driver forces CS8 and -parenb
# whatever is set, and PENDIN (62), which stty -a does not print.


def _stty_with_modes(sshd, pm, modes):
    c = pm.connect(sshd)
    t = c.get_transport()
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    assert _pty_req(raw, chan, "xterm", 200, 24, modes) is True
    chan.exec_command("stty -a")
    out, _ = read_channel(chan)
    assert chan.recv_exit_status() == 0
    return out.decode().replace("\r", "")


@pytest.mark.parametrize("value", [0, 1])
def test_every_linux_terminal_flag_mode_is_applied(sshd, pm, value):
    # All flags on, then all off: each must show in stty as set or cleared.
    text = _stty_with_modes(sshd, pm, _modes(*((op, value) for op in FLAG_MODES)))
    words = stty_words(text.lower())  # xcase/olcuc on: the terminal upper-cases output
    for name in FLAG_MODES.values():
        want = name if value else "-" + name
        assert want in words, f"{want} not in: {text}"


def test_every_terminal_control_character_is_applied(sshd, pm):
    # ^A, ^B, ... one per character, then a 255 (_POSIX_VDISABLE in SSH) for eol2.
    pairs = [(op, i + 1) for i, op in enumerate(CHAR_MODES)]
    pairs[6] = (7, 255)
    text = _stty_with_modes(sshd, pm, _modes(*pairs))
    for (op, value) in pairs:
        name = CHAR_MODES[op]
        shown = "<undef>" if value == 255 else "^" + chr(ord("@") + value)
        assert f"{name} = {shown};" in text, f"{name} = {shown} not in: {text}"


def test_openssh_terminal_modes_reach_the_remote_terminal(sshd, ssh, tmp_path):
    # The local terminal's modes (intr = ^G, -ixon, iutf8) are sent in pty-req by ssh -t.
    with LocalTerminal(ssh.argv(sshd, "-t", "stty -a; sleep 0.2"), rows=33, cols=101,
                       setup=lambda fd: _set_local_modes(fd)) as lt:
        out = lt.read_to_end()
        assert lt.wait() == 0
    text = out.decode().replace("\r\n", "\n")
    assert "rows 33; columns 101;" in text
    assert "intr = ^G;" in text
    assert {"-ixon", "iutf8"} <= stty_words(text)


def _set_local_modes(fd):
    attrs = termios.tcgetattr(fd)
    attrs[6][termios.VINTR] = b"\x07"
    attrs[0] &= ~termios.IXON
    attrs[0] |= 0o40000  # IUTF8
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def test_pty_req_with_malformed_modes_still_gives_a_pty(sshd, pm):
    # Opcode 160+ stops parsing (RFC 4254 §8); a truncated value must not be fatal either.
    c = pm.connect(sshd)
    t = c.get_transport()
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    modes = struct.pack(">BI", 1, 3) + b"\xa0\x00\x00" + b"\x35\x00"
    ok = _pty_req(raw, chan, "xterm", 70, 20, modes)
    assert ok is True
    chan.exec_command("stty size")
    out, _ = read_channel(chan)
    assert out.replace(b"\r\n", b"\n") == b"20 70\n"
    # The connection still works.
    assert pm_exec(c, "echo ok")[0] == b"ok\n"


def test_interactive_bash_runs_commands(sshd, pm):
    c = pm.connect(sshd)
    sh = start_shell(c)
    assert run_in_shell(sh, "echo $((6*7))").strip() == "42"
    assert run_in_shell(sh, "echo $TERM $HOME").strip() == f"xterm {sshd.env['HOME']}"
    sh.send("exit 5\n")
    assert sh.chan.recv_exit_status() == 5


def test_window_change_resizes_and_sends_sigwinch(sshd, pm):
    c = pm.connect(sshd)
    sh = start_shell(c, width=80, height=24)
    assert run_in_shell(sh, "stty size").strip() == "24 80"
    sh.chan.resize_pty(width=132, height=50)
    # window-change has no reply (want_reply false): poll until it is applied.
    wait_until(lambda: run_in_shell(sh, "stty size").strip() == "50 132", 10,
               what="new window size")
    assert run_in_shell(sh, "tput cols; tput lines").split() == ["132", "50"]
    # The foreground process gets SIGWINCH.
    # The foreground process group gets SIGWINCH: a non-interactive bash (its sleeps are in
    # its own group) traps it.
    sh.send("bash -c 'trap \"echo got-winch \\$(tput cols)\" WINCH; echo ar''med; "
            "for i in $(seq 100); do sleep 0.1; done'\n")
    sh.expect("armed\r\n")
    time.sleep(0.3)
    sh.chan.resize_pty(width=100, height=40)
    sh.expect("got-winch 100")
    sh.send("\x03")
    sh.expect(PROMPT)


def test_ctrl_c_interrupts_foreground_job_and_shell_survives(sshd, pm):
    c = pm.connect(sshd)
    sh = start_shell(c)
    sh.send("sleep 101; echo not-''interrupted\n")
    wait_for_process("sleep\x00101\x00")
    sh.send("\x03")
    before = sh.expect(PROMPT, timeout=5)
    assert b"not-interrupted" not in before
    assert b"^C" in before  # the terminal echoes the interrupt character
    assert run_in_shell(sh, "echo status=$?").strip() == "status=130"
    assert run_in_shell(sh, "echo still-alive").strip() == "still-alive"


def test_ctrl_z_stops_job_and_fg_bg_work(sshd, pm):
    c = pm.connect(sshd)
    sh = start_shell(c)
    sh.send("sleep 102\n")
    wait_for_process("sleep\x00102\x00")
    sh.send("\x1a")
    out = sh.expect(PROMPT, timeout=5)
    assert b"Stopped" in out
    jobs = run_in_shell(sh, "jobs")
    assert "Stopped" in jobs and "sleep 102" in jobs
    assert "sleep 102 &" in run_in_shell(sh, "bg")
    assert "Running" in run_in_shell(sh, "jobs")
    assert run_in_shell(sh, "kill %1; wait; echo killed").strip().endswith("killed")


@pytest.mark.skipif(shutil.which("vim") is None, reason="vim is not installed (scripts/setup)")
def test_full_screen_program_vim_edits_a_file(sshd, pm):
    c = pm.connect(sshd)
    path = pm_exec(c, "mktemp")[0].decode().strip()
    sh = start_shell(c, width=100, height=30)
    sh.send(f"vim -u NONE -N -n {path}\n")
    sh.expect("\x1b[")  # it draws with escape sequences
    time.sleep(0.5)
    sh.send("ihello from vim\x1b")
    time.sleep(0.3)
    sh.send(":wq\r")
    sh.expect(PROMPT, timeout=10)
    assert run_in_shell(sh, f"cat {path}; rm -f {path}").strip() == "hello from vim"


def test_top_runs_on_the_terminal(sshd, pm):
    c = pm.connect(sshd)
    out, _, status, _ = pm_exec(c, "top -n 1", get_pty=True)
    assert status == 0
    assert b"load average" in out
    assert b"\x1b[" in out  # full-screen drawing, not batch output


# ---------------------------------------------------------------------------------------------
# OpenSSH ssh -t / -tt


class LocalTerminal:
    """Runs a command (ssh) on a local pty of a given size as its controlling terminal."""

    def __init__(self, argv, rows=24, cols=80, env=None, setup=None):
        self.master, slave = os.openpty()
        self._winsize(slave, rows, cols)
        if setup:
            setup(slave)

        def child():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     preexec_fn=child, env=env, close_fds=True)
        os.close(slave)
        self.buf = b""

    @staticmethod
    def _winsize(fd, rows, cols):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def resize(self, rows, cols):
        # On the master: the kernel sends SIGWINCH to ssh (the foreground group).
        self._winsize(self.master, rows, cols)

    def _read(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return None
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return b""
        return data

    def expect(self, needle, timeout=15):
        needle = needle.encode() if isinstance(needle, str) else needle
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not seen; output {self.buf!r}")
            data = self._read(left)
            if data == b"":
                raise AssertionError(f"EOF before {needle!r}; output {self.buf!r}")
            if data:
                self.buf += data
        i = self.buf.index(needle) + len(needle)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def send(self, data):
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def read_to_end(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self._read(deadline - time.monotonic())
            if not data:
                break
            self.buf += data
        out, self.buf = self.buf, b""
        return out

    def wait(self, timeout=20):
        return self.proc.wait(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self.master)


def test_openssh_t_gives_pty_with_local_size_and_term(sshd, ssh):
    env = dict(os.environ, TERM="xterm-256color")
    with LocalTerminal(ssh.argv(sshd, "-t", "stty size; tty; echo TERM=$TERM; exit 3"),
                       rows=31, cols=97, env=env) as lt:
        out = lt.read_to_end()
        assert lt.wait() == 3
    text = out.decode().replace("\r\n", "\n")
    assert text.startswith("31 97\n/dev/pts/")
    assert "TERM=xterm-256color\n" in text


def test_openssh_tt_without_local_terminal(sshd, ssh):
    # -tt forces a pty although stdin is not a terminal; the size is then 0x0.
    r = ssh.run(sshd, "stty size; tty; echo TERM=$TERM", opts=("-tt",),
                env=dict(os.environ, TERM="vt100"))
    text = r.stdout.decode().replace("\r\n", "\n")
    assert r.returncode == 0
    lines = text.split("\n")
    assert lines[0] == "0 0"
    assert lines[1].startswith("/dev/pts/")
    assert lines[2] == "TERM=vt100"


def test_openssh_interactive_shell_window_change_and_ctrl_c(sshd, ssh):
    env = dict(os.environ, TERM="xterm")
    with LocalTerminal(ssh.argv(sshd, "-t"), rows=24, cols=80, env=env) as lt:
        lt.send("PS1='hatch-e2e''$ '\n")
        lt.expect(PROMPT)
        lt.send("stty size\n")
        assert b"24 80\r\n" in lt.expect(PROMPT)
        lt.resize(40, 120)
        time.sleep(0.3)

        def resized():
            lt.send("stty size\n")
            return b"40 120\r\n" in lt.expect(PROMPT)

        wait_until(resized, 10, interval=0.2, what="window change through OpenSSH")
        lt.send("sleep 103; echo not-''interrupted\n")
        wait_for_process("sleep\x00103\x00")
        lt.send("\x03")
        assert b"not-interrupted" not in lt.expect(PROMPT)
        lt.send("tput cols; exit 9\n")
        lt.expect("120")
        assert lt.wait() == 9


def test_pty_large_output_no_byte_lost(sshd, pm):
    # -opost: the terminal passes bytes as they are (no \n -> \r\n), so they can be compared.
    c = pm.connect(sshd)
    out, _, status, _ = pm_exec(c, "stty -opost; seq 1 2000000", get_pty=True, timeout=120)
    assert status == 0
    expected = "".join(f"{i}\n" for i in range(1, 2000001)).encode()
    assert len(out) == len(expected)
    assert out == expected


def test_pty_large_input_with_back_pressure(sshd, pm):
    import hashlib
    size = 4 << 20
    data = bytes((i * 7 + (i >> 9)) & 0xFF for i in range(size))
    c = pm.connect(sshd)
    chan = c.get_transport().open_session(timeout=15)
    chan.get_pty()
    # Raw mode: no line editing, no signals, no echo; head reads exactly `size` bytes.
    chan.exec_command(f"stty raw -echo; echo ready; head -c {size} | sha256sum")
    sh = ShellReader(chan)
    sh.expect("ready")
    chan.sendall(data)
    out, _ = read_channel(chan, timeout=120)
    assert (sh.buf + out).split()[0].decode() == hashlib.sha256(data).hexdigest()
    assert chan.recv_exit_status() == 0


def test_pty_session_ends_when_shell_exits_despite_background_job(sshd, pm):
    c = pm.connect(sshd)
    t0 = time.monotonic()
    out, _, status, _ = pm_exec(c, "sleep 30 & echo bye", get_pty=True)
    assert status == 0 and b"bye" in out
    assert time.monotonic() - t0 < 10
