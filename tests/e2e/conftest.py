"""End-to-end harness: the real diego-sshd, run as the unprivileged user a container runs it
as, driven by real clients (OpenSSH ssh, paramiko, plink, a Go x/crypto/ssh client).

Environment (set by tests/e2e/CMakeLists.txt):
  HATCH_SSHD       the built diego-sshd
  HATCH_BUILD_DIR  the CMake build dir (the Go client and its cache are built there)

Everything that waits has a timeout, so a hang fails the test instead of blocking the run.
"""

import fcntl
import json
import os
import pwd
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import paramiko
import pytest
from paramiko.common import (MSG_CHANNEL_FAILURE, MSG_CHANNEL_REQUEST, MSG_CHANNEL_SUCCESS,
                             cMSG_CHANNEL_REQUEST)

SSHD = os.environ.get("HATCH_SSHD", "")
BUILD_DIR = os.environ.get("HATCH_BUILD_DIR", "")
RUN_AS = "hatch-test"  # created by scripts/setup; used when the tests run as root
START_TIMEOUT = 10
STOP_TIMEOUT = 20


def running_as_root():
    return os.geteuid() == 0


def daemon_user():
    """(name, home) of the user the daemon runs as."""
    if running_as_root():
        pw = pwd.getpwnam(RUN_AS)
    else:
        pw = pwd.getpwuid(os.geteuid())
    return pw.pw_name, pw.pw_dir


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Polls `predicate` until it returns a true value (returned) or fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


TEST_TIMEOUT = 120  # seconds; the slowest test takes ~15s


def pytest_configure(config):
    config.addinivalue_line("markers", "hang_timeout(seconds): this test's hang guard limit")


@pytest.fixture(autouse=True)
def hang_guard(request):
    """Fails a test that blocks (e.g. a read from a client that never ends) instead of letting
    it run into CTest's timeout: SIGALRM raises in the main thread. A slow test can raise its
    limit with @pytest.mark.hang_timeout(seconds)."""
    marker = request.node.get_closest_marker("hang_timeout")
    limit = int(marker.args[0]) if marker else TEST_TIMEOUT

    def on_alarm(signum, frame):
        raise TimeoutError(f"test still running after {limit}s")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------------------------------
# /proc helpers


def proc_read(pid, name):
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def proc_stat(pid):
    """(state, ppid, pgid) of a process, or None if it is gone."""
    raw = proc_read(pid, "stat")
    if raw is None:
        return None
    rest = raw[raw.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[1]), int(rest[2])


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def pids_with_marker(marker):
    """Live (non-zombie) processes whose command line contains `marker`."""
    found = []
    needle = marker.encode()
    for pid in all_pids():
        cmd = proc_read(pid, "cmdline")
        st = proc_stat(pid)
        if cmd and needle in cmd and st and st[0] != "Z" and pid != os.getpid():
            found.append(pid)
    return found


def descendants(root):
    """Every live process below `root` (by parent links)."""
    children = {}
    for pid in all_pids():
        st = proc_stat(pid)
        if st:
            children.setdefault(st[1], []).append(pid)
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def zombies_below(root):
    return [p for p in descendants(root) if (proc_stat(p) or ("?",))[0] == "Z"]


# ---------------------------------------------------------------------------------------------
# Keys


