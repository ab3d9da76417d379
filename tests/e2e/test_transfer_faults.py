"""Large files and faults: 256 MiB through sftp, scp and scp -O compared by sha256; clients
killed mid-transfer leave the daemon serving, a partial file that is exactly a prefix of the
data, and no process or fd behind."""

import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import descendants, pids_with_marker, proc_stat, wait_until
from test_transfer_support import (REMOTE, SCRATCH, SIZE_BIG, area, clients,  # noqa: F401
                                   daemon, fd_count, give_to_daemon_user, sha256_file,
                                   start_daemon, write_random)


@pytest.fixture(scope="module")
def big():
    """(path, sha256) of 256 MiB of random bytes, made once for the module."""
    d = tempfile.mkdtemp(prefix="hatch-transfer-big-", dir=SCRATCH)
    os.chmod(d, 0o755)
    path = os.path.join(d, "big.bin")
    digest = write_random(path, SIZE_BIG)
    os.chmod(path, 0o644)
    yield path, digest
    os.remove(path)
    os.rmdir(d)


def link_or_copy(src, dst):
    """Puts the big file at dst without a second copy when the filesystem allows."""
    try:
        os.link(src, dst)
    except OSError:
        subprocess.run(["cp", src, dst], check=True, timeout=120)


# ---------------------------------------------------------------------------------------------
# 256 MiB both ways


@pytest.mark.hang_timeout(280)
@pytest.mark.parametrize("client", ["sftp", "scp", "scp-O"])
def test_256mib_put_and_get_match_by_sha256(clients, daemon, area, big, client):
    src, digest = big
    if client == "sftp":
        r = clients.sftp(daemon, [f"put {src} up.bin", "get up.bin down.bin"], cwd=area.local,
                         timeout=240)
    else:
        legacy = client == "scp-O"
        r = clients.scp(daemon, src, REMOTE + "up.bin", legacy=legacy, timeout=240)
        assert r.returncode == 0, r.stderr
        r = clients.scp(daemon, REMOTE + "up.bin", area.l("down.bin"), legacy=legacy,
                        timeout=240)
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(area.r("up.bin")) == SIZE_BIG
    # The round trip is hashed once; the upload alone only when that fails, to say which way.
    if sha256_file(area.l("down.bin")) != digest:
        up = "matches" if sha256_file(area.r("up.bin")) == digest else "differs too"
        raise AssertionError(f"256 MiB round trip differs; the upload {up}")


# ---------------------------------------------------------------------------------------------
# A client killed mid-transfer


def session_pids(daemon):
    """Pids of the session processes the daemon logged (the forked sftp/scp children)."""
    return [e["data"]["pid"] for e in daemon.find_logs("sshd.session.started")]


def gone(pid):
    st = proc_stat(pid)
    return st is None


