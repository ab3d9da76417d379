"""Session recordings (issue 14, part 2): asciicast v2 files that Debian's asciinema plays,
their SHA-256 on the audit trail, a size cap with a marker, and a write error (file size
limit, as a full disk) that never stops the session."""

import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

from conftest import ShellReader, pm_exec, wait_until
from test_audit import audit, wait_audit
from test_transfer_support import clients  # noqa: F401 (fixture)


@pytest.fixture
def rec_dir():
    d = tempfile.mkdtemp(prefix="hatch-rec-")
    os.chmod(d, 0o1777)  # the daemon's user writes here
    yield d
    shutil.rmtree(d, ignore_errors=True)


def cast_lines(path):
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8").splitlines()
    header = json.loads(lines[0])
    return header, [json.loads(l) for l in lines[1:]]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def asciinema_cat(path):
    """What `asciinema cat` prints (it wants a terminal: run under script(1))."""
    r = subprocess.run(["script", "-qec", f"asciinema cat {path}", "/dev/null"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout


def ended_with_recording(d):
    end = wait_audit(d, "session.ended")[0]
    path = end["recording"]
    assert path and os.path.exists(path), end
    return end, path


def test_pty_shell_is_recorded_with_input_output_and_resize(sshd_factory, pm, rec_dir):
    d = sshd_factory.start(f"-recordSessions={rec_dir}")
    c = pm.connect(d)
    chan = c.get_transport().open_session()
    chan.get_pty(term="xterm-256color", width=100, height=30)
    chan.invoke_shell()
    sh = ShellReader(chan)
    sh.send("echo rec-$((6*7))\n")
    sh.expect("rec-42")
    chan.resize_pty(width=120, height=40)
    sh.send("stty size\n")
    sh.expect("40 120")
    sh.send("exit\n")
    wait_until(lambda: chan.exit_status_ready(), 15, what="shell exit")
    c.close()
    end, path = ended_with_recording(d)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.path.dirname(path) == rec_dir
    assert end["recording_sha256"] == sha256(path)
    started = audit(d, "session.started")[0]
    assert started["recording"] == path
    header, events = cast_lines(path)
    assert header["version"] == 2 and (header["width"], header["height"]) == (100, 30)
    assert header["env"]["TERM"] == "xterm-256color"
    kinds = {e[1] for e in events}
    assert kinds == {"o", "i", "r"}
    assert ["120x40"] == [e[2] for e in events if e[1] == "r"]
    assert "echo rec-$((6*7))" in "".join(e[2] for e in events if e[1] == "i")
    times = [e[0] for e in events]
    assert times == sorted(times)
    assert b"rec-42" in asciinema_cat(path)


def test_exec_without_pty_records_stdout_and_stderr(sshd_factory, ssh, rec_dir):
    d = sshd_factory.start(f"-recordSessions={rec_dir}", log_level="fatal")
    r = ssh.run(d, "echo to-stdout; echo to-stderr >&2; printf '\\377\\n'")
    assert r.returncode == 0
    end, path = ended_with_recording(d)
    header, events = cast_lines(path)
    assert header.get("command") == "echo to-stdout; echo to-stderr >&2; printf '\\377\\n'"
    out = "".join(e[2] for e in events if e[1] == "o")
    assert "to-stdout" in out and "to-stderr" in out
    assert "\ufffd" in out  # an invalid byte is U+FFFD, the file stays JSON
    assert all(e[1] == "o" for e in events)
    assert end["recording_sha256"] == sha256(path)
    played = asciinema_cat(path)
    assert b"to-stdout" in played and b"to-stderr" in played


def test_sftp_is_not_recorded(sshd_factory, clients, rec_dir, tmp_path):
    d = sshd_factory.start(f"-recordSessions={rec_dir}", log_level="fatal")
    r = clients.sftp(d, ["pwd"], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    wait_audit(d, "session.ended")
    assert os.listdir(rec_dir) == []


def test_cap_stops_recording_with_a_marker_and_an_audit_event(sshd_factory, ssh, rec_dir):
    d = sshd_factory.start(f"-recordSessions={rec_dir}", "-recordMaxBytes=8192",
                           log_level="fatal")
    r = ssh.run(d, "head -c 200000 /dev/zero | tr '\\0' a; echo; echo done")
    assert r.returncode == 0
    assert r.stdout == b"a" * 200000 + b"\ndone\n"  # the session itself is whole
    end, path = ended_with_recording(d)
    assert os.path.getsize(path) <= 8192
    trunc = wait_audit(d, "recording.truncated")[0]
    assert trunc["recording"] == path and trunc["max_bytes"] == 8192
    _, events = cast_lines(path)
    assert "recording stopped: size limit" in events[-1][2]
    assert end["recording_sha256"] == sha256(path)
    assert b"recording stopped" in asciinema_cat(path)


def test_write_error_stops_recording_but_not_the_session(sshd_factory, ssh, rec_dir):
    # A file size limit makes the recording's write(2) fail (EFBIG) as a full disk would
    # (ENOSPC); unlike a small tmpfs it needs no mount, here or on CI.
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    d = sshd_factory.start(f"-recordSessions={rec_dir}", log_level="fatal", preexec=limit)
    r = ssh.run(d, "head -c 300000 /dev/zero | tr '\\0' b; echo; echo done")
    assert r.returncode == 0
    assert r.stdout == b"b" * 300000 + b"\ndone\n"
    failed = wait_audit(d, "recording.failed")[0]
    end, path = ended_with_recording(d)
    assert failed["recording"] == path and failed["error"]
    assert os.path.getsize(path) <= 16384
    cast_lines(path)  # whole lines only: still valid JSON
    assert end["recording_sha256"] == sha256(path)
    assert d.alive()
    assert ssh.run(d, "echo still-serving").stdout == b"still-serving\n"


def test_unwritable_directory_is_a_start_up_error(sshd_factory):
    rc, err, _ = sshd_factory.run_to_exit("-recordSessions=/nonexistent-dir")
    assert rc == 1 and any("-recordSessions" in l for l in err)