class Keys:
    """Client and host keys made with ssh-keygen in a directory of their own."""

    def __init__(self, directory):
        self.dir = directory
        self.client_ed25519 = self._make("client_ed25519", "ed25519")
        self.client_rsa = self._make("client_rsa", "rsa", "-b", "3072")
        self.wrong_ed25519 = self._make("wrong_ed25519", "ed25519")
        self.wrong_rsa = self._make("wrong_rsa", "rsa", "-b", "2048")
        self.host_rsa = self._make("host_rsa", "rsa", "-b", "3072", "-m", "PEM")
        self.host_ed25519 = self._make("host_ed25519", "ed25519")

    def _make(self, name, kind, *extra):
        path = os.path.join(self.dir, name)
        if os.path.exists(path) and os.path.exists(path + ".pub"):
            return path
        for stale in (path, path + ".pub"):
            if os.path.exists(stale):
                os.unlink(stale)
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"{name}@e2e", *extra,
                        "-f", path], check=True, timeout=60)
        return path

    @staticmethod
    def text(path):
        with open(path) as f:
            return f.read()

    @staticmethod
    def pub(path):
        with open(path + ".pub") as f:
            return f.read().strip()

    def host_fingerprint(self, path):
        out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", path + ".pub"],
                             check=True, capture_output=True, text=True, timeout=30).stdout
        return out.split()[1]


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="hatch-e2e-")
    os.chmod(d, 0o755)  # the daemon's user must reach the binary in here
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def keys(workdir):
    """Made once per build dir and shared by the test files (RSA key generation is slow);
    a fresh set in the session's work dir when no build dir is given."""
    if BUILD_DIR and os.path.isdir(BUILD_DIR):
        d = os.path.join(BUILD_DIR, "e2e-keys")
        os.makedirs(d, 0o700, exist_ok=True)  # private client keys: only the test user
        with open(os.path.join(BUILD_DIR, "e2e-keys.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return Keys(d)
    d = os.path.join(workdir, "keys")
    os.mkdir(d, 0o700)
    return Keys(d)


@pytest.fixture(scope="session")
def sshd_binary(workdir):
    assert SSHD and os.access(SSHD, os.X_OK), "HATCH_SSHD must name the built diego-sshd"
    if not running_as_root():
        return SSHD
    # As in a container: the daemon's user must be able to read and run it.
    path = os.path.join(workdir, "diego-sshd")
    shutil.copy(SSHD, path)
    os.chmod(path, 0o755)
    return path


# ---------------------------------------------------------------------------------------------
# The daemon


class Daemon:
    """One diego-sshd process. Collects its stdout (JSON log lines) and stderr."""

    def __init__(self, binary, args, env, port):
        self.binary = binary
        self.args = args
        self.env = env
        self.port = port
        self.proc = None
        self.stdout_lines = []
        self.stderr_lines = []
        self._lock = threading.Lock()
        self._threads = []
        self.returncode = None
        self.preexec = None  # runs in the child before exec (e.g. to ignore signals)

    @property
    def pid(self):
        return self.proc.pid

    def command(self):
        cmd = [self.binary, *self.args]
        if running_as_root():
            cmd = ["setpriv", f"--reuid={RUN_AS}", f"--regid={RUN_AS}", "--init-groups",
                   "--inh-caps=-all", "--bounding-set=-all", *cmd]
        return cmd

    def spawn(self):
        _, home = daemon_user()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=self.env, cwd=home if os.path.isdir(home) else "/",
                                     start_new_session=True, preexec_fn=self.preexec)
        for stream, sink in ((self.proc.stdout, self.stdout_lines),
                             (self.proc.stderr, self.stderr_lines)):
            t = threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, stream, sink):
        for line in iter(stream.readline, b""):
            with self._lock:
                sink.append(line.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    def logs(self):
        """Every stdout line parsed as JSON (a line that is not JSON fails the test)."""
        with self._lock:
            lines = list(self.stdout_lines)
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"daemon stdout line is not JSON: {line!r}")
        return out

    def log_messages(self):
        return [e["message"] for e in self.logs()]

    def find_logs(self, message, **data):
        return [e for e in self.logs() if e.get("message") == message and
                all(e.get("data", {}).get(k) == v for k, v in data.items())]

    def wait_log(self, message, timeout=10, **data):
        return wait_until(lambda: self.find_logs(message, **data), timeout,
                          what=f"log {message} {data}")[0]

    def stderr_text(self):
        with self._lock:
            return "\n".join(self.stderr_lines)

    def _accepting(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def wait_started(self):
        """Waits for the sshd.started line; with -logLevel=error/fatal there is none, so then
        for the port to accept. False if the daemon exited instead."""
        quiet = any(a in ("-logLevel=error", "-logLevel=fatal") for a in self.args)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.find_logs("sshd.started") or (quiet and self.alive() and self._accepting()):
                self._wait_settled()
                return True
            if self.proc.poll() is not None:
                for t in self._threads:
                    t.join(5)
                return False
            time.sleep(0.02)
        raise AssertionError(f"daemon did not log sshd.started in {START_TIMEOUT}s; "
                             f"stderr: {self.stderr_text()!r}")

    def _settled(self):
        """The listener is asleep (in poll) and its start-up read of /proc/self/smaps (just
        after the sshd.started line: ReleaseUnusedCodePages) is over."""
        pid = self.proc.pid
        st = proc_stat(pid)
        if st is None or st[0] == "Z":
            return True
        if st[0] != "S":
            return False
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            return True
        for n in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{n}").endswith("maps"):
                    return False
            except OSError:
                pass
        return True

    def _wait_settled(self, timeout=2):
        """So that what a test snapshots right after start (its fds) is the idle listener's;
        under load the start-up work can still be running when the line is read."""
        deadline = time.monotonic() + timeout
        while not self._settled() and time.monotonic() < deadline:
            time.sleep(0.005)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then wait; returns the exit status (SIGKILLs and fails on a hang)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"daemon did not exit within {timeout}s of SIGTERM")
        for t in self._threads:
            t.join(5)
        return self.returncode

    def wait_exit(self, timeout=STOP_TIMEOUT):
        rc = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        self.returncode = rc
        return rc


