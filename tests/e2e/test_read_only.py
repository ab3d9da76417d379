"""Read-only mode (-readOnly) and the baseline syscall filter (issue 14, parts 3 and 4), with
real clients: every refusal is checked against a daemon without -readOnly, where the same
command works, so each test can fail."""

import ctypes
import os
import socket
import subprocess
import threading

import paramiko
import pytest

from conftest import RUN_AS, pm_exec, running_as_root, wait_until
from test_transfer_support import REMOTE, area, clients, give_to_daemon_user, start_daemon  # noqa: F401

NOTICE = b"hatch: read-only session: the filesystem cannot be changed\n"
MIN_ABI = 6


def landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint(1))  # VERSION
    return max(abi, 0)


needs_landlock = pytest.mark.skipif(landlock_abi() < MIN_ABI,
                                    reason=f"kernel Landlock ABI {landlock_abi()} < {MIN_ABI}")


@pytest.fixture
def ro(sshd_factory, area):
    return start_daemon(sshd_factory, area, "-readOnly")


@pytest.fixture
def rw(sshd_factory, area):
    return start_daemon(sshd_factory, area)


@pytest.fixture
def files(area):
    """A file and a directory in the session home, owned by the daemon's user."""
    area.put_remote("file", b"original\n")
    os.mkdir(area.r("dir"))
    give_to_daemon_user(area.remote)
    return area


