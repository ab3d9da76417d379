"""Lifetime: the hang-up of a session's process group when its channel or connection ends while
it runs (never escalated to SIGKILL), no zombies, no lingering connection process, no leaked
fds, keepalives, idle timeout (issue 2, "Sessions": Lifetime; issue 12). Detached work
(nohup, setsid, tmux, screen) is covered, against OpenSSH's sshd too, in test_detached.py.
"""

import os
import signal
import time
import uuid

import pytest

from conftest import (ShellReader, descendants, pids_with_marker, pm_exec, proc_read,
                      proc_stat, read_channel, wait_until, zombies_below)


def marker():
    return f"hatch-e2e-{uuid.uuid4().hex[:12]}"


def stubborn(mark):
    """A session command whose process ignores SIGHUP and is findable by its argv[0]."""
    return f"trap '' HUP; echo ready; exec -a {mark} sleep 1000"


def hup_recorder(path):
    """A session command that records SIGHUP in `path` and then exits. Its stderr goes to
    /dev/null: bash reports the HUP-killed `sleep` there, and that pipe may be closed."""
    return (f"trap 'echo got-HUP > {path}; exit 0' HUP; exec 2>/dev/null; echo ready; "
            "while :; do sleep 0.05; done")


def got_hup(path):
    """True once the recorder wrote its whole line (the shell creates the file first)."""
    try:
        with open(path) as f:
            return f.read() == "got-HUP\n"
    except FileNotFoundError:
        return False


def wait_ready(chan):
    ShellReader(chan).expect("ready")


def assert_survives_and_end(mark, t0, wait=3.0):
    """A process that ignores SIGHUP is still running well past the old -killGraceTime
    (nothing escalates to SIGKILL); then the test ends it."""
    time.sleep(max(0.0, t0 + wait - time.monotonic()))
    pids = pids_with_marker(mark)
    assert pids, "a process ignoring SIGHUP was killed"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def graced(sshd_factory):
    return sshd_factory.start("-killGraceTime=2s")


def test_channel_close_hangs_up_the_session(graced, pm, shared_tmp):
    c = pm.connect(graced)
    chan = c.get_transport().open_session(timeout=10)
    path = os.path.join(shared_tmp, "hup")
    chan.exec_command(hup_recorder(path))
    wait_ready(chan)
    chan.close()
    wait_until(lambda: got_hup(path), 5, what="SIGHUP in the session")
    assert pm_exec(c, "echo conn-ok")[0] == b"conn-ok\n"  # only that channel ended


def test_channel_close_never_escalates_to_sigkill(graced, pm):
    c = pm.connect(graced)
    mark = marker()
    chan = c.get_transport().open_session(timeout=10)
    chan.exec_command(stubborn(mark))
    wait_ready(chan)
    assert pids_with_marker(mark)
    t0 = time.monotonic()
    chan.close()
    assert_survives_and_end(mark, t0)
    assert pm_exec(c, "echo conn-ok")[0] == b"conn-ok\n"


def test_connection_drop_kill_9_ssh_client(graced, ssh, shared_tmp):
    mark = marker()
    path = os.path.join(shared_tmp, "hup")
    a = ssh.popen(graced, hup_recorder(path))
    b = ssh.popen(graced, stubborn(mark))
    assert a.stdout.readline() == b"ready\n"
    assert b.stdout.readline() == b"ready\n"
    t0 = time.monotonic()
    a.kill()
    b.kill()
    a.wait(5)
    b.wait(5)
    wait_until(lambda: got_hup(path), 5, what="SIGHUP after the connection dropped")
    assert_survives_and_end(mark, t0)


