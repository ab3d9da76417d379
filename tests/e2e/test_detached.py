"""Work a user detached survives the end of its session and connection (issue 12): nohup,
setsid, daemons, tmux and screen servers outlive the session whether the command ends on its
own, the client closes the channel, or the client is killed (the TCP connection drops); in
exec and pty sessions. Survivors are checked by pid; no zombie and no connection process
remains. The same scenarios run against OpenSSH's sshd, the reference for this behaviour.

The one intended difference: a plain background job (`cmd >log 2>&1 &`, no nohup) of a session
that is cut off while it still runs is hung up by hatch (as a terminal hangup would) and left
alone by OpenSSH's sshd without a pty. When the session ends on its own, it survives both.
"""

import os
import pwd
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from conftest import (RUN_AS, ShellReader, all_pids, descendants, pids_with_marker, proc_read,
                      proc_stat, running_as_root, wait_until, zombies_below)


def bash_sleep(mark):
    # bash sets argv[0], so the process is found by its marker whatever the login shell is.
    return f"bash -c 'exec -a {mark} sleep 1000'"


# Each way of detaching, as a user types it. {m}: the marker; {s}: a per-test socket name.
DETACHED = {
    "nohup": "nohup {cmd} >/dev/null 2>&1 &",
    "setsid": "setsid {cmd} </dev/null >/dev/null 2>&1 &",
    "daemon": "( setsid {cmd} </dev/null >/dev/null 2>&1 & )",
    "tmux": "tmux -L {s} new-session -d \"{cmd}\"",
    "screen": "screen -dmS {s} {cmd}",
}
# Not detached, but its output does not hold the session open.
BACKGROUND = "{cmd} </dev/null >/dev/null 2>&1 &"


def running(mark):
    """Live processes whose argv[0] is `mark`: the detached `sleep` itself, not a tmux or
    screen process whose command line merely mentions it."""
    found = []
    for pid in all_pids():
        cmd = proc_read(pid, "cmdline")
        st = proc_stat(pid)
        if cmd and cmd.split(b"\0")[0] == mark.encode() and st and st[0] != "Z":
            found.append(pid)
    return found


def login_user():
    return RUN_AS if running_as_root() else pwd.getpwuid(os.geteuid()).pw_name


class Scenario:
    """Starts every kind of detached work in one session and finds it again by marker."""

    def __init__(self, kinds, with_background):
        tag = uuid.uuid4().hex[:10]
        self.socket = f"hatch{tag}"
        self.marks = {k: f"hatch-det-{k}-{tag}" for k in kinds}
        self.background = f"hatch-det-bg-{tag}" if with_background else None

    def all_marks(self):
        return list(self.marks.values()) + ([self.background] if self.background else [])

    def script(self, then):
        parts = [DETACHED[k].format(cmd=bash_sleep(m), s=self.socket) for k, m in self.marks.items()]
        if self.background:
            parts.append(BACKGROUND.format(cmd=bash_sleep(self.background)))
        # "ready" once every detached `sleep` runs (so nohup has ignored SIGHUP and setsid
        # has left the session, however loaded the machine), or after 10 s.
        waits = [f"n=0; until pgrep -f '^{m} ' >/dev/null || [ $n -ge 200 ]; do "
                 f"sleep 0.05; n=$((n+1)); done" for m in self.all_marks()]
        return "\n".join(parts + waits + ["echo ready", then])

    def started(self):
        return all(running(m) for m in self.all_marks())

    def alive(self):
        return {k for k, m in self.marks.items() if running(m)}

    def cleanup(self):
        for m in self.all_marks():
            for pid in pids_with_marker(m):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        as_user = ["setpriv", f"--reuid={RUN_AS}", f"--regid={RUN_AS}", "--init-groups"] \
            if running_as_root() else []
        subprocess.run([*as_user, "tmux", "-L", self.socket, "kill-server"],
                       capture_output=True, timeout=10)
        subprocess.run([*as_user, "screen", "-S", self.socket, "-X", "quit"],
                       capture_output=True, timeout=10)


@pytest.fixture
def scenario():
    made = []

    def make(kinds=tuple(DETACHED), with_background=True):
        s = Scenario(kinds, with_background)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


# ---------------------------------------------------------------------------------------------
# OpenSSH's sshd as the reference: as the daemon's unprivileged user, its own config, no PAM.


