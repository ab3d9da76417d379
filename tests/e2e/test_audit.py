"""The audit trail (issue 14, part 1): `sshd.audit.*` lines from real clients (OpenSSH ssh,
sftp, scp, paramiko, the Go client), whatever -logLevel says; never env values or key
material."""

import base64
import json
import os
import socket
import stat
import subprocess
import time

import paramiko
import pytest

from conftest import pm_exec, wait_until
from test_clients import go_run, goclient  # noqa: F401 (fixture)
from test_forward_support import echo, targets  # noqa: F401 (fixture)
from test_transfer_support import Clients, area, clients, start_daemon  # noqa: F401

SECRET = "s3cret-env-value-4711"


def audit(daemon, event=None):
    """The daemon's audit lines (every stdout line must be JSON), optionally one event."""
    lines = [e for e in daemon.logs() if e["message"].startswith("sshd.audit.")]
    for e in lines:
        assert e["source"] == "sshd" and e["log_level"] == 1, e
        assert e["data"]["connection"] and e["data"]["peer"].startswith("127.0.0.1:"), e
    if event is None:
        return lines
    return [e["data"] for e in lines if e["message"] == "sshd.audit." + event]


def wait_audit(daemon, event, n=1, timeout=15, **match):
    def found():
        got = [d for d in audit(daemon, event) if all(d.get(k) == v for k, v in match.items())]
        return got if len(got) >= n else None
    return wait_until(found, timeout, what=f"audit {event} {match}")


def wait_logins_ended(daemon, n=1, timeout=15):
    """Waits for the connection.ended of `n` connections that got as far as a login attempt:
    everything those connections wrote comes before it. (The start-up probe's own
    connection.ended does not count.)"""
    def found():
        tried = {e["connection"] for e in audit(daemon, "login.succeeded") +
                 audit(daemon, "login.failed")}
        got = [e for e in audit(daemon, "connection.ended") if e["connection"] in tried]
        return got if len(got) >= n else None
    return wait_until(found, timeout, what=f"{n} logged-in connection(s) to end")


def fingerprint(pub_path):
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", pub_path], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1]


def key_material(keys):
    """Strings that must never appear in a log line: every key's base64 (public blob and
    each line of the private key files)."""
    out = []
    for path in (keys.client_ed25519, keys.client_rsa, keys.wrong_ed25519, keys.host_rsa):
        out.append(keys.pub(path).split()[1])
        out += [l for l in keys.text(path).splitlines() if len(l) > 20 and "PRIVATE" not in l]
    return out


def assert_clean(daemon, keys, *secrets):
    with daemon._lock:
        text = "\n".join(daemon.stdout_lines + daemon.stderr_lines)
    for s in list(secrets) + key_material(keys):
        assert s not in text, f"secret {s[:12]}... in the daemon's output"


def test_openssh_exec_at_log_level_fatal(sshd_factory, ssh, keys):
    d = sshd_factory.start(log_level="fatal")
    r = ssh.run(d, "echo out; echo err >&2; exit 3",
                opts=("-o", f"SetEnv=AUDIT_MARKER={SECRET} LC_SECRET={SECRET}"))
    assert r.returncode == 3 and r.stdout == b"out\n"
    ok = wait_audit(d, "login.succeeded")[0]
    ended = wait_audit(d, "connection.ended", connection=ok["connection"])[0]
    assert not [e for e in d.logs() if not e["message"].startswith("sshd.audit.")], \
        "-logLevel=fatal: only the trail"
    assert ok["user"] == "vcap" and ok["method"] == "publickey"
    assert ok["key_fingerprint"] == fingerprint(keys.client_ed25519 + ".pub")
    assert ok["kex"] and ok["cipher_in"] and ok["cipher_out"]
    started = audit(d, "session.started")[0]
    assert started["type"] == "exec" and started["command"] == "echo out; echo err >&2; exit 3"
    assert started["pty"] is False
    assert set(started["env_names"]) >= {"AUDIT_MARKER", "LC_SECRET"}
    end = audit(d, "session.ended")[0]
    assert end["exit_status"] == 3 and end["channel"] == started["channel"]
    assert end["bytes_out"] == len("out\n") + len("err\n")
    assert float(end["duration"]) >= 0
    # The harness's readiness probe is a connection of its own (key exchange never done).
    ids = {e["data"]["connection"] for e in audit(d)
           if not e["data"].get("reason", "").startswith("key exchange failed")}
    assert ids == {ok["connection"]} and ended["reason"] and float(ended["duration"]) >= 0
    assert_clean(d, keys, SECRET)


