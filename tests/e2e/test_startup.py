"""The command line, start-up errors, logs and shutdown (issue 2, "Command line")."""

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import daemon_user, pm_exec, wait_until

# (flags, factory keywords, a word the one error line must contain)
BAD_START = [
    (["-nope=1"], {}, "nope"),
    (["--alsoNope"], {}, "alsoNope"),
    (["-logLevel=nope"], {"log_level": None}, "logLevel"),
    (["-idleTimeout=abc"], {}, "idleTimeout"),
    (["-maxSessions=0"], {}, "maxSessions"),
    (["stray-argument"], {}, "stray-argument"),
    ([], {"host_key": "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"},
     "host key"),
    ([], {"host_key": "not a key at all"}, "host key"),
    ([], {"authorized_key": "garbage"}, "authorized key"),
    ([], {"authorized_key": "ssh-ed25519 AAAA!!notbase64"}, "authorized key"),
    ([], {"authorized_key": "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIKdP6fe6xTtMOlz9eYq0rRUA52+XfnQ79atYHP73dVpE"},
     "authorized key"),
    (["-allowedCiphers=aes128-ctr,rot13"], {}, "allowedCiphers"),
    (["-allowedMACs=hmac-md5-nope"], {}, "allowedMACs"),
    (["-allowedKeyExchanges=diffie-hellman-nope"], {}, "allowedKeyExchanges"),
    (["-allowedHostKeyAlgorithms=ssh-nope"], {}, "allowedHostKeyAlgorithms"),
    ([], {"authorized_key": None}, "authorized key"),
    ([], {"address": "127.0.0.1"}, "127.0.0.1"),
    ([], {"address": "127.0.0.1:99999"}, "99999"),
    ([], {"address": "no..such-host:2222"}, "no..such-host"),  # refused with no DNS query
]


@pytest.mark.parametrize("flags,kw,keyword", BAD_START,
                         ids=[f"{i}-{(f or list(k))[0]}"[:40] for i, (f, k, _) in
                              enumerate(BAD_START)])
def test_bad_start_up_input_gives_one_clear_line_and_nonzero_exit(sshd_factory, flags, kw,
                                                                   keyword):
    rc, err, d = sshd_factory.run_to_exit(*flags, **kw)
    assert rc != 0
    assert len(err) == 1, f"want one stderr line, got {err!r}"
    assert keyword.lower() in err[0].lower(), err
    assert "sshd.started" not in "\n".join(d.stdout_lines)
    # No key material in the error either.
    if d.host_key_text and "PRIVATE KEY" in d.host_key_text:
        body = [l for l in d.host_key_text.splitlines() if len(l) > 30]
        assert not any(b in err[0] for b in body)


def test_unparsable_host_key_from_env(sshd_factory):
    rc, err, _ = sshd_factory.run_to_exit(host_key="garbage", secrets_in_env=True)
    assert rc != 0 and len(err) == 1 and "host key" in err[0]
    assert "garbage" not in err[0]


def test_port_in_use(sshd_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, err, _ = sshd_factory.run_to_exit(port=port)
    assert rc != 0
    assert err == [f"diego-sshd: listen tcp 127.0.0.1:{port}: Address already in use"]


def test_port_in_use_by_another_daemon(sshd_factory, sshd):
    rc, err, _ = sshd_factory.run_to_exit(port=sshd.port)
    assert rc != 0 and len(err) == 1 and "in use" in err[0]
    assert sshd.alive()


def test_go_style_flag_forms_parse(sshd_factory, ssh, keys):
    # --flag=value, -flag value (two words), bare -boolflag and -boolflag=true all work.
    d = sshd_factory.make(host_key=None, authorized_key=None, inherit=False, log_level=None)
    port = d.port
    d.args = ["--address", f"127.0.0.1:{port}", "--hostKey=" + keys.text(keys.host_ed25519),
              "-authorizedKey", keys.pub(keys.client_ed25519), "-inheritDaemonEnv=true",
              "--logLevel", "debug", "-idleTimeout=1m", "--maxSessions", "4"]
    d.env["MARKER"] = "42"
    d.spawn()
    sshd_factory.started.append(d)
    assert d.wait_started(), d.stderr_text()
    r = ssh.run(d, "echo $MARKER")
    assert (r.returncode, r.stdout) == (0, b"42\n")
    d.wait_log("sshd.host-key")  # debug level took effect


def test_bool_flag_false_turns_it_off(sshd_factory, ssh):
    d = sshd_factory.start("-inheritDaemonEnv=false", env={"MARKER": "42"})
    assert ssh.run(d, "echo ${MARKER-unset}").stdout == b"unset\n"


def _keyscan(port):
    r = subprocess.run(["ssh-keyscan", "-p", str(port), "-t", "rsa,ecdsa,ed25519",
                        "127.0.0.1"], capture_output=True, text=True, timeout=30)
    return [l for l in r.stdout.splitlines() if l and not l.startswith("#")]


def _fingerprint_of_line(line):
    r = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", "-"], input=line,
                       capture_output=True, text=True, timeout=30)
    return r.stdout.split()[1]


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_host_key_is_exactly_the_given_one(sshd_factory, keys, kind):
    d = sshd_factory.start(host_key=kind)
    lines = _keyscan(d.port)
    assert len(lines) == 1, lines  # no extra generated keys beside it
    path = keys.host_rsa if kind == "rsa" else keys.host_ed25519
    assert _fingerprint_of_line(lines[0]) == keys.host_fingerprint(path)
    # And the daemon logs that fingerprint (at debug), never the key.
    assert d.wait_log("sshd.host-key")["data"]["fingerprint"] == keys.host_fingerprint(path)


