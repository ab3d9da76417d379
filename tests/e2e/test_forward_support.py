"""Shared pieces of the TCP forwarding tests (test_forward_*.py); this file holds no tests.

- Target: a TCP server on loopback in threads, with one behaviour per connection (echo,
  digest-after-EOF, send-then-close, never read, reset...), recording what each saw.
- SshForward: `ssh -N` with -L/-R forwards and ExitOnForwardFailure=yes, its stderr kept.
- Socket helpers: listening ports from /proc/net/tcp*, transfers with a sender thread.

Everything that waits has a timeout. All traffic stays on 127.0.0.1 / ::1.
"""

import hashlib
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import descendants, proc_stat, wait_until

IO_TIMEOUT = 60


# ---------------------------------------------------------------------------------------------
# Targets


class Conn:
    """What a target saw on one accepted connection."""

    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = peer
        self.received = 0
        self.sent = 0
        self.eof = threading.Event()  # the peer's FIN arrived (recv returned b"")
        self.done = threading.Event()  # the behaviour returned and the socket is closed
        self.error = None
        self.digest = hashlib.sha256()


class Target:
    """A TCP server on `host` (port chosen by the kernel). Each accepted connection runs
    `behaviour(conn, target)` in its own thread; `conns` lists them in accept order."""

    def __init__(self, behaviour, host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(512)
        self.sock.settimeout(0.2)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.behaviour = behaviour
        self.conns = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self.stop.is_set():
            try:
                s, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            s.settimeout(IO_TIMEOUT)
            c = Conn(s, peer)
            with self._lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.behaviour(c, self)
        except OSError as e:
            c.error = e
        finally:
            try:
                c.sock.close()
            except OSError:
                pass
            c.done.set()

    def accepted(self):
        with self._lock:
            return len(self.conns)

    def wait_accepted(self, n, timeout=30):
        wait_until(lambda: self.accepted() >= n, timeout, what=f"{n} connections at the target")
        return self.conns[n - 1]

    def close(self):
        self.stop.set()
        self.sock.close()
        self._thread.join(5)
        for c in list(self.conns):
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def recv_some(c, size=65536):
    data = c.sock.recv(size)
    if data:
        c.received += len(data)
        c.digest.update(data)
    else:
        c.eof.set()
    return data


def echo(c, target):
    """Sends back everything; after the peer's EOF, half-closes too."""
    while data := recv_some(c):
        c.sock.sendall(data)
        c.sent += len(data)
    c.sock.shutdown(socket.SHUT_WR)


def digest_after_eof(c, target):
    """Reads until the peer's EOF, then answers "<sha256 hex> <length>" (a half-closed
    peer must still get this answer) and closes."""
    while recv_some(c):
        pass
    c.sock.sendall(f"{c.digest.hexdigest()} {c.received}\n".encode())


def send_then_close(payload, read_pause=0.0):
    """Sends `payload`, half-closes, then reads what the peer still sends until its EOF,
    pausing `read_pause` seconds between reads (a slow reader keeps data in flight)."""

    def behaviour(c, target):
        c.sock.sendall(payload)
        c.sent = len(payload)
        c.sock.shutdown(socket.SHUT_WR)
        while recv_some(c):
            time.sleep(read_pause)

    return behaviour


def source(total, chunk=65536):
    """Sends `total` bytes of zeros in chunks, counting as it goes (so a test sees where
    back-pressure stopped it), then closes."""

    def behaviour(c, target):
        block = b"\0" * chunk
        while c.sent < total and not target.stop.is_set():
            c.sock.sendall(block)
            c.sent += chunk

    return behaviour


def never_read(c, target):
    """Holds the connection open without reading: the sender must be held back."""
    target.stop.wait(IO_TIMEOUT * 2)


def reset_after(nbytes):
    """Sends `nbytes`, then closes with SO_LINGER 0: an RST in the middle of the stream."""

    def behaviour(c, target):
        c.sock.sendall(b"r" * nbytes)
        c.sent = nbytes
        time.sleep(0.2)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return behaviour


@pytest.fixture
def targets():
    """Makes Targets and closes them at the end of the test."""
    made = []

    def make(behaviour, host="127.0.0.1"):
        t = Target(behaviour, host)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


_HELD = []  # sockets kept bound (never listening) for the life of the test process


def refused_port():
    """A loopback port that refuses connections: bound but not listening, and kept bound so
    nothing else (another test running beside this one) can start listening on it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _HELD.append(s)
    return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Sockets


def listening_ports():
    """Ports in LISTEN state on any address, from /proc/net/tcp and tcp6."""
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return ports


def is_listening(port):
    return port in listening_ports()


def connect(port, host="127.0.0.1", timeout=IO_TIMEOUT):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def connect_refused(port, host="127.0.0.1"):
    try:
        connect(port, host, timeout=5).close()
        return False
    except ConnectionRefusedError:
        return True


def recv_all(sock, limit=None):
    """Reads until EOF (a reset counts as the end too); returns (bytes, reset?)."""
    buf = bytearray()
    try:
        while limit is None or len(buf) < limit:
            data = sock.recv(1 << 20)
            if not data:
                return bytes(buf), False
            buf += data
    except ConnectionResetError:
        return bytes(buf), True
    return bytes(buf), False


def exchange(sock, payload, half_close=True):
    """Sends `payload` from a thread (then shuts down the write side) while reading until EOF;
    returns what came back. Both directions run at once, so a tunnel's windows never
    deadlock the test."""
    err = []

    def send():
        try:
            sock.sendall(payload)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    data, _ = recv_all(sock)
    t.join(IO_TIMEOUT)
    assert not err, err
    return data


def echo_round_trip(sock, payload):
    """Sends `payload` from a thread while reading the echo until all of it is back, and only
    then half-closes and waits for the EOF: no byte is in flight when the channel closes.
    Returns what came back before the EOF."""
    err = []

    def send():
        try:
            sock.sendall(payload)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    back, _ = recv_all(sock, limit=len(payload))
    t.join(IO_TIMEOUT)
    assert not err, err
    sock.shutdown(socket.SHUT_WR)
    rest, _ = recv_all(sock)
    return back + rest


def sha(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# OpenSSH ssh with forwards


class SshForward:
    """`ssh -N <forwards>` with ExitOnForwardFailure=yes. stderr is collected in a thread."""

    def __init__(self, ssh, daemon, *forwards, opts=(), verbose=False):
        extra = ["-N", "-o", "ExitOnForwardFailure=yes", *forwards, *opts]
        if verbose:
            extra.insert(0, "-v")
        self.argv = ssh.argv(daemon, opts=tuple(extra))
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._err = []
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self):
        for line in iter(self.proc.stderr.readline, b""):
            self._err.append(line.decode("utf-8", "replace"))

    def stderr(self):
        return "".join(self._err)

    def wait_listening(self, port, timeout=30):
        """Waits until `port` listens (ssh's -L socket, or the daemon's -R listener)."""

        def ready():
            if self.proc.poll() is not None:
                self._t.join(5)  # all of ssh's stderr read before it is quoted or matched
                raise AssertionError(f"ssh exited {self.proc.returncode}: {self.stderr()}")
            return is_listening(port)

        wait_until(ready, timeout, what=f"port {port} to listen")
        return self

    def wait_exit(self, timeout=30):
        rc = self.proc.wait(timeout)
        self._t.join(5)
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._t.join(5)


@pytest.fixture
def forwards(ssh):
    """Starts SshForward processes and kills what is left at the end of the test."""
    made = []

    def start(daemon, *fwd, **kw):
        f = SshForward(ssh, daemon, *fwd, **kw)
        made.append(f)
        return f

    yield start
    for f in made:
        f.stop()


def _forward_on_a_free_port(forwards, daemon, flag, spec, taken, **kw):
    """Starts `ssh -N <flag> spec(port)` on a port from free_local_port() and waits until it
    listens; returns (SshForward, port). A port taken between choosing and binding (another
    test's outgoing connection, say) makes ssh fail with `taken` in its stderr: another port
    is tried."""
    for _ in range(3):
        port = free_local_port()
        f = forwards(daemon, flag, spec(port), **kw)
        try:
            return f.wait_listening(port), port
        except AssertionError as e:
            if taken not in str(e):
                raise
    raise AssertionError(f"no free port for {flag}")


def local_forward(forwards, daemon, target_port, host="127.0.0.1", **kw):
    """`ssh -N -L lport:host:target_port`, ready; returns (SshForward, lport)."""
    # Bound on 127.0.0.1 alone: with "localhost" ssh also binds ::1 and counts the forward
    # as set up when only that bind works (the IPv4 port taken meanwhile).
    return _forward_on_a_free_port(forwards, daemon, "-L",
                                   lambda port: f"127.0.0.1:{port}:{host}:{target_port}",
                                   "Address already in use", **kw)


def remote_forward(forwards, daemon, target_port, **kw):
    """`ssh -N -R rport:127.0.0.1:target_port`, listening; returns (SshForward, rport)."""
    return _forward_on_a_free_port(forwards, daemon, "-R",
                                   lambda port: f"{port}:127.0.0.1:{target_port}",
                                   "remote port forwarding failed", **kw)


def free_local_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# The daemon's processes


def connection_processes(daemon):
    """The daemon's per-connection processes (children of the listener)."""
    return [p for p in descendants(daemon.pid) if (proc_stat(p) or (0, 0))[1] == daemon.pid]


def fds_of(pid):
    return sorted(os.listdir(f"/proc/{pid}/fd"))


def fd_targets(pid):
    """{fd: what it points at} of a process."""
    out = {}
    for fd in fds_of(pid):
        try:
            out[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass
    return out


def wait_no_new_fds(pid, before, timeout=10):
    """Waits until `pid` holds no fd beyond `before` (a fd_targets() snapshot): what a test
    opened through the process was all closed. (A subset, not equality: a connection from
    outside the test being accepted while the snapshot was taken must not count as a leak.)"""
    def clean():
        return set(fd_targets(pid).items()) <= set(before.items())

    try:
        wait_until(clean, timeout, what="no fd beyond the ones before")
    except AssertionError:
        raise AssertionError(f"fds before {before}, now {fd_targets(pid)}") from None


def crashed_connections(daemon, settle=3):
    """How many connection processes ended without logging sshd.connection.closed (a crash:
    a connection that ends in any orderly way logs it)."""
    def missing():
        authenticated = {e["data"]["peer"] for e in daemon.find_logs("sshd.connection.authenticated")}
        closed = {e["data"]["peer"] for e in daemon.find_logs("sshd.connection.closed")}
        return len(authenticated - closed) - len(connection_processes(daemon))

    deadline = time.monotonic() + settle
    while missing() > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    return max(missing(), 0)