def test_failed_login_names_user_method_and_offered_key(sshd_factory, ssh, keys):
    d = sshd_factory.start(log_level="fatal")
    r = ssh.run(d, "true", key=keys.wrong_ed25519, user="mallory")
    assert r.returncode == 255
    failed = wait_audit(d, "login.failed", method="publickey")[0]
    assert failed["user"] == "mallory"
    assert failed["key_fingerprint"] == fingerprint(keys.wrong_ed25519 + ".pub")
    wait_logins_ended(d)
    assert not audit(d, "login.succeeded")
    assert_clean(d, keys)


def test_audit_log_file_is_private_and_appended(sshd_factory, ssh, shared_tmp, keys):
    path = os.path.join(shared_tmp, "audit.log")
    with open(path, "w") as f:
        f.write('{"earlier":"line"}\n')
    os.chmod(path, 0o600)
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam("hatch-test")
        os.chown(path, pw.pw_uid, pw.pw_gid)
    d = sshd_factory.start(f"-auditLog={path}")
    assert ssh.run(d, "true").returncode == 0

    def lines():
        with open(path) as f:
            return [json.loads(l) for l in f]
    wait_until(lambda: any(l.get("message") == "sshd.audit.connection.ended" for l in lines()),
               10, what="connection.ended in the file")
    got = lines()
    assert got[0] == {"earlier": "line"}
    assert {"sshd.audit.login.succeeded", "sshd.audit.session.started",
            "sshd.audit.session.ended"} <= {l.get("message") for l in got}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not audit(d), "a file trail is not also on stdout"

    fresh = os.path.join(shared_tmp, "new.log")
    d2 = sshd_factory.start(f"-auditLog={fresh}")
    assert ssh.run(d2, "true").returncode == 0
    wait_until(lambda: os.path.exists(fresh) and os.path.getsize(fresh) > 0, 10, what="file")
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o600


def test_audit_log_none_and_a_bad_path(sshd_factory, ssh):
    d = sshd_factory.start("-auditLog=none")
    assert ssh.run(d, "true").returncode == 0
    d.wait_log("sshd.connection.closed")
    assert not audit(d)
    rc, err, _ = sshd_factory.run_to_exit("-auditLog=/nonexistent/dir/audit.log")
    assert rc == 1 and any("-auditLog" in l for l in err)


def test_pty_shell_session_names_term(sshd_factory, pm):
    d = sshd_factory.start()
    c = pm.connect(d)
    out, _, status, _ = pm_exec(c, "echo $TERM", get_pty=True,
                                environment={"PM_VAR": SECRET})
    assert status == 0
    c.close()
    started = wait_audit(d, "session.started")[0]
    assert started["pty"] is True and started["term"] == "vt100"
    assert "PM_VAR" in started["env_names"]
    wait_audit(d, "session.ended", exit_status=0)
    wait_logins_ended(d)
    assert SECRET not in "\n".join(d.stdout_lines)


def test_go_client_session(sshd_factory, keys, goclient):  # noqa: F811
    d = sshd_factory.start(log_level="fatal")
    res = go_run(goclient, d, keys, "-pty", "-term", "xterm-256color", command="exit 7")
    assert res["exit_status"] == 7, res
    started = wait_audit(d, "session.started")[0]
    assert started["term"] == "xterm-256color" and started["command"] == "exit 7"
    wait_audit(d, "session.ended", exit_status=7)
    ok = audit(d, "login.succeeded")[0]
    assert ok["key_fingerprint"] == fingerprint(keys.client_ed25519 + ".pub")


def test_killed_session_reports_the_signal(sshd_factory, ssh):
    d = sshd_factory.start(log_level="fatal")
    r = ssh.run(d, "kill -TERM $$")
    assert r.returncode != 0
    end = wait_audit(d, "session.ended")[0]
    assert end.get("exit_signal") == "TERM" and "exit_status" not in end