def test_host_key_in_pkcs8_pem(sshd_factory, ssh, shared_tmp):
    pem = subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519"], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    d = sshd_factory.start(host_key=pem)
    assert ssh.run(d, "true").returncode == 0


def test_no_host_key_means_a_fresh_ed25519_key_each_start(sshd_factory, ssh):
    a = sshd_factory.start(host_key=None)
    b = sshd_factory.start(host_key=None)
    la, lb = _keyscan(a.port), _keyscan(b.port)
    assert len(la) == 1 and len(lb) == 1
    assert la[0].split()[1] == "ssh-ed25519"
    assert la[0].split()[2] != lb[0].split()[2]
    assert ssh.run(a, "true").returncode == 0


def test_version_flag(sshd_factory):
    d = sshd_factory.make("-version", authorized_key=None)
    d.spawn()
    sshd_factory.started.append(d)
    assert d.wait_exit(10) == 0
    assert d.stdout_lines and "hatch" in d.stdout_lines[0]


def test_help_flag_lists_the_daemons_flags(sshd_factory):
    d = sshd_factory.make("-help", authorized_key=None)
    d.spawn()
    sshd_factory.started.append(d)
    d.wait_exit(10)  # abseil's help exits 1
    text = "\n".join(d.stdout_lines + d.stderr_lines)
    for flag in ("--address", "--hostKey", "--maxTunnels", "--readOnly", "--auditLog"):
        assert flag in text, text[:500]
    assert "No flags matched" not in text


# ---------------------------------------------------------------------------------------------
# Logs


def test_lager_json_lines(sshd, ssh):
    r = ssh.run(sshd, "echo hi; exit 7", user="alice")
    assert r.returncode == 7
    sshd.wait_log("sshd.session.exited")
    sshd.wait_log("sshd.connection.closed")
    now = time.time()
    entries = sshd.logs()
    for e in entries:
        assert set(e) == {"timestamp", "source", "message", "log_level", "data"}, e
        assert e["source"] == "sshd"
        assert e["message"].startswith("sshd.")
        assert isinstance(e["timestamp"], str)
        assert abs(float(e["timestamp"]) - now) < 120
        assert e["log_level"] in (0, 1, 2, 3)
        assert isinstance(e["data"], dict)
    started = sshd.find_logs("sshd.started")
    assert len(started) == 1
    assert started[0]["data"]["address"] == f"127.0.0.1:{sshd.port}"
    assert started[0]["log_level"] == 1
    # Session start and end: peer, command, exit status; the user on the connection.
    s = sshd.find_logs("sshd.session.started")[-1]["data"]
    assert s["command"] == "echo hi; exit 7"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", s["peer"])
    x = sshd.find_logs("sshd.session.exited")[-1]["data"]
    assert (x["command"], x["status"], x["peer"]) == ("echo hi; exit 7", 7, s["peer"])
    auth = sshd.find_logs("sshd.connection.authenticated")[-1]["data"]
    assert (auth["user"], auth["peer"]) == ("alice", s["peer"])


def test_exit_signal_is_logged(sshd, pm):
    c = pm.connect(sshd)
    pm_exec(c, "kill -KILL $$")
    e = sshd.wait_log("sshd.session.exited", command="kill -KILL $$")
    assert e["data"]["signal"] == "KILL"


def test_log_level_info_drops_debug_lines(sshd_factory, ssh):
    d = sshd_factory.start(log_level="info")
    ssh.run(d, "true")
    d.wait_log("sshd.connection.closed")
    assert all(e["log_level"] >= 1 for e in d.logs())
    assert not d.find_logs("sshd.host-key")


def test_log_level_fatal_as_the_runtime_runs_it_logs_only_the_audit_trail(sshd_factory, ssh):
    # Issue 14: the audit trail is written whatever -logLevel says; nothing else is.
    d = sshd_factory.start(log_level="fatal")
    r = ssh.run(d, "echo works")
    assert r.stdout == b"works\n"
    assert d.stop() == 0
    messages = d.log_messages()
    assert "sshd.audit.session.ended" in messages
    assert all(m.startswith("sshd.audit.") for m in messages), messages
    assert d.stderr_lines == []
    quiet = sshd_factory.start("-auditLog=none", log_level="fatal")
    assert ssh.run(quiet, "echo works").stdout == b"works\n"
    assert quiet.stop() == 0
    assert quiet.stdout_lines == [] and quiet.stderr_lines == []


