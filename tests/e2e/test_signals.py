"""The "signal" channel request (RFC 4254 §6.9) and how a session's process starts (clean signal
state, own process group, no stray fds) (issue 2, "Sessions": signal)."""

import os
import signal
import socket
import time

import pytest

from conftest import ShellReader, pm_exec, proc_stat, read_channel, send_signal, wait_until

# Every signal whose default action ends the process, by its SSH name.
FATAL = ["ABRT", "ALRM", "BUS", "FPE", "HUP", "ILL", "INT", "KILL", "PIPE", "PROF", "QUIT",
         "SEGV", "SYS", "TERM", "TRAP", "USR1", "USR2", "VTALRM", "XCPU", "XFSZ", "IO", "PWR",
         "STKFLT"]


def open_exec(client, command):
    chan = client.get_transport().open_session(timeout=15)
    chan.exec_command(command)
    chan.settimeout(15)
    return chan


def wait_ready(chan, token=b"ready\n"):
    buf = b""
    deadline = time.monotonic() + 15
    while token not in buf:
        assert time.monotonic() < deadline, f"no {token!r}: {buf!r}"
        buf += chan.recv(1024)
    return buf


@pytest.mark.parametrize("name", ["TERM", "INT", "HUP", "USR1", "USR2", "QUIT", "ALRM"])
def test_signal_reaches_a_trap_in_the_shell(sshd, pm, name):
    c = pm.connect(sshd)
    chan = open_exec(c, f"trap 'echo got-{name}; exit 0' {name}; echo ready; "
                        "while :; do sleep 0.05; done")
    wait_ready(chan)
    send_signal(chan, name)
    out, _ = read_channel(chan)
    assert out == f"got-{name}\n".encode()
    assert chan.recv_exit_status() == 0


@pytest.mark.parametrize("name", ["TERM", "HUP", "USR1"])
def test_signal_goes_to_the_whole_process_group(sshd, pm, name):
    # A background child of the shell (same group) traps it too.
    c = pm.connect(sshd)
    chan = open_exec(
        c, f"(trap 'echo child-got-{name}; exit 0' {name}; echo child-ready; "
           f"while :; do sleep 0.05; done) & "
           f"trap 'echo main-got-{name}' {name}; echo main-ready; wait; wait; echo done")
    seen = wait_ready(chan, b"child-ready\n")
    while b"main-ready\n" not in seen:
        seen += chan.recv(1024)
    send_signal(chan, name)
    out, _ = read_channel(chan)
    lines = sorted((seen + out).decode().split())
    assert lines == sorted(["child-ready", "main-ready", f"child-got-{name}",
                            f"main-got-{name}", "done"])


def test_every_standard_signal_name_kills_with_matching_exit_signal(sshd, pm):
    c = pm.connect(sshd)
    for batch in (FATAL[i:i + 8] for i in range(0, len(FATAL), 8)):
        chans = {}
        for name in batch:
            chans[name] = open_exec(c, "ulimit -c 0; echo ready; exec sleep 100")
        for name, chan in chans.items():
            wait_ready(chan)
            send_signal(chan, name)
        for name, chan in chans.items():
            read_channel(chan)
            assert chan.status_event.wait(10)
            assert chan.exit_signal is not None, f"{name}: no exit-signal"
            assert chan.exit_signal[0] == name
            assert chan.exit_signal[1] is False  # no core with ulimit -c 0


def test_stop_and_cont(sshd, pm):
    c = pm.connect(sshd)
    chan = open_exec(c, "echo $$; exec sleep 100")
    pid = int(wait_ready(chan, b"\n").split()[0])
    send_signal(chan, "STOP")
    wait_until(lambda: (proc_stat(pid) or ("?",))[0] == "T", 5, what="stopped state")
    send_signal(chan, "CONT")
    wait_until(lambda: (proc_stat(pid) or ("?",))[0] == "S", 5, what="running again")
    send_signal(chan, "KILL")
    read_channel(chan)
    assert chan.exit_signal[0] == "KILL"