def test_connection_process_exits_at_once_whatever_survives(sshd_factory, pm):
    # A -killGraceTime long enough to tell "exits at once" from "waits for it" on a loaded
    # machine.
    graced = sshd_factory.start("-killGraceTime=5s")
    c = pm.connect(graced)
    mark = marker()
    chan = c.get_transport().open_session(timeout=10)
    chan.exec_command(stubborn(mark))
    wait_ready(chan)
    conn = connection_process(graced)
    t0 = time.monotonic()
    c.get_transport().close()
    wait_until(lambda: (proc_stat(conn) or ("Z",))[0] == "Z", 5,
               what="the connection process to exit")
    assert time.monotonic() - t0 < 4, "the connection process waited for its sessions"
    # The survivor is adopted by the listener, which reaps it when it ends.
    pid = pids_with_marker(mark)[0]
    wait_until(lambda: (proc_stat(pid) or (0, 0))[1] == graced.pid, 5,
               what="the listener to adopt the survivor")
    assert_survives_and_end(mark, t0, wait=6.0)
    wait_until(lambda: zombies_below(graced.pid) == [], 5, what="no zombie")


def test_pty_session_hangup_on_connection_drop(graced, pm, shared_tmp):
    c = pm.connect(graced)
    chan = c.get_transport().open_session(timeout=10)
    chan.get_pty()
    path = os.path.join(shared_tmp, "hup")
    chan.exec_command(hup_recorder(path))
    wait_ready(chan)
    c.get_transport().close()
    wait_until(lambda: got_hup(path), 5, what="SIGHUP in the pty session")


def test_hangup_handler_that_writes_to_its_terminal_gets_to_finish(graced, pm, shared_tmp):
    # A hung-up terminal fails writes with EIO (no signal), so a handler that reports what it
    # does still finishes. (Without a pty, as with OpenSSH, the output pipe is closed with the
    # connection and a write there raises SIGPIPE.)
    c = pm.connect(graced)
    chan = c.get_transport().open_session(timeout=10)
    chan.get_pty()
    path = os.path.join(shared_tmp, "cleaned")
    chan.exec_command(f"trap 'echo cleaning up; echo done > {path}; exit 0' HUP; echo ready; "
                      "while :; do sleep 0.05; done")
    wait_ready(chan)
    c.get_transport().close()
    wait_until(lambda: os.path.exists(path), 4, what="the HUP handler to finish")


def test_no_zombies_after_many_sessions(sshd, pm):
    c = pm.connect(sshd)
    for _ in range(5):
        pm_exec(c, "true")
        pm_exec(c, "sleep 0.05 & exit 0")  # leaves a child behind in the group
        pm_exec(c, "(sleep 0.1 &) ; kill -KILL $$")
    wait_until(lambda: zombies_below(sshd.pid) == [], 5, what="every orphan reaped")
    c.close()
    wait_until(lambda: not descendants(sshd.pid), 10, what="the connection process to end")
    assert zombies_below(sshd.pid) == []


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_listener_leaks_no_fd_over_20_connections(sshd, ssh, pm):
    ssh.run(sshd, "true")
    wait_until(lambda: not descendants(sshd.pid), 10, what="idle daemon")
    before = sorted(os.listdir(f"/proc/{sshd.pid}/fd"))
    for i in range(10):
        assert ssh.run(sshd, f"echo {i}").stdout == f"{i}\n".encode()
    for _ in range(10):
        c = pm.connect(sshd)
        pm_exec(c, "true")
        c.close()
    wait_until(lambda: not descendants(sshd.pid), 10, what="all connections to end")
    assert sorted(os.listdir(f"/proc/{sshd.pid}/fd")) == before


def connection_process(daemon):
    kids = [p for p in descendants(daemon.pid) if (proc_stat(p) or (0, 0))[1] == daemon.pid]
    assert len(kids) == 1, kids
    return kids[0]


def test_connection_process_leaks_no_fd_over_many_sessions(sshd, pm):
    c = pm.connect(sshd)
    pm_exec(c, "true")
    conn = connection_process(sshd)
    # The exit status is sent a moment before the session's pipes are closed: the baseline
    # is the count once it holds still.
    counts = []
    wait_until(lambda: counts.append(fd_count(conn)) or counts[-3:] == [counts[-1]] * 3, 10,
               interval=0.1, what="a steady fd count")
    before = counts[-1]
    for i in range(10):
        pm_exec(c, "cat; echo y >&2", stdin=b"in")
        pm_exec(c, "true", get_pty=True)
        chan = c.get_transport().open_session(timeout=10)
        chan.exec_command("sleep 100")
        chan.close()
    wait_until(lambda: fd_count(conn) == before, 10, what=f"fd count back to {before}")