def test_sftp_file_events(sshd_factory, area, clients):  # noqa: F811
    d = start_daemon(sshd_factory, area, log_level="fatal")
    area.put_local("up.bin", b"x" * 100000)
    area.put_remote("down.bin", b"y" * 70000)
    r = clients.sftp(d, ["put up.bin", "get down.bin", "rename up.bin moved.bin",
                         "chmod 600 moved.bin", "mkdir dir", "rmdir dir",
                         "symlink moved.bin link", "rm link"], cwd=area.local)
    assert r.returncode == 0, r.stderr
    wait_logins_ended(d)
    written = audit(d, "file.written")
    assert [(w["path"], w["bytes"], w["protocol"]) for w in written] == \
        [(area.r("up.bin"), 100000, "sftp")]
    assert (area.r("down.bin"), 70000) in [(e["path"], e["bytes"]) for e in audit(d, "file.read")]
    assert audit(d, "file.created")[0]["path"] == area.r("up.bin")
    assert audit(d, "file.renamed") == [dict(audit(d, "file.renamed")[0],
                                             path=area.r("up.bin"), new_path=area.r("moved.bin"))]
    assert "0600" in [e.get("mode") for e in audit(d, "file.setstat")]
    assert audit(d, "file.mkdir")[0]["path"] == area.r("dir")
    assert audit(d, "file.rmdir")[0]["path"] == area.r("dir")
    assert audit(d, "file.symlink")[0]["path"] == area.r("link")
    assert audit(d, "file.removed")[0]["path"] == area.r("link")
    # One event per file, not per request: 100000 bytes took several WRITEs.
    assert len(written) == 1
    sub = audit(d, "session.started")[0]
    assert sub["type"] == "subsystem" and sub["command"] == "sftp"


@pytest.mark.parametrize("legacy", [True, False], ids=["scp-O", "scp-sftp"])
def test_scp_file_events(sshd_factory, area, clients, legacy):  # noqa: F811
    d = start_daemon(sshd_factory, area, log_level="fatal")
    area.put_local("a.txt", b"hello")
    area.put_remote("b.txt", b"world!")
    r = clients.scp(d, area.l("a.txt"), "vcap@127.0.0.1:a.txt", legacy=legacy)
    assert r.returncode == 0, r.stderr
    r = clients.scp(d, "vcap@127.0.0.1:b.txt", area.l("b.txt"), legacy=legacy)
    assert r.returncode == 0, r.stderr
    wait_logins_ended(d, n=2)
    proto = "scp" if legacy else "sftp"
    assert [(e["path"], e["bytes"], e["protocol"]) for e in audit(d, "file.written")] == \
        [(area.r("a.txt"), 5, proto)]
    assert (area.r("b.txt"), 6, proto) in \
        [(e["path"], e["bytes"], e["protocol"]) for e in audit(d, "file.read")]


def test_paramiko_sftp_events(sshd_factory, area, pm):
    d = start_daemon(sshd_factory, area, log_level="fatal")
    c = pm.connect(d)
    sftp = c.open_sftp()
    with sftp.open(area.r("p.txt"), "w") as f:
        f.write(b"abc" * 1000)
    sftp.remove(area.r("p.txt"))
    sftp.close()
    c.close()
    wait_logins_ended(d)
    assert [(e["path"], e["bytes"]) for e in audit(d, "file.written")] == [(area.r("p.txt"), 3000)]
    assert audit(d, "file.removed")[0]["path"] == area.r("p.txt")


def test_local_forward_events(sshd_factory, ssh, targets):  # noqa: F811
    d = sshd_factory.start(log_level="fatal")
    t = targets(echo)
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    lport = port.getsockname()[1]
    port.close()
    p = ssh.popen(d, "-N", opts=("-L", f"127.0.0.1:{lport}:127.0.0.1:{t.port}",
                                  "-o", "ExitOnForwardFailure=yes"))
    try:
        def connect():
            try:
                return socket.create_connection(("127.0.0.1", lport), timeout=2)
            except OSError:
                return None
        s = wait_until(connect, 15, what="forward listening")
        s.sendall(b"ping" * 100)
        got = b""
        while len(got) < 400:
            got += s.recv(65536)
        s.close()
        opened = wait_audit(d, "forward.opened")[0]
        assert opened["kind"] == "local" and opened["host"] == "127.0.0.1"
        assert opened["port"] == t.port and opened["originator"].startswith("127.0.0.1:")
        closed = wait_audit(d, "forward.closed")[0]
        assert closed["bytes_in"] == 400 and closed["bytes_out"] == 400
    finally:
        p.terminate()
        p.wait(10)


