"""Other real clients: PuTTY's plink, and a Go client on golang.org/x/crypto/ssh built from
Debian's golang-golang-x-crypto-dev (the library of the cf CLI and Diego's ssh-proxy)."""

import fcntl
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILD_DIR, daemon_user

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------------------------
# plink


@pytest.fixture(scope="module")
def ppk(keys):
    path = os.path.join(keys.dir, "client_ed25519.ppk")
    if not os.path.exists(path) or \
            os.path.getmtime(path) < os.path.getmtime(keys.client_ed25519):
        subprocess.run(["puttygen", keys.client_ed25519, "-O", "private", "-o", path],
                       check=True, capture_output=True, timeout=60)
    return path


def plink(daemon, ppk, fingerprint, *command, user="vcap", extra=(), input=None, timeout=30):
    argv = ["plink", "-batch", "-ssh", "-P", str(daemon.port), "-i", ppk,
            "-hostkey", fingerprint, *extra, f"{user}@127.0.0.1", *command]
    return subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL)


@pytest.mark.parametrize("host_key", ["rsa", "ed25519"])
def test_plink_exec_output_and_exit_status(sshd_factory, keys, ppk, host_key):
    d = sshd_factory.start(host_key=host_key)
    fp = keys.host_fingerprint(keys.host_rsa if host_key == "rsa" else keys.host_ed25519)
    r = plink(d, ppk, fp, "echo out; echo err >&2; exit 6")
    assert r.returncode == 6, r.stderr
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"


def test_plink_stdin_and_environment(sshd, keys, ppk):
    fp = keys.host_fingerprint(keys.host_rsa)
    r = plink(sshd, ppk, fp, "wc -c; echo $HOME", input=b"x" * 1000)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"1000\n{daemon_user()[1]}\n".encode()


def test_plink_rejects_a_wrong_host_key_pin(sshd, keys, ppk):
    wrong = keys.host_fingerprint(keys.host_ed25519)
    r = plink(sshd, ppk, wrong, "echo should-not-run")
    assert r.returncode != 0
    assert b"should-not-run" not in r.stdout


def test_plink_pty(sshd, keys, ppk):
    fp = keys.host_fingerprint(keys.host_rsa)
    r = plink(sshd, ppk, fp, "tty; echo TERM=$TERM", extra=("-t",))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.replace(b"\r\n", b"\n").split(b"\n")
    assert lines[0].startswith(b"/dev/pts/")
    assert lines[1].startswith(b"TERM=")


def test_plink_remote_signal_exit(sshd, keys, ppk):
    fp = keys.host_fingerprint(keys.host_rsa)
    r = plink(sshd, ppk, fp, "kill -KILL $$")
    assert r.returncode != 0
    assert r.stdout == b""


# ---------------------------------------------------------------------------------------------
# The Go client


@pytest.fixture(scope="session")
def goclient():
    """Builds tests/e2e/goclient once per build dir (a lock keeps parallel test files from
    building it twice); offline, against Debian's x/crypto."""
    assert BUILD_DIR, "HATCH_BUILD_DIR must name the CMake build dir"
    out = os.path.join(BUILD_DIR, "e2e-goclient")
    work = os.path.join(BUILD_DIR, "e2e-go")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        src = os.path.join(HERE, "goclient")
        newest = max(os.path.getmtime(os.path.join(src, f)) for f in os.listdir(src))
        if not os.path.exists(out) or os.path.getmtime(out) < newest:
            # Built from a copy, so the go command never touches the source tree.
            copy = os.path.join(work, "src")
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(src, copy)
            env = dict(os.environ, GOPROXY="off", GOFLAGS="-mod=mod", GOSUMDB="off",
                       GOTOOLCHAIN="local", GOCACHE=os.path.join(work, "cache"),
                       GOPATH=os.path.join(work, "gopath"), CGO_ENABLED="0")
            r = subprocess.run(["go", "build", "-o", out + ".tmp", "."], cwd=copy, env=env,
                               capture_output=True, text=True, timeout=280)
            assert r.returncode == 0, f"go build failed: {r.stderr}"
            os.replace(out + ".tmp", out)
    return out


def go_run(goclient, daemon, keys, *args, command="", stdin=None, timeout=40):
    argv = [goclient, "-addr", f"127.0.0.1:{daemon.port}", "-key", keys.client_ed25519,
            *args]
    if command:
        argv.append(command)
    r = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
    lines = r.stdout.decode().strip().splitlines()
    assert lines, f"no output; stderr {r.stderr!r}"
    return json.loads(lines[-1])