def test_every_line_is_one_write(sshd, pm):
    # Many concurrent connections (each its own process) must not interleave lines.
    clients = [pm.connect(sshd) for _ in range(8)]
    for c in clients:
        pm_exec(c, "true")
    for c in clients:
        c.close()
    wait_until(lambda: len(sshd.find_logs("sshd.connection.closed")) >= 8, 10,
               what="8 closed connections")
    sshd.logs()  # every line parses


# ---------------------------------------------------------------------------------------------
# Shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_ends_sessions_with_sighup_and_exits_zero(sshd_factory, ssh, shared_tmp,
                                                               sig):
    d = sshd_factory.start("-killGraceTime=2s")
    mark = os.path.join(shared_tmp, "hup")
    # stderr to /dev/null: bash reports the HUP-killed `sleep` on stderr, whose pipe the
    # daemon has closed (see test_lifetime's hangup-handler test).
    p = ssh.popen(d, f"trap 'echo got-HUP > {mark}; exit 0' HUP; exec 2>/dev/null; "
                     "echo ready; while :; do sleep 0.05; done")
    assert p.stdout.readline() == b"ready\n"
    d.signal(sig)
    assert d.wait_exit(15) == 0
    # The daemon waited for the session to end, so the handler has finished writing.
    assert os.path.exists(mark), f"no SIGHUP seen by the session; logs: {d.stdout_lines}"
    assert open(mark).read() == "got-HUP\n"
    assert p.wait(15) != 0 or True  # the client sees the connection end
    msgs = d.log_messages()
    assert "sshd.stopping" in msgs and "sshd.stopped" in msgs
    assert msgs.index("sshd.stopping") < msgs.index("sshd.stopped")
    assert msgs[-1] == "sshd.stopped"


def test_stop_kills_a_session_that_ignores_sighup(sshd_factory, ssh, shared_tmp):
    d = sshd_factory.start("-killGraceTime=1s")
    marker = f"hatch-e2e-stubborn-{os.getpid()}"
    p = ssh.popen(d, f"trap '' HUP; echo ready; exec -a {marker} sleep 1000")
    assert p.stdout.readline() == b"ready\n"
    from conftest import pids_with_marker
    wait_until(lambda: pids_with_marker(marker), 5, what="the session process")
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait_exit(15) == 0
    assert time.monotonic() - t0 < 10
    wait_until(lambda: pids_with_marker(marker) == [], 5, what="the SIGKILLed session gone")
    p.wait(10)


def test_stop_with_no_connections_is_prompt(sshd):
    t0 = time.monotonic()
    assert sshd.stop() == 0
    assert time.monotonic() - t0 < 5
    assert sshd.log_messages()[-2:] == ["sshd.stopping", "sshd.stopped"]


def test_stopped_daemon_no_longer_accepts(sshd, ssh):
    port = sshd.port
    assert sshd.stop() == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# ---------------------------------------------------------------------------------------------
# A container that refuses seccomp


def _refuse_seccomp():
    """Runs in the daemon's child before exec: a seccomp filter (raw BPF, x86-64) under which
    seccomp(2) and prctl(PR_SET_SECCOMP) fail with EPERM, as in a container whose profile
    refuses them; everything else is allowed."""
    import ctypes
    import struct
    libc = ctypes.CDLL(None, use_errno=True)
    ld, jeq, ret = 0x20, 0x15, 0x06
    allow, eperm = 0x7FFF0000, 0x00050000 | 1
    prog = [(ld, 0, 0, 4), (jeq, 0, 5, 0xC000003E),  # arch: not x86-64 -> allow
            (ld, 0, 0, 0), (jeq, 4, 0, 317),        # nr: seccomp -> EPERM
            (jeq, 0, 2, 157),                       # prctl? else allow
            (ld, 0, 0, 16), (jeq, 1, 0, 22),        # PR_SET_SECCOMP -> EPERM
            (ret, 0, 0, allow), (ret, 0, 0, eperm)]
    raw = b"".join(struct.pack("HBBI", *i) for i in prog)
    buf = ctypes.create_string_buffer(raw)
    fprog = struct.pack("HxxxxxxQ", len(prog), ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog)
    arg = ctypes.c_ulong
    if (libc.prctl(38, arg(1), arg(0), arg(0), arg(0)) != 0 or
            libc.prctl(22, arg(2), arg(ctypes.addressof(fbuf)), arg(0), arg(0)) != 0):
        os._exit(99)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the test's BPF is x86-64's")
@pytest.mark.parametrize("log_level", ["info", "fatal"])
def test_seccomp_refused_by_the_container_is_reported_and_sessions_still_run(
        sshd_factory, pm, log_level):
    d = sshd_factory.start(log_level=log_level, preexec=_refuse_seccomp)
    assert "Seccomp:\t2" in open(f"/proc/{d.pid}/status").read()  # the refusal is in place
    c = pm.connect(d)
    assert pm_exec(c, "echo ok")[0] == b"ok\n"
    # Whatever -logLevel says (Diego's is fatal), stderr says the filter is off.
    wait_until(lambda: "sessions run without the syscall filter" in d.stderr_text(), 10,
               what="the warning on stderr")
    if log_level == "info":
        d.wait_log("sshd.sandbox.syscall-filter-unavailable")