def test_unknown_signal_name_is_ignored(sshd, pm):
    c = pm.connect(sshd)
    chan = open_exec(c, "trap 'echo got-TERM; exit 3' TERM; echo ready; "
                        "while :; do sleep 0.05; done")
    wait_ready(chan)
    for bogus in ("NOPE", "SIGTERM", "term", "", "TERM@example.com"):
        send_signal(chan, bogus)
    time.sleep(0.3)
    assert not chan.exit_status_ready()
    send_signal(chan, "TERM")
    out, _ = read_channel(chan)
    assert out == b"got-TERM\n"
    assert chan.recv_exit_status() == 3
    assert pm_exec(c, "echo ok")[0] == b"ok\n"  # the connection is fine


def test_signal_int_to_pty_shell_job(sshd, pm):
    c = pm.connect(sshd)
    chan = c.get_transport().open_session(timeout=15)
    chan.get_pty()
    chan.exec_command("trap 'echo got-INT; exit 4' INT; echo ready; while :; do sleep 0.05; done")
    sh = ShellReader(chan)
    sh.expect("ready")
    send_signal(chan, "INT")
    sh.expect("got-INT")
    assert chan.recv_exit_status() == 4


def _ignore_and_block():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGWINCH})


def test_session_process_starts_with_default_signals_even_if_daemon_ignores_them(
        sshd_factory, pm):
    # A runtime may start the daemon with SIGINT/SIGQUIT ignored and signals blocked.
    d = sshd_factory.start(preexec=_ignore_and_block)
    status = open(f"/proc/{d.pid}/status").read()
    assert "SigIgn:\t0000000000000000" not in status  # the setup took effect
    c = pm.connect(d)
    # exec: grep shows what the session process got (bash itself blocks/ignores some).
    out, _, rc, _ = pm_exec(c, "exec grep -E '^Sig(Blk|Ign):' /proc/self/status")
    assert out == b"SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    # And INT really kills.
    chan = open_exec(c, "echo ready; exec sleep 100")
    wait_ready(chan)
    send_signal(chan, "INT")
    read_channel(chan)
    assert chan.exit_signal[0] == "INT"


def _ignore_chld_and_alrm():
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGCHLD})


def test_daemon_started_with_sigchld_and_sigalrm_ignored_still_reports_and_expires(
        sshd_factory, pm):
    """Started with SIGCHLD ignored (the kernel would reap sessions itself: no exit status)
    and SIGALRM ignored and blocked (no pre-auth deadline), the daemon resets both."""
    d = sshd_factory.start("-preauthTimeout=3s", preexec=_ignore_chld_and_alrm)
    c = pm.connect(d)
    out, _, rc, _ = pm_exec(c, "echo hi; exit 7")
    assert (out, rc) == (b"hi\n", 7)
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        t0 = time.monotonic()
        s.recv(256)  # the banner; then say nothing
        s.settimeout(10)
        while s.recv(256):
            pass
        assert time.monotonic() - t0 < 10  # cut at the 3 s deadline


def test_session_process_has_only_fds_0_1_2_and_its_own_group(sshd, pm):
    c = pm.connect(sshd)
    for pty in (False, True):
        chan = c.get_transport().open_session(timeout=15)
        if pty:
            chan.get_pty()
        chan.exec_command("echo $$; exec sleep 100")
        pid = int(ShellReader(chan).expect("\n").strip())
        # sleep's own start-up opens files for a moment (setlocale reads
        # /etc/locale.alias): wait for it to settle. An inherited fd would stay.
        deadline = time.monotonic() + 10
        while True:
            fds = sorted(int(f) for f in os.listdir(f"/proc/{pid}/fd"))
            settled = open(f"/proc/{pid}/comm").read().strip() == "sleep"
            if (settled and fds == [0, 1, 2]) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert fds == [0, 1, 2], f"pty={pty}: fds {fds}: " + ", ".join(
            os.readlink(f"/proc/{pid}/fd/{f}") for f in fds)
        st = proc_stat(pid)
        assert st[2] == pid  # its own process group
        sid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[3])
        assert sid == pid  # and its own session
        send_signal(chan, "KILL")
        read_channel(chan)