class Transfer:
    """A client run in its own process group, so kill -9 takes ssh down with it as a killed
    terminal would."""

    def __init__(self, argv, cwd, input=None):
        self.proc = subprocess.Popen(argv, cwd=cwd, start_new_session=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        if input is not None:
            self.proc.stdin.write(input.encode())
        self.proc.stdin.close()

    def kill_when(self, path, at_least, timeout=60):
        def grown():
            if self.proc.poll() is not None:
                raise AssertionError(f"client exited {self.proc.returncode} before the kill: "
                                     f"{self.proc.stderr.read()!r}")
            return os.path.exists(path) and os.path.getsize(path) >= at_least
        wait_until(grown, timeout, interval=0.01, what=f"{path} to reach {at_least} bytes")
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc.stderr.close()


def assert_prefix_of(partial, full):
    size = os.path.getsize(partial)
    assert 0 < size < os.path.getsize(full), size
    with open(partial, "rb") as a, open(full, "rb") as b:
        offset = 0
        while offset < size:
            x, y = a.read(1 << 20), b.read(1 << 20)
            y = y[:len(x)]
            if x != y:
                bad = next(i for i in range(len(x)) if x[i] != y[i])
                raise AssertionError(f"partial file differs from the data at {offset + bad}")
            offset += len(x)


# Client-side bandwidth limits (Kbit/s) keep the transfer going long enough to kill it
# mid-way even on a fast machine; the limit is on the client, so the daemon is not slowed.
LIMIT = ["-l", "160000"]  # 20 MB/s: 256 MiB would take ~13 s
KILL_AT = 2 << 20


@pytest.mark.parametrize("direction,client", [("put", "sftp"), ("get", "sftp"),
                                              ("put", "scp-O"), ("get", "scp-O")])
def test_client_killed_mid_transfer(clients, sshd_factory, area, big, sshd_binary, direction,
                                    client):
    src, _ = big
    d = start_daemon(sshd_factory, area)
    fds_before = fd_count(d.pid)
    if direction == "get":
        link_or_copy(src, area.r("big.bin"))
        give_to_daemon_user(area.remote)
        grows, full = area.l("big.bin"), area.r("big.bin")
    else:
        link_or_copy(src, area.l("big.bin"))
        grows, full = area.r("big.bin"), area.l("big.bin")
    if client == "sftp":
        argv = ["sftp", *clients.ssh_opts(d, "-P"), *LIMIT, "-b", "-", "vcap@127.0.0.1"]
        t = Transfer(argv, area.local, input=f"{direction} big.bin\n")
    else:
        args = ("big.bin", REMOTE) if direction == "put" else (REMOTE + "big.bin", ".")
        t = Transfer(clients.scp_argv(d, *args, legacy=True, extra=LIMIT), area.local)
    t.kill_when(grows, KILL_AT)
    sessions = d.wait_log("sshd.session.started")

    # The connection process and the sftp/scp child end, and nothing else of this daemon's is
    # left (an orphan reparented away from the listener would still match its binary).
    wait_until(lambda: d.find_logs("sshd.connection.closed"), 30, what="connection.closed")
    wait_until(lambda: gone(sessions["data"]["pid"]), 30, what="session child to go")
    wait_until(lambda: pids_with_marker(sshd_binary) == [d.pid], 30,
               what=f"only the listener left, have {pids_with_marker(sshd_binary)}")
    assert d.alive()
    assert fd_count(d.pid) == fds_before
    # What was written is exactly a prefix of what was sent: no holes, no reordering.
    assert_prefix_of(grows, full)
    # The daemon still serves.
    r = clients.sftp(d, ["pwd"], cwd=area.local)
    assert r.returncode == 0 and area.remote in r.stdout, r
    assert fd_count(d.pid) == fds_before or wait_until(
        lambda: fd_count(d.pid) == fds_before, 10, what="listener fds back to before")


def test_connection_dropped_with_many_open_handles(pm, sshd_factory, area, sshd_binary):
    """A paramiko client holding 50 open handles (reads and writes) drops its TCP connection:
    the sftp child closes them all and exits."""
    d = start_daemon(sshd_factory, area)
    fds_before = fd_count(d.pid)
    for i in range(25):
        area.put_remote(f"r{i}", b"r" * 1000)
    c = pm.connect(d)
    s = c.open_sftp()
    handles = [s.open(f"r{i}", "rb") for i in range(25)]
    handles += [s.open(f"w{i}", "wb") for i in range(25)]
    for h in handles[25:]:
        h.write(b"partial")
        h.flush()
    child = d.wait_log("sshd.session.started", type="subsystem")["data"]["pid"]
    assert len(os.listdir(f"/proc/{child}/fd")) >= 50
    c.get_transport().sock.close()  # no SSH disconnect: the peer just goes away
    wait_until(lambda: gone(child), 30, what="sftp child to go")
    wait_until(lambda: pids_with_marker(sshd_binary) == [d.pid], 30,
               what="only the listener left")
    assert fd_count(d.pid) == fds_before
    assert open(area.r("w3"), "rb").read() == b"partial"


def rss_kib(pid):
    raw = open(f"/proc/{pid}/status").read()
    return int(next(line.split()[1] for line in raw.splitlines() if line.startswith("VmRSS:")))


@pytest.mark.parametrize("client", ["sftp", "scp-O"])
def test_stalled_client_is_met_with_back_pressure_not_buffering(clients, sshd_factory, area,
                                                                client):
    """A client that stops reading (SIGSTOP) mid-download: the daemon's processes do not
    buffer the file in memory, and the transfer completes intact once it reads again."""
    d = start_daemon(sshd_factory, area)
    digest = write_random(area.r("f.bin"), 32 << 20)  # more than every buffer on the way
    give_to_daemon_user(area.remote)
    if client == "sftp":
        argv = ["sftp", *clients.ssh_opts(d, "-P"), *LIMIT, "-b", "-", "vcap@127.0.0.1"]
        t = Transfer(argv, area.local, input="get f.bin\n")
    else:
        t = Transfer(clients.scp_argv(d, REMOTE + "f.bin", ".", legacy=True, extra=LIMIT),
                     area.local)
    wait_until(lambda: os.path.exists(area.l("f.bin")) and
               os.path.getsize(area.l("f.bin")) >= (1 << 20), 60, interval=0.01,
               what="the download to start")
    os.killpg(t.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(3)  # long enough for every buffer between the file and the socket to fill
        rss = {p: rss_kib(p) for p in descendants(d.pid)}
        assert len(rss) == 2, rss  # the connection process and its sftp/scp child
        assert max(rss.values()) < 16 * 1024, f"RSS (KiB) with the client stopped: {rss}"
    finally:
        os.killpg(t.proc.pid, signal.SIGCONT)
    assert t.proc.wait(120) == 0, t.proc.stderr.read()
    t.proc.stderr.close()
    assert sha256_file(area.l("f.bin")) == digest