def test_keepalive_detects_a_dead_peer(sshd_factory, ssh, shared_tmp):
    d = sshd_factory.start("-keepaliveInterval=1s", "-keepaliveCountMax=2", "-idleTimeout=0")
    path = os.path.join(shared_tmp, "hup")
    p = ssh.popen(d, hup_recorder(path))
    assert p.stdout.readline() == b"ready\n"
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGSTOP)  # the client stops answering; TCP stays up
    try:
        e = d.wait_log("sshd.connection.closed", timeout=8)
        assert e["data"]["reason"] == "keepalive timeout"
        assert time.monotonic() - t0 <= 8
        wait_until(lambda: got_hup(path), 5, what="SIGHUP after keepalive timeout")
    finally:
        os.kill(p.pid, signal.SIGCONT)
        p.kill()
        p.wait(5)


def test_keepalive_keeps_a_live_idle_client(sshd_factory, ssh):
    # Three unanswered keepalives to end it: a slow client has 2 s to answer one.
    d = sshd_factory.start("-keepaliveInterval=1s", "-keepaliveCountMax=3", "-idleTimeout=0")
    r = ssh.run(d, "sleep 5; echo survived", timeout=30)
    assert (r.returncode, r.stdout) == (0, b"survived\n")
    assert not d.find_logs("sshd.connection.closed", reason="keepalive timeout")


def test_idle_timeout_closes_an_idle_connection(sshd_factory, pm):
    d = sshd_factory.start("-idleTimeout=2s", "-keepaliveInterval=0")
    c = pm.connect(d)
    t = c.get_transport()
    t0 = time.monotonic()
    wait_until(lambda: not t.is_active(), 10, what="idle connection to be closed")
    assert 1.5 <= time.monotonic() - t0 <= 8
    # The line may come (or be read from the daemon's stderr) just after the client saw the
    # connection end.
    wait_until(lambda: d.find_logs("sshd.connection.closed", reason="idle timeout"), 5,
               what="the idle-timeout log line")


def test_traffic_keeps_a_connection_open_past_the_idle_timeout(sshd_factory, pm, ssh):
    d = sshd_factory.start("-idleTimeout=2s", "-keepaliveInterval=0")
    c = pm.connect(d)
    out, _, status, _ = pm_exec(c, "for i in 1 2 3 4 5 6 7 8; do echo $i; sleep 0.5; done")
    assert status == 0 and out.split() == [b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8"]
    assert c.get_transport().is_active()


@pytest.mark.parametrize("client", ["openssh-ServerAliveInterval", "cf-keepalive"])
def test_client_keepalives_keep_a_connection_open_past_the_idle_timeout(sshd_factory, pm, ssh,
                                                                         client):
    d = sshd_factory.start("-idleTimeout=3s", "-keepaliveInterval=0")  # 2 s of slack
    if client == "openssh-ServerAliveInterval":
        r = ssh.run(d, "sleep 6; echo ok", opts=("-o", "ServerAliveInterval=1"))
        assert (r.returncode, r.stdout) == (0, b"ok\n")
    else:
        t = pm.connect(d).get_transport()
        for _ in range(12):  # what the cf CLI does, every 30s
            t.global_request("keepalive@cloudfoundry.org", wait=True)
            time.sleep(0.5)
        assert t.is_active()


def test_idle_timeout_default_is_five_minutes(sshd, pm):
    # Not waited for: just that a short pause does not close the connection by default.
    c = pm.connect(sshd)
    time.sleep(2.5)
    assert pm_exec(c, "echo alive")[0] == b"alive\n"