class DaemonFactory:
    """Starts daemons as the runtime does; stops each at the end and checks it exits 0."""

    def __init__(self, binary, keys):
        self.binary = binary
        self.keys = keys
        self.started = []

    def base_env(self, extra=None):
        name, home = daemon_user()
        env = {"HOME": home, "USER": name, "PATH": "/usr/local/bin:/usr/bin:/bin"}
        env.update(extra or {})
        return {k: v for k, v in env.items() if v is not None}

    def make(self, *flags, host_key="rsa", authorized_key="ed25519", inherit=True,
             log_level="debug", env=None, secrets_in_env=False, port=None, address=None):
        """A Daemon, not started. host_key: "rsa", "ed25519", None (no flag) or key text;
        authorized_key: "ed25519", "rsa", None (no flag) or an authorized_keys line."""
        port = port or free_port()
        host_text = {"rsa": self.keys.text(self.keys.host_rsa),
                     "ed25519": self.keys.text(self.keys.host_ed25519)}.get(host_key, host_key)
        auth_text = {"ed25519": self.keys.pub(self.keys.client_ed25519),
                     "rsa": self.keys.pub(self.keys.client_rsa)}.get(authorized_key,
                                                                      authorized_key)
        env = self.base_env(env)
        args = [f"-address={address or f'127.0.0.1:{port}'}"]
        if secrets_in_env:
            if host_text is not None:
                env["SSHD_HOSTKEY"] = host_text
            if auth_text is not None:
                env["SSHD_AUTHKEY"] = auth_text
        else:
            if host_text is not None:
                args.append(f"-hostKey={host_text}")
            if auth_text is not None:
                args.append(f"-authorizedKey={auth_text}")
        if inherit:
            args.append("-inheritDaemonEnv")
        if log_level:
            args.append(f"-logLevel={log_level}")
        args.extend(flags)
        d = Daemon(self.binary, args, env, port)
        d.host_key_text = host_text
        d.auth_key_text = auth_text
        return d

    def start(self, *flags, preexec=None, **kw):
        for _ in range(5):
            d = self.make(*flags, **kw)
            d.preexec = preexec
            d.spawn()
            self.started.append(d)
            if d.wait_started():
                return d
            if "in use" in d.stderr_text() and "port" not in kw:
                continue  # another test took the free port first
            raise AssertionError(f"daemon exited {d.proc.returncode} at start-up: "
                                 f"{d.stderr_text()!r}")
        raise AssertionError("no free port")

    def run_to_exit(self, *flags, timeout=10, **kw):
        """Starts a daemon expected to fail at start-up; returns (returncode, stderr lines)."""
        d = self.make(*flags, **kw)
        d.spawn()
        self.started.append(d)
        try:
            rc = d.wait_exit(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon still running with flags {flags}; stdout: "
                                 f"{d.stdout_lines}")
        return rc, list(d.stderr_lines), d

    def close(self):
        failures = []
        for d in self.started:
            if d.returncode is not None or d.proc.poll() is not None:
                continue
            rc = d.stop()
            if rc != 0:
                failures.append(f"daemon exited {rc} after SIGTERM; stderr: {d.stderr_text()!r}")
        assert not failures, failures