def test_go_exec_stdout_stderr_status_and_pinned_host_key(sshd, keys, goclient):
    fp = keys.host_fingerprint(keys.host_rsa)
    res = go_run(goclient, sshd, keys, "-hostkey", fp,
                 command="echo out; echo err >&2; exit 5")
    assert res.get("error") is None, res
    assert (res["stdout"], res["stderr"], res["exit_status"]) == ("out\n", "err\n", 5)
    assert res["hostkey_type"] == "rsa-sha2-512" or res["hostkey_type"] == "ssh-rsa"
    assert res["hostkey_fingerprint"] == fp
    assert res["server_version"].startswith("SSH-2.0-")


def test_go_wrong_pin_fails(sshd, keys, goclient):
    res = go_run(goclient, sshd, keys, "-hostkey", "SHA256:wrong", command="true")
    assert "host key mismatch" in res["error"]


def test_go_exit_signal(sshd, keys, goclient):
    res = go_run(goclient, sshd, keys, command="kill -TERM $$")
    assert res.get("error") is None, res
    assert res["exit_signal"] == "TERM" and res["exit_status"] is None


def test_go_stdin(sshd, keys, goclient):
    res = go_run(goclient, sshd, keys, "-stdin", command="sha256sum", stdin=b"abc" * 100000)
    import hashlib
    assert res["stdout"].split()[0] == hashlib.sha256(b"abc" * 100000).hexdigest()
    assert res["exit_status"] == 0


def test_go_env(sshd, keys, goclient):
    res = go_run(goclient, sshd, keys, "-env", "FOO=bar", "-env", "LANG=C",
                 "-env", "HOME=/nope", command="echo $FOO $LANG $HOME")
    # HOME is refused: x/crypto's Setenv fails on a failure reply, so it is not sent here...
    assert "setenv HOME" in (res.get("error") or "")
    res = go_run(goclient, sshd, keys, "-env", "FOO=bar", "-env", "LANG=C",
                 command="echo $FOO $LANG $HOME")
    assert res["stdout"] == f"bar C {daemon_user()[1]}\n"


def test_go_pty_with_window_change(sshd, keys, goclient):
    res = go_run(goclient, sshd, keys, "-pty", "-term", "xterm-256color", "-cols", "111",
                 "-rows", "33", "-after", "ready", "-resize", "90x20",
                 command="stty size; echo $TERM; tty; stty -a | grep -o -- '-echo '; "
                         "trap 'stty size; exit 0' WINCH; echo ready; "
                         "while :; do sleep 0.05; done")
    assert res.get("error") is None, res
    lines = res["stdout"].replace("\r\n", "\n").split("\n")
    assert lines[0] == "33 111"
    assert lines[1] == "xterm-256color"
    assert lines[2].startswith("/dev/pts/")
    assert lines[3].strip() == "-echo"  # the ECHO=0 mode was applied
    assert lines[4] == "ready"
    assert lines[5] == "20 90"
    assert res["exit_status"] == 0


@pytest.mark.parametrize("name", ["USR1", "TERM", "INT", "HUP"])
def test_go_signal(sshd, keys, goclient, name):
    res = go_run(goclient, sshd, keys, "-after", "ready", "-signal", name,
                 command=f"trap 'echo got-{name}; exit 0' {name}; echo ready; "
                         "while :; do sleep 0.05; done")
    assert res.get("error") is None, res
    assert res["stdout"] == f"ready\ngot-{name}\n"
    assert res["exit_status"] == 0


def test_go_signal_kills_with_exit_signal(sshd, keys, goclient):
    res = go_run(goclient, sshd, keys, "-after", "ready", "-signal", "KILL",
                 command="echo ready; exec sleep 100")
    assert res["exit_signal"] == "KILL"


def test_go_interactive_shell_with_pty(sshd, keys, goclient):
    res = go_run(goclient, sshd, keys, "-pty", "-stdin",
                 stdin=b"echo $((40+2))\nexit 3\n")
    assert res.get("error") is None, res
    assert "42" in res["stdout"]
    assert res["exit_status"] == 3


def test_go_cf_keepalive_requests_get_replies(sshd, keys, goclient):
    # The cf CLI sends keepalive@cloudfoundry.org with want-reply; a failure reply is fine,
    # no reply at all would hang the CLI.
    res = go_run(goclient, sshd, keys, "-keepalives", "3", command="echo after")
    assert res.get("error") is None, res
    assert len(res["keepalive_replies"]) == 3
    assert res["stdout"] == "after\n"


def test_go_client_with_rsa_user_key(sshd_factory, keys, goclient):
    d = sshd_factory.start(authorized_key="rsa", host_key="ed25519")
    argv = [goclient, "-addr", f"127.0.0.1:{d.port}", "-key", keys.client_rsa, "echo rsa"]
    r = subprocess.run(argv, capture_output=True, timeout=40)
    res = json.loads(r.stdout)
    assert res.get("error") is None, res
    assert res["stdout"] == "rsa\n" and res["hostkey_type"] == "ssh-ed25519"