class OpenSshd:
    """OpenSSH's sshd on a loopback port; sessions run as login_user()."""
    binary = "/usr/sbin/sshd"

    def __init__(self, workdir, keys, port):
        self.port = port
        self.dir = os.path.join(workdir, f"openssh-{port}")
        os.makedirs(self.dir)
        host_key = os.path.join(self.dir, "host_key")
        shutil.copy(keys.host_ed25519, host_key)
        with open(os.path.join(self.dir, "authorized_keys"), "w") as f:
            f.write(keys.pub(keys.client_ed25519) + "\n")
        self.config = os.path.join(self.dir, "sshd_config")
        with open(self.config, "w") as f:
            f.write("\n".join([
                f"ListenAddress 127.0.0.1:{port}", f"HostKey {host_key}",
                f"AuthorizedKeysFile {self.dir}/authorized_keys", f"PidFile {self.dir}/pid",
                "StrictModes no", "UsePAM no", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "UseDNS no", "PrintMotd no",
                "PrintLastLog no", "LogLevel ERROR", "",
            ]))
        os.chmod(host_key, 0o600)
        # As root (the test run's user on CI) sshd logs the user in as the daemon's user and
        # can give a session a pty; an unprivileged sshd cannot chown a pty to the user.
        os.makedirs("/run/sshd", exist_ok=True)
        cmd = [self.binary, "-D", "-e", "-f", self.config]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        wait_until(self._accepting, 10, what="OpenSSH's sshd to listen")

    @property
    def pid(self):
        return self.proc.pid

    def _accepting(self):
        import socket
        if self.proc.poll() is not None:
            raise AssertionError(f"sshd exited: {self.proc.stderr.read()!r}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def openssh(workdir, keys):
    if not os.path.exists(OpenSshd.binary):
        pytest.fail("OpenSSH's sshd is missing: scripts/setup installs openssh-server")
    from conftest import free_port
    d = OpenSshd(workdir, keys, free_port())
    yield d
    d.stop()


@pytest.fixture(params=["hatch", "openssh"])
def server(request):
    return request.getfixturevalue("sshd" if request.param == "hatch" else "openssh")


# ---------------------------------------------------------------------------------------------
# How a session ends.


def connection_processes(server):
    """Children of the daemon that are its connection processes (not adopted survivors)."""
    out = []
    for pid in descendants(server.pid):
        st = proc_stat(pid)
        if st and st[1] == server.pid:
            comm = (proc_read(pid, "comm") or b"").strip()  # None: it exited since listed
            if comm in (b"diego-sshd", b"sshd"):
                out.append(pid)
    return out


def end_by_exit(server, ssh, sc, pty):
    opts = ("-tt",) if pty else ()
    r = ssh.run(server, sc.script("exit 0"), user=login_user(), opts=opts, timeout=30)
    assert r.returncode == 0, r.stderr


def end_by_channel_close(server, pm, sc, pty):
    c = pm.connect(server, username=login_user())
    chan = c.get_transport().open_session(timeout=10)
    if pty:
        chan.get_pty()
    chan.exec_command(sc.script("sleep 1000"))
    ShellReader(chan).expect("ready")
    wait_until(sc.started, 10, what="every detached process to start")
    chan.close()
    time.sleep(0.5)
    c.close()


def end_by_client_kill(server, ssh, sc, pty):
    opts = ("-tt",) if pty else ()
    p = ssh.popen(server, sc.script("sleep 1000"), user=login_user(), opts=opts)
    assert p.stdout.readline().strip() == b"ready"
    wait_until(sc.started, 10, what="every detached process to start")
    p.kill()  # SIGKILL: the TCP connection drops, no channel close is sent
    p.wait(5)


def check_after(server, sc, expect_background):
    """Every detached process survives; the background job as expected; no connection
    process lingers and no zombie is left."""
    wait_until(lambda: not connection_processes(server), 10,
               what="the connection process to exit")
    time.sleep(2.5)  # longer than the old -killGraceTime, after which hatch used to SIGKILL
    assert sc.alive() == set(sc.marks), f"detached work was ended: {set(sc.marks) - sc.alive()}"
    if sc.background:
        assert bool(running(sc.background)) == expect_background
    assert zombies_below(server.pid) == []
    assert connection_processes(server) == []


# ---------------------------------------------------------------------------------------------
# The scenarios, against hatch and against OpenSSH's sshd.


@pytest.mark.parametrize("pty", [False, True], ids=["exec", "pty"])
def test_detached_work_survives_a_command_that_ends_on_its_own(server, ssh, scenario, pty):
    sc = scenario(with_background=not pty)
    end_by_exit(server, ssh, sc, pty)
    wait_until(sc.started, 10, what="every detached process to start")
    check_after(server, sc, expect_background=True)


@pytest.mark.parametrize("pty", [False, True], ids=["exec", "pty"])
def test_detached_work_survives_the_client_closing_the_channel(server, pm, scenario, pty,
                                                               request):
    sc = scenario(with_background=not pty)
    end_by_channel_close(server, pm, sc, pty)
    hatch = request.node.callspec.params["server"] == "hatch"
    check_after(server, sc, expect_background=not hatch)


@pytest.mark.parametrize("pty", [False, True], ids=["exec", "pty"])
def test_detached_work_survives_the_client_being_killed(server, ssh, scenario, pty, request):
    sc = scenario(with_background=not pty)
    end_by_client_kill(server, ssh, sc, pty)
    hatch = request.node.callspec.params["server"] == "hatch"
    check_after(server, sc, expect_background=not hatch)


# ---------------------------------------------------------------------------------------------
# hatch only: the hangup, an interactive tmux, adoption, and the daemon's shutdown.


def test_the_foreground_command_is_hung_up_but_nohup_is_not_escalated(sshd, pm, scenario):
    sc = scenario(kinds=("nohup",), with_background=False)
    c = pm.connect(sshd)
    chan = c.get_transport().open_session(timeout=10)
    fg = f"hatch-det-fg-{uuid.uuid4().hex[:8]}"
    chan.exec_command(sc.script(f"exec -a {fg} sleep 1000"))
    ShellReader(chan).expect("ready")
    wait_until(lambda: running(fg), 5, what="the foreground command")
    chan.close()
    wait_until(lambda: not running(fg), 5, what="SIGHUP to end the foreground command")
    time.sleep(2.5)
    assert sc.alive() == {"nohup"}, "a process ignoring SIGHUP must not be SIGKILLed"
    wait_until(lambda: sshd.find_logs("sshd.session.hangup") or
               sshd.find_logs("sshd.session.closed-by-client"), 10, what="the session's end in the log")


def test_tmux_session_started_interactively_survives_and_can_be_reattached(sshd, ssh, scenario):
    sc = scenario(kinds=("tmux",), with_background=False)
    mark = sc.marks["tmux"]
    # A tmux session created from an interactive pty shell, then the client is killed.
    p = ssh.popen(sshd, f"tmux -L {sc.socket} new-session -s work \"{bash_sleep(mark)}\"",
                  opts=("-tt",), stdin=subprocess.PIPE)
    wait_until(lambda: running(mark), 10, what="tmux's window command")
    p.kill()
    p.wait(5)
    time.sleep(2.5)
    assert running(mark), "the tmux session was ended with the connection"
    r = ssh.run(sshd, f"tmux -L {sc.socket} list-sessions -F '#S'", timeout=20)
    assert r.stdout.split() == [b"work"], r.stderr


def test_adopted_survivors_are_reaped_by_the_listener(sshd, ssh, scenario):
    sc = scenario(kinds=("setsid",), with_background=False)
    end_by_exit(sshd, ssh, sc, pty=False)
    mark = sc.marks["setsid"]
    pid = wait_until(lambda: running(mark), 10, what="the detached process")[0]
    wait_until(lambda: not connection_processes(sshd), 10, what="the connection to end")
    assert proc_stat(pid)[1] == sshd.pid, "the listener adopts what outlives a connection"
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: proc_stat(pid) is None, 5, what="the listener to reap the survivor")


def test_daemon_shutdown_ends_attached_processes_but_not_detached_ones(sshd_factory, ssh,
                                                                       scenario):
    d = sshd_factory.start("-killGraceTime=1s")
    sc = scenario(kinds=("setsid", "tmux"), with_background=False)
    attached = f"hatch-det-att-{uuid.uuid4().hex[:8]}"
    # Ignores SIGHUP but is still attached to the open session.
    p = ssh.popen(d, sc.script(f"trap '' HUP; exec -a {attached} sleep 1000"))
    assert p.stdout.readline().strip() == b"ready"
    wait_until(lambda: running(attached), 5, what="the attached command")
    d.signal(signal.SIGTERM)
    d.wait_exit()
    wait_until(lambda: not running(attached), 5,
               what="the attached process to be ended at shutdown")
    assert sc.alive() == {"setsid", "tmux"}