@pytest.fixture
def shared_tmp():
    """A scratch directory the daemon's user (and its sessions) can write to."""
    d = tempfile.mkdtemp(prefix="hatch-e2e-shared-")
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sshd_factory(sshd_binary, keys):
    f = DaemonFactory(sshd_binary, keys)
    yield f
    f.close()


@pytest.fixture
def sshd(sshd_factory):
    """A daemon with the runtime's flags (RSA PEM host key, ed25519 client key)."""
    return sshd_factory.start()


# ---------------------------------------------------------------------------------------------
# OpenSSH ssh

SSH_BASE = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]


def ssh_argv(daemon, *command, key, user="vcap", opts=()):
    return [*SSH_BASE, "-i", key, "-p", str(daemon.port), *opts, f"{user}@127.0.0.1", *command]


class Ssh:
    def __init__(self, keys):
        self.keys = keys
        self.procs = []

    def argv(self, daemon, *command, key=None, user="vcap", opts=()):
        return ssh_argv(daemon, *command, key=key or self.keys.client_ed25519, user=user,
                        opts=opts)

    def run(self, daemon, *command, input=None, timeout=60, key=None, user="vcap", opts=(),
            env=None, text=False):
        """Runs ssh to the end; CompletedProcess with stdout/stderr captured separately."""
        stdin = None if input is not None else subprocess.DEVNULL
        return subprocess.run(self.argv(daemon, *command, key=key, user=user, opts=opts),
                              input=input, stdin=stdin, capture_output=True, timeout=timeout,
                              env=env, text=text)

    def popen(self, daemon, *command, key=None, user="vcap", opts=(), **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(self.argv(daemon, *command, key=key, user=user, opts=opts), **kw)
        self.procs.append(p)
        return p

    def close(self):
        """Ends clients a failed test left running (a stopped one is continued first)."""
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    p.kill()
                    p.wait(5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass


@pytest.fixture
def ssh(keys):
    s = Ssh(keys)
    yield s
    s.close()


# ---------------------------------------------------------------------------------------------
# paramiko


def _load_key(path):
    if Keys.pub(path).startswith("ssh-ed25519 "):
        return paramiko.Ed25519Key.from_private_key_file(path)
    return paramiko.RSAKey.from_private_key_file(path)


def _handle_request_with_exit_signal(self, m):
    """paramiko ignores exit-signal (RFC 4254 §6.10); record it on the channel instead."""
    start = m.get_so_far()
    key = m.get_text()
    if key == "exit-signal":
        m.get_boolean()
        self.exit_signal = (m.get_text(), m.get_boolean(), m.get_text(), m.get_text())
        self.status_event.set()
        return
    m.rewind()
    m.get_bytes(len(start))
    return _original_handle_request(self, m)


_original_handle_request = paramiko.Channel._handle_request
paramiko.Channel._handle_request = _handle_request_with_exit_signal
# The transport dispatches through its own table, which holds the original function.
paramiko.Transport._channel_handler_table[MSG_CHANNEL_REQUEST] = _handle_request_with_exit_signal
paramiko.Channel.exit_signal = None


class RawReplies:
    """Routes SSH_MSG_CHANNEL_SUCCESS/FAILURE for one channel to a queue, so a test can send
    requests paramiko has no API for (or malformed ones) and see the reply, without paramiko
    closing the channel on a failure reply."""

    def __init__(self, transport):
        self.transport = transport
        self.channels = {}
        table = dict(type(transport)._channel_handler_table)
        orig_ok = table[MSG_CHANNEL_SUCCESS]
        orig_fail = table[MSG_CHANNEL_FAILURE]

        def ok(chan, m):
            q = self.channels.get(chan.chanid)
            if q is not None and q.pending:
                q.pending -= 1
                q.put(True)
            else:
                orig_ok(chan, m)

        def fail(chan, m):
            q = self.channels.get(chan.chanid)
            if q is not None and q.pending:
                q.pending -= 1
                q.put(False)
            else:
                orig_fail(chan, m)

        table[MSG_CHANNEL_SUCCESS] = ok
        table[MSG_CHANNEL_FAILURE] = fail
        transport._channel_handler_table = table

    def request(self, chan, name, *fields, want_reply=True, timeout=10, raw=None):
        """Sends a channel request; fields are str (SSH string), bool, or int (uint32).
        `raw` bytes replace the typed fields. Returns True/False for the reply, None if no
        reply was wanted."""
        q = self.channels.setdefault(chan.chanid, queue.Queue())
        if not hasattr(q, "pending"):
            q.pending = 0
        m = paramiko.Message()
        m.add_byte(cMSG_CHANNEL_REQUEST)
        m.add_int(chan.remote_chanid)
        m.add_string(name)
        m.add_boolean(want_reply)
        if raw is not None:
            m.add_bytes(raw)
        for f in fields:
            if isinstance(f, bool):
                m.add_boolean(f)
            elif isinstance(f, int):
                m.add_int(f)
            else:
                m.add_string(f)
        if want_reply:
            q.pending += 1
        self.transport._send_user_message(m)
        if not want_reply:
            return None
        return q.get(timeout=timeout)


def send_signal(chan, name):
    """RFC 4254 §6.9 "signal" (no reply); paramiko has no API for it."""
    m = paramiko.Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(chan.remote_chanid)
    m.add_string("signal")
    m.add_boolean(False)
    m.add_string(name)
    chan.transport._send_user_message(m)


class Paramiko:
    def __init__(self, keys):
        self.keys = keys
        self.clients = []

    def connect(self, daemon, key=None, username="vcap", timeout=15, **kw):
        c = paramiko.SSHClient()
        c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        c.connect("127.0.0.1", port=daemon.port, username=username,
                  pkey=_load_key(key or self.keys.client_ed25519), look_for_keys=False,
                  allow_agent=False, timeout=timeout, banner_timeout=timeout,
                  auth_timeout=timeout, **kw)
        self.clients.append(c)
        return c

    def close(self):
        for c in self.clients:
            c.close()


@pytest.fixture
def pm(keys):
    p = Paramiko(keys)
    yield p
    p.close()


def read_channel(chan, timeout=30):
    """Reads stdout and stderr of a channel until it closes; (stdout, stderr)."""
    chan.settimeout(timeout)
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    while True:
        got = False
        if chan.recv_ready():
            out += chan.recv(65536)
            got = True
        if chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
            got = True
        if not got:
            if chan.exit_status_ready() and not chan.recv_ready() and \
                    not chan.recv_stderr_ready() and chan.closed:
                break
            if chan.eof_received and chan.closed:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"channel still open after {timeout}s; out={bytes(out)!r}")
            time.sleep(0.005)
    return bytes(out), bytes(err)


def pm_exec(client, command, stdin=None, timeout=30, environment=None, get_pty=False):
    """Runs one exec channel to the end: (stdout, stderr, exit_status, exit_signal)."""
    chan = client.get_transport().open_session(timeout=timeout)
    if environment:
        chan.update_environment(environment)
    if get_pty:
        chan.get_pty()
    chan.exec_command(command)
    if stdin is not None:
        chan.sendall(stdin)
        chan.shutdown_write()
    out, err = read_channel(chan, timeout)
    assert chan.status_event.wait(timeout), "no exit-status/exit-signal"
    return out, err, chan.exit_status, chan.exit_signal


class ShellReader:
    """Accumulates an interactive channel's output; waits for a pattern."""

    def __init__(self, chan):
        self.chan = chan
        self.buf = b""

    def pump(self):
        while self.chan.recv_ready():
            self.buf += self.chan.recv(65536)

    def expect(self, needle, timeout=15):
        needle = needle.encode() if isinstance(needle, str) else needle

        def found():
            self.pump()
            return needle in self.buf

        try:
            wait_until(found, timeout, interval=0.01, what=repr(needle))
        except AssertionError:
            raise AssertionError(f"{needle!r} not seen in {timeout}s; output: {self.buf!r}")
        idx = self.buf.index(needle) + len(needle)
        before, self.buf = self.buf[:idx], self.buf[idx:]
        return before

    def send(self, data):
        self.chan.sendall(data.encode() if isinstance(data, str) else data)