def test_remote_forward_events(sshd_factory, ssh, targets):  # noqa: F811
    d = sshd_factory.start(log_level="fatal")
    t = targets(echo)
    p = ssh.popen(d, "-N", opts=("-R", f"127.0.0.1:0:127.0.0.1:{t.port}",
                                  "-o", "ExitOnForwardFailure=yes"))
    try:
        opened = wait_audit(d, "forward.opened", kind="remote")[0]
        assert opened["host"] == "127.0.0.1" and opened["port"] > 0
        s = socket.create_connection(("127.0.0.1", opened["port"]), timeout=10)
        s.sendall(b"x" * 1000)
        got = b""
        while len(got) < 1000:
            got += s.recv(65536)
        s.close()
        tunnels = wait_audit(d, "forward.closed", kind="remote")
        assert any(c["bytes_in"] == 1000 and c["bytes_out"] == 1000 for c in tunnels), tunnels
    finally:
        p.terminate()
        p.wait(10)


def test_connections_ended_by_a_deadline_have_their_end_line(sshd_factory, pm):
    """A port probe that never starts key exchange, and a client that does key exchange but
    never authenticates, are ended by -preauthTimeout and -loginGraceTime (SIGALRM): each
    still gets its connection.ended, at -logLevel=fatal too."""
    # -preauthTimeout leaves a loaded machine time for paramiko's key exchange.
    d = sshd_factory.start("-preauthTimeout=3s", "-loginGraceTime=6s", log_level="fatal")
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.recv(256)  # our banner; then say nothing
        while s.recv(256):
            pass
    probe = wait_audit(d, "connection.ended",
                       reason="no key exchange within -preauthTimeout")[0]
    assert 2.9 <= float(probe["duration"]) < 8, probe
    t = paramiko.Transport(("127.0.0.1", d.port))
    try:
        t.start_client(timeout=10)  # key exchange done, no auth
        wait_until(lambda: not t.is_active(), 10, what="the grace time to end the connection")
    finally:
        t.close()
    grace = wait_audit(d, "connection.ended",
                       reason="not authenticated within -loginGraceTime")[0]
    assert 5.9 <= float(grace["duration"]) < 12, grace
    assert grace["connection"] != probe["connection"]
    assert d.alive()


@pytest.mark.parametrize("tool", ["sftp", "scp-O"])
def test_upload_cut_off_by_the_client_still_reports_the_file(sshd_factory, area, clients,  # noqa: F811
                                                            tool):
    """The client dies mid-upload: the connection hangs the built-in up and closes its pipes;
    the built-in ends on its own and still writes the file's file.written."""
    d = start_daemon(sshd_factory, area, log_level="fatal")
    size = 4 << 20
    area.put_local("big.bin", os.urandom(size))
    slow = ("-l", "800")  # 100 KB/s: the upload takes 40 s, it is cut after a few hundred KB
    if tool == "sftp":
        argv = ["sftp", *clients.ssh_opts(d, "-P"), *slow, "-b", "-", "vcap@127.0.0.1"]
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, cwd=area.local,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p.stdin.write(b"put big.bin\n")
        p.stdin.close()
    else:
        argv = clients.scp_argv(d, area.l("big.bin"), "vcap@127.0.0.1:big.bin", legacy=True,
                                extra=slow)
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    remote = area.r("big.bin")
    try:
        wait_until(lambda: os.path.exists(remote) and os.path.getsize(remote) > 64 << 10, 30,
                   what="the upload to be under way")
    finally:
        p.kill()
        p.wait()
    written = wait_audit(d, "file.written", path=remote)[0]
    assert 0 < written["bytes"] < size, written
    wait_logins_ended(d)
    if tool == "scp-O":
        assert written["bytes"] == os.path.getsize(remote)