def home_listing(area):
    out = {}
    for root, dirs, names in os.walk(area.remote):
        for n in dirs + names:
            p = os.path.join(root, n)
            st = os.lstat(p)
            out[os.path.relpath(p, area.remote)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


# Each command changes the home (relative paths resolve from it) and exits 0 when it can.
CHANGES = {
    "shell redirection": "echo new > created",
    "append": "echo more >> file",
    "python os.open": "python3 -c \"import os; os.open('created', os.O_CREAT | os.O_WRONLY)\"",
    "busybox (static)": "/bin/busybox sh -c 'echo new > created'",
    "busybox rm": "/bin/busybox rm file",
    "rm": "rm file",
    "mv": "mv file moved",
    "mv into a directory": "mv file dir/",
    "mkdir": "mkdir newdir",
    "rmdir": "rmdir dir",
    "ln": "ln file hardlink",
    "ln -s": "ln -s file symlink",
    "mkfifo": "mkfifo fifo",
    "chmod": "chmod 600 file",
    "busybox chmod": "/bin/busybox chmod 600 file",
    "touch existing": "touch -d 2001-01-01 file",
    "touch new": "touch created",
    "truncate": "truncate -s 0 file",
    "cp": "cp file copy",
}


@needs_landlock
@pytest.mark.parametrize("what", list(CHANGES))
def test_filesystem_changes_are_refused(what, ro, rw, files, ssh):
    before = home_listing(files)
    r = ssh.run(ro, CHANGES[what])
    assert r.returncode != 0, (what, r.stdout, r.stderr)
    assert home_listing(files) == before
    err = r.stderr.decode()
    assert err.startswith(NOTICE.decode())
    assert "Permission denied" in err or "Read-only file system" in err or \
        "Invalid cross-device link" in err, err
    # The control: without -readOnly the same command changes the home.
    r = ssh.run(rw, CHANGES[what])
    assert r.returncode == 0, (what, r.stderr)
    assert home_listing(files) != before


@needs_landlock
def test_metadata_changes_say_read_only_file_system(ro, files, ssh):
    r = ssh.run(ro, "chmod 600 file; chown $(id -u) file; touch -c -d 2001-01-01 file")
    err = r.stderr.decode()
    assert err.count("Read-only file system") == 3, err


@needs_landlock
def test_tmp_and_dev_shm_are_read_only_too(ro, ssh):
    for command in ("mktemp", "echo x > /tmp/hatch-ro-$$", "mktemp -p /dev/shm"):
        r = ssh.run(ro, command)
        assert r.returncode != 0 and b"Permission denied" in r.stderr, (command, r.stderr)


@needs_landlock
def test_reads_ps_and_dev_null_work(ro, files, ssh):
    r = ssh.run(ro, "cat file; ls dir && echo listed; ps -e -o comm= | grep -c . >/dev/null "
                    "&& echo ps; echo gone > /dev/null && echo null; head -c 3 /dev/zero | wc -c")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"original\nlisted\nps\nnull\n3\n"
    assert r.stderr == NOTICE


@needs_landlock
def test_exec_stderr_gets_the_notice_once_and_stdout_stays_clean(ro, pm):
    out, err, status, _ = pm_exec(pm.connect(ro), "echo out; echo err >&2")
    assert (out, err, status) == (b"out\n", NOTICE + b"err\n", 0)


@needs_landlock
def test_interactive_pty_shell_works_and_shows_the_notice(ro, ssh):
    p = ssh.popen(ro, opts=("-tt",), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        out, _ = p.communicate(b"echo $((6*7)); echo x > /dev/tty && echo tty-ok; "
                               b"touch nope; exit 3\n", timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert b"hatch: read-only session: the filesystem cannot be changed\r\n" in out
    assert b"42" in out and b"tty-ok" in out and b"Permission denied" in out
    assert p.returncode == 3


def sleep_outside(seconds=300):
    """A process of the daemon's user that is not part of any session (as the app is)."""
    cmd = ["sleep", str(seconds)]
    if running_as_root():
        cmd = ["setpriv", f"--reuid={RUN_AS}", f"--regid={RUN_AS}", "--init-groups", *cmd]
    return subprocess.Popen(cmd, start_new_session=True)


@needs_landlock
def test_kill_of_a_process_outside_the_session_is_refused(ro, rw, ssh):
    app = sleep_outside()
    try:
        r = ssh.run(ro, f"kill {app.pid}")
        assert r.returncode != 0 and b"Operation not permitted" in r.stderr, r.stderr
        assert app.poll() is None
        # Its own processes it can signal.
        r = ssh.run(ro, "sleep 60 & kill $! && wait $!; echo $?")
        assert r.stdout == b"143\n", r.stderr
        # Control.
        r = ssh.run(rw, f"kill {app.pid}")
        assert r.returncode == 0, r.stderr
        app.wait(10)
    finally:
        app.kill()
        app.wait()


PTRACE_ATTACH = ("import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); "
                 "rc = libc.ptrace(16, int(sys.argv[1]), None, None); "
                 "print(os.strerror(ctypes.get_errno()) if rc else 'attached')")


def ptrace_scope():
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read())
    except OSError:
        return 0


@needs_landlock
def test_ptrace_of_a_process_outside_the_session_is_refused(ro, rw, ssh):
    app = sleep_outside()
    try:
        r = ssh.run(ro, f'python3 -c "{PTRACE_ATTACH}" {app.pid}')
        assert r.stdout == b"Operation not permitted\n", r.stderr
        if ptrace_scope() == 0:  # Yama would refuse the control too
            r = ssh.run(rw, f'python3 -c "{PTRACE_ATTACH}" {app.pid}')
            assert r.stdout == b"attached\n", r.stderr
    finally:
        app.kill()
        app.wait()


# ---------------------------------------------------------------------------------------------
# sftp and scp


@needs_landlock
def test_sftp_put_is_refused_and_get_works(ro, files, clients):
    files.put_local("up", b"upload\n")
    r = clients.sftp(ro, ["get file got", "put up up"], cwd=files.local)
    assert r.returncode != 0
    assert "Permission denied" in r.stderr, r.stderr
    assert not os.path.exists(files.r("up"))
    with open(files.l("got"), "rb") as f:
        assert f.read() == b"original\n"


@needs_landlock
def test_paramiko_sftp_writes_fail_with_permission_denied(ro, rw, files, pm):
    sftp = pm.connect(ro).open_sftp()
    assert sftp.open("file").read() == b"original\n"
    for attempt in (lambda s: s.open("new", "w"), lambda s: s.open("file", "a"),
                    lambda s: s.remove("file"), lambda s: s.mkdir("d2"),
                    lambda s: s.rename("file", "x"), lambda s: s.chmod("file", 0o600),
                    lambda s: s.symlink("file", "sym")):
        with pytest.raises(PermissionError):
            attempt(sftp)
    # Control.
    rw_sftp = pm.connect(rw).open_sftp()
    rw_sftp.mkdir("d2")
    assert os.path.isdir(files.r("d2"))


@needs_landlock
@pytest.mark.parametrize("legacy", [True, False], ids=["scp-protocol", "sftp-protocol"])
def test_scp_upload_is_refused_and_download_works(legacy, ro, files, clients):
    files.put_local("up", b"upload\n")
    r = clients.scp(ro, files.l("up"), REMOTE + "up", legacy=legacy)
    assert r.returncode != 0
    assert ("Read-only file system" if legacy else "Permission denied") in r.stderr, r.stderr
    assert not os.path.exists(files.r("up"))
    r = clients.scp(ro, REMOTE + "file", files.l("down"), legacy=legacy)
    assert r.returncode == 0, r.stderr
    # No notice from the built-ins: their stderr is the client's terminal, not a shell's.
    assert "read-only session" not in r.stderr
    with open(files.l("down"), "rb") as f:
        assert f.read() == b"original\n"


# ---------------------------------------------------------------------------------------------
# Forwarding


def echo_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        with conn:
            conn.sendall(conn.recv(100).upper())
    threading.Thread(target=serve, daemon=True).start()
    return srv


@needs_landlock
def test_local_forward_works(ro, ssh):
    srv = echo_server()
    port = srv.getsockname()[1]
    local = socket.socket()
    local.bind(("127.0.0.1", 0))
    lport = local.getsockname()[1]
    local.close()
    p = ssh.popen(ro, opts=("-N", "-L", f"127.0.0.1:{lport}:127.0.0.1:{port}"))
    try:
        def connected():
            try:
                return socket.create_connection(("127.0.0.1", lport), timeout=2)
            except OSError:
                return None
        c = wait_until(connected, 15, what="ssh -L listening")
        with c:
            c.sendall(b"hello")
            c.settimeout(10)
            assert c.recv(100) == b"HELLO"
    finally:
        p.kill()
        p.wait()
        srv.close()


@needs_landlock
def test_remote_forward_is_refused(ro, pm):
    t = pm.connect(ro).get_transport()
    with pytest.raises(paramiko.SSHException):
        t.request_port_forward("127.0.0.1", 0)


@needs_landlock
def test_sessions_cannot_listen_on_tcp_ports(ro, rw, ssh):
    listen = ("python3 -c \"import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
              "print('bound')\"")
    r = ssh.run(ro, listen)
    assert r.returncode != 0 and b"PermissionError" in r.stderr, r.stderr
    assert ssh.run(rw, listen).stdout == b"bound\n"


# ---------------------------------------------------------------------------------------------
# Start-up


@pytest.mark.parametrize("abi,missing", [("5", "LANDLOCK_SCOPE_SIGNAL"),
                                         ("2", "LANDLOCK_ACCESS_FS_TRUNCATE"),
                                         ("0", "does not offer")])
def test_start_up_is_refused_when_the_kernel_lacks_what_read_only_needs(abi, missing,
                                                                        sshd_factory):
    rc, err, _ = sshd_factory.run_to_exit("-readOnly", env={"HATCH_TEST_LANDLOCK_ABI": abi})
    assert rc == 1
    assert len(err) == 1 and missing in err[0] and "-readOnly needs Landlock" in err[0], err


def test_without_read_only_a_low_abi_does_not_matter(sshd_factory, ssh):
    d = sshd_factory.start(env={"HATCH_TEST_LANDLOCK_ABI": "0"})
    assert ssh.run(d, "true").returncode == 0


def test_read_only_needs_the_syscall_filter(sshd_factory):
    rc, err, _ = sshd_factory.run_to_exit("-readOnly", "-syscallFilter=false")
    assert rc == 1 and "-readOnly needs the syscall filter" in err[0], err


@needs_landlock
def test_start_up_logs_the_sandbox(ro):
    entry = ro.wait_log("sshd.sandbox")
    assert entry["data"]["read_only"] is True and entry["data"]["landlock_abi"] >= MIN_ABI


# ---------------------------------------------------------------------------------------------
# The baseline filter (every session, without -readOnly)

SYSCALL = ("import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); "
           "args = [int(a) if a.lstrip('-').isdigit() else a.encode() for a in sys.argv[1:]]; "
           "rc = libc.syscall(*args); "
           "print(os.strerror(ctypes.get_errno()) if rc == -1 else 'ok')")
# keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0): any process may ask.
KEYCTL = "250 0 -4 0"
# mount(none, /nonexistent, tmpfs): the kernel looks the target up first, so ENOENT for
# anyone it lets through.
MOUNT = "165 none /nonexistent-hatch tmpfs 0 0"


def test_baseline_filter_refuses_keyctl_and_mount_with_eperm(sshd_factory, files, ssh):
    d = start_daemon(sshd_factory, files)
    r = ssh.run(d, f'python3 -c "{SYSCALL}" {KEYCTL}; python3 -c "{SYSCALL}" {MOUNT}; '
                   "echo written > created && cat created")
    assert r.stdout == b"Operation not permitted\nOperation not permitted\nwritten\n", r.stderr
    assert r.stderr == b""  # no read-only notice


def test_without_the_filter_keyctl_and_mount_reach_the_kernel(sshd_factory, files, ssh):
    d = start_daemon(sshd_factory, files, "-syscallFilter=false")
    r = ssh.run(d, f'python3 -c "{SYSCALL}" {KEYCTL}; python3 -c "{SYSCALL}" {MOUNT}')
    assert r.stdout == b"ok\nNo such file or directory\n", r.stderr


@needs_landlock
def test_rsync_download_works_and_upload_is_refused(ro, files, clients):
    r = clients.rsync(ro, REMOTE + "file", files.l("synced"))
    assert r.returncode == 0, r.stderr
    with open(files.l("synced"), "rb") as f:
        assert f.read() == b"original\n"
    files.put_local("up", b"upload\n")
    r = clients.rsync(ro, files.l("up"), REMOTE + "up")
    assert r.returncode != 0
    assert not os.path.exists(files.r("up"))
