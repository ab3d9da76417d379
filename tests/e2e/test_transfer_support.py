"""Shared pieces of the file-transfer end-to-end tests (test_transfer_*.py); holds no tests.

Every transfer test gets a `Area`: a session home the daemon's user owns (the daemon is
started with HOME pointing there, so relative paths resolve from it) and a local directory
the clients (run as the test's user) read and write. Client command lines are built here so
each test file says only what it checks.
"""

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import SSH_BASE, daemon_user

# ssh's options without the program name: shared by ssh, sftp, scp and rsync -e.
SSH_OPTS = SSH_BASE[1:]
SIZE_BIG = 256 << 20


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_random(path, size):
    """Writes `size` random bytes (so a copy with any block misplaced differs); returns their
    sha256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        n = 0
        while n < size:
            chunk = os.urandom(min(1 << 20, size - n))
            f.write(chunk)
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest()


def give_to_daemon_user(path):
    """chown -R to the daemon's user (when the tests run as root), so sessions may write."""
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(daemon_user()[0])
    os.chown(path, pw.pw_uid, pw.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)


class Area:
    """A session home (`remote`, owned by the daemon's user) and a local directory."""

    def __init__(self, base):
        self.base = base
        self.remote = os.path.join(base, "home")
        self.local = os.path.join(base, "local")
        os.mkdir(self.remote, 0o755)
        os.mkdir(self.local, 0o755)
        give_to_daemon_user(self.remote)

    def r(self, *parts):
        return os.path.join(self.remote, *parts)

    def l(self, *parts):
        return os.path.join(self.local, *parts)

    def put_remote(self, rel, data, mode=0o644):
        """Makes a file in the session home as if the session had written it."""
        path = self.r(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        give_to_daemon_user(self.remote)
        return path

    def put_local(self, rel, data, mode=0o644):
        path = self.l(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path


# tmpfs when there is one: a loaded CI disk can write under 20 MB/s, which would time the
# 256 MiB copies instead of the daemon.
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@pytest.fixture
def area():
    base = tempfile.mkdtemp(prefix="hatch-transfer-", dir=SCRATCH)
    os.chmod(base, 0o755)
    yield Area(base)
    shutil.rmtree(base, ignore_errors=True)


def start_daemon(factory, area, *flags, umask=0o022, **kw):
    """A daemon whose sessions have `area.remote` as home, started under `umask`."""
    env = dict(kw.pop("env", None) or {})
    env["HOME"] = area.remote
    return factory.start(*flags, env=env, preexec=lambda: os.umask(umask), **kw)


@pytest.fixture
def daemon(sshd_factory, area):
    return start_daemon(sshd_factory, area)


class Clients:
    """Command lines for OpenSSH's sftp and scp and for rsync against one daemon."""

    def __init__(self, keys):
        self.keys = keys

    def ssh_opts(self, daemon, port_flag):
        return [*SSH_OPTS, "-i", self.keys.client_ed25519, port_flag, str(daemon.port)]

    def sftp(self, daemon, commands, cwd, extra=(), timeout=120):
        """Runs `sftp -b -` with `commands` (one per line) from `cwd`. A failing batch command
        ends the batch with exit status 1 unless it starts with '-'."""
        argv = ["sftp", *self.ssh_opts(daemon, "-P"), *extra, "-b", "-", "vcap@127.0.0.1"]
        return subprocess.run(argv, input="\n".join(commands) + "\n", capture_output=True,
                              text=True, cwd=cwd, timeout=timeout)

    def scp_argv(self, daemon, *args, legacy=False, extra=()):
        return ["scp", *self.ssh_opts(daemon, "-P"), *(("-O",) if legacy else ()), *extra,
                *args]

    def scp(self, daemon, *args, legacy=False, extra=(), cwd=None, timeout=120):
        return subprocess.run(self.scp_argv(daemon, *args, legacy=legacy, extra=extra),
                              capture_output=True, text=True, cwd=cwd, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def rsync(self, daemon, *args, cwd=None, timeout=120):
        shell = " ".join(["ssh", *self.ssh_opts(daemon, "-p")])
        return subprocess.run(["rsync", "-e", shell, *args], capture_output=True, text=True,
                              cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def clients(keys):
    return Clients(keys)


REMOTE = "vcap@127.0.0.1:"


@pytest.fixture(scope="session")
def ppk(keys):
    """The ed25519 client key in PuTTY's format, for psftp and pscp. The key directory may be
    shared by parallel test files: made under a unique name, then renamed into place."""
    path = keys.client_ed25519 + ".transfer.ppk"
    if not os.path.exists(path) or os.path.getmtime(path) < os.path.getmtime(keys.client_ed25519):
        tmp = f"{path}.{os.getpid()}"
        subprocess.run(["puttygen", keys.client_ed25519, "-O", "private", "-o", tmp],
                       check=True, capture_output=True, timeout=60)
        os.replace(tmp, path)
    return path


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))
