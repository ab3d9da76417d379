"""exec sessions: stdout/stderr/exit status, exit-signal, stdin with EOF, large data both ways
with back-pressure (issue 2, "Sessions")."""

import hashlib
import os
import subprocess
import threading
import time

import pytest

from conftest import pm_exec, read_channel

MiB = 1 << 20


def test_openssh_exec_separates_stdout_stderr_and_exit_status(sshd, ssh):
    r = ssh.run(sshd, "echo out; echo err >&2; echo out2; exit 7")
    assert r.returncode == 7
    assert r.stdout == b"out\nout2\n"
    assert r.stderr == b"err\n"


def test_paramiko_exec_stdout_is_data_stderr_is_extended_data(sshd, pm):
    c = pm.connect(sshd)
    out, err, status, sig = pm_exec(c, "printf abc; printf xyz >&2; exit 42")
    assert (out, err, status, sig) == (b"abc", b"xyz", 42, None)


def test_exec_runs_command_with_shell_dash_c(sshd, ssh):
    # `<shell> -c <command>`: shell syntax works and $0 is the shell (bash here).
    r = ssh.run(sshd, 'for i in 1 2 3; do printf "$i"; done; echo " $0"')
    assert r.returncode == 0
    assert r.stdout == b"123 /bin/bash\n"


def test_exec_exit_status_zero_and_large_values(sshd, pm):
    c = pm.connect(sshd)
    assert pm_exec(c, "true")[2] == 0
    assert pm_exec(c, "exit 255")[2] == 255
    assert pm_exec(c, "false")[2] == 1


def test_paramiko_killed_process_reports_exit_signal_without_sig_prefix(sshd, pm):
    c = pm.connect(sshd)
    out, err, status, sig = pm_exec(c, "echo before; kill -KILL $$")
    assert out == b"before\n"
    assert sig is not None, "no exit-signal request"
    name, core, message, lang = sig
    assert name == "KILL"
    assert core is False
    # RFC 4254 §6.10: exit-signal instead of exit-status, so paramiko sees no status.
    assert status == -1


def test_paramiko_exit_signal_term_and_segv_core_flag(sshd, pm):
    c = pm.connect(sshd)
    assert pm_exec(c, "kill -TERM $$")[3][0] == "TERM"
    # SIGSEGV's default action dumps core: the core flag is set only if a core was written,
    # which depends on RLIMIT_CORE; with `ulimit -c 0` it must be false.
    sig = pm_exec(c, "ulimit -c 0; kill -SEGV $$")[3]
    assert sig[0] == "SEGV" and sig[1] is False
    # With a core written (core_pattern permitting), the flag is true.
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    if pattern == "core":
        d = pm_exec(c, "mktemp -d")[0].decode().strip()
        sig = pm_exec(c, f"ulimit -c unlimited && cd {d} && kill -SEGV $$")[3]
        pm_exec(c, f"rm -rf {d}")
        assert sig[0] == "SEGV" and sig[1] is True


def test_exit_signal_for_a_nonstandard_signal_uses_the_rfc_extension_form(sshd, pm):
    c = pm.connect(sshd)
    name = pm_exec(c, "kill -RTMIN $$")[3][0]
    assert "@" in name, name


def test_openssh_exits_255_for_remote_signal(sshd, ssh):
    r = ssh.run(sshd, "echo x; kill -TERM $$")
    assert (r.returncode, r.stdout) == (255, b"x\n")
    # OpenSSH's client logs the exit-signal request it received.
    r = ssh.run(sshd, "kill -HUP $$", opts=("-v",))
    assert r.returncode == 255
    assert b"exit-signal" in r.stderr


def test_stdin_from_data_and_eof_closes_it(sshd, ssh, pm):
    r = ssh.run(sshd, "cat", input=b"hello\x00world\n")
    assert (r.returncode, r.stdout) == (0, b"hello\x00world\n")
    r = ssh.run(sshd, "wc -c", input=b"x" * 12345)
    assert (r.returncode, r.stdout.strip()) == (0, b"12345")
    c = pm.connect(sshd)
    out, err, status, _ = pm_exec(c, "wc -c; echo done", stdin=b"abcdef")
    assert (out, status) == (b"6\ndone\n", 0)


def test_stdin_eof_without_data(sshd, pm):
    c = pm.connect(sshd)
    out, _, status, _ = pm_exec(c, "cat; echo eof-seen", stdin=b"")
    assert (out, status) == (b"eof-seen\n", 0)


def test_process_closing_stdin_early_does_not_break_channel(sshd, ssh):
    # `head -c 10` exits after 10 bytes while the client still sends 8 MiB.
    data = os.urandom(8 * MiB)
    r = ssh.run(sshd, "head -c 10 | od -An -tx1 | tr -d ' \\n'; echo; exit 3", input=data)
    assert r.returncode == 3
    assert r.stdout.decode().strip() == data[:10].hex()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def test_large_download_no_byte_lost(sshd, ssh):
    # 128 MiB of pseudo-random bytes generated remotely, hashed there and here.
    size = 128 * MiB
    cmd = (f"openssl enc -aes-128-ctr -nosalt -pass pass:hatch -pbkdf2 -in /dev/zero 2>/dev/null"
           f" | head -c {size} | tee >(sha256sum >&2)")
    p = ssh.popen(sshd, cmd)
    digest = hashlib.sha256()
    total = 0
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        digest.update(chunk)
        total += len(chunk)
    err = p.stderr.read()
    assert p.wait(120) == 0
    assert total == size
    assert err.split()[0].decode() == digest.hexdigest()


def test_large_upload_no_byte_lost(sshd, ssh, tmp_path):
    size = 128 * MiB
    src = tmp_path / "up.bin"
    with open(src, "wb") as f:
        block = os.urandom(MiB)
        for i in range(size // MiB):
            f.write(bytes([i & 0xFF]) + block[1:])
    with open(src, "rb") as f:
        expected = hashlib.sha256(f.read()).hexdigest()
    with open(src, "rb") as f:
        r = subprocess.run(ssh.argv(sshd, "sha256sum; wc -c >&2 </dev/null"), stdin=f,
                           capture_output=True, timeout=120)
    assert r.returncode == 0
    assert r.stdout.split()[0].decode() == expected


@pytest.mark.parametrize("cipher", ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"])
def test_key_re_exchanges_mid_stream_lose_and_reorder_nothing(sshd, ssh, tmp_path, cipher):
    # OpenSSH re-keys every GiB or so; RekeyLimit=1M makes it happen dozens of times here.
    # libssh takes no channel data while re-keying: every byte must still arrive, in order.
    size = 48 * MiB
    src = tmp_path / "rekey.bin"
    data = os.urandom(size)
    src.write_bytes(data)
    opts = ("-o", "RekeyLimit=1M", "-c", cipher)
    with open(src, "rb") as f:
        r = subprocess.run(ssh.argv(sshd, "cat", opts=opts), stdin=f, capture_output=True,
                           timeout=180)
    assert (r.returncode, len(r.stdout)) == (0, size)
    assert _sha(r.stdout) == _sha(data)


def test_cat_both_ways_concurrently_no_deadlock(sshd, ssh, tmp_path):
    # cat writes its output while the client is still sending: both windows must move.
    size = 64 * MiB
    src = tmp_path / "in.bin"
    data = os.urandom(size)
    src.write_bytes(data)
    with open(src, "rb") as f:
        r = subprocess.run(ssh.argv(sshd, "cat"), stdin=f, capture_output=True, timeout=120)
    assert (r.returncode, len(r.stdout), r.stderr) == (0, size, b"")
    assert _sha(r.stdout) == _sha(data)


def test_paramiko_feeds_stdin_while_reading_stdout(sshd, pm):
    size = 16 * MiB
    data = os.urandom(size)
    c = pm.connect(sshd)
    chan = c.get_transport().open_session(timeout=15)
    chan.exec_command("cat; echo tail >&2")
    sent_error = []

    def feed():
        try:
            view = memoryview(data)
            for i in range(0, size, 32768):
                chan.sendall(view[i:i + 32768])
            chan.shutdown_write()
        except Exception as e:  # reported below
            sent_error.append(e)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    out, err = read_channel(chan, timeout=120)
    t.join(10)
    assert not sent_error
    assert chan.recv_exit_status() == 0
    assert len(out) == size and _sha(out) == _sha(data)
    assert err == b"tail\n"


def test_process_output_waits_for_a_slow_reader(sshd, ssh):
    # The client stops reading for a while; the remote writer must block (back-pressure),
    # not have its output dropped, and everything arrives afterwards.
    size = 32 * MiB
    p = ssh.popen(sshd, f"head -c {size} /dev/zero; echo finished >&2")
    time.sleep(2)
    got = 0
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    assert p.wait(60) == 0
    assert got == size
    assert p.stderr.read() == b"finished\n"


def test_many_sequential_execs_on_one_connection(sshd, pm):
    c = pm.connect(sshd)
    for i in range(30):
        out, _, status, _ = pm_exec(c, f"echo {i}; exit {i % 5}")
        assert (out, status) == (f"{i}\n".encode(), i % 5)


def test_output_of_a_background_child_holding_stdout_is_delivered(sshd, ssh):
    # As OpenSSH: the channel stays open until the pipes close, not just until the shell exits.
    r = ssh.run(sshd, "(sleep 1; echo late) & echo now; exit 4")
    assert (r.returncode, r.stdout) == (4, b"now\nlate\n")


def test_shell_without_pty_reads_commands_from_stdin(sshd, ssh):
    r = subprocess.run(ssh.argv(sshd, opts=("-T",)), input=b"echo $((1+2))\nexit 6\n",
                       capture_output=True, timeout=30)
    assert (r.returncode, r.stdout) == (6, b"3\n")


def test_long_command_line(sshd, ssh):
    word = "x" * 1000
    r = ssh.run(sshd, "echo " + " ".join([word] * 100) + " | wc -c")
    assert r.stdout.strip() == str(100 * 1001).encode()


def test_command_not_found_gives_127_and_a_message(sshd, ssh):
    r = ssh.run(sshd, "no-such-command-hatch")
    assert r.returncode == 127
    assert b"no-such-command-hatch" in r.stderr and r.stdout == b""


def test_unusable_home_falls_back_to_root_dir(sshd_factory, ssh):
    d = sshd_factory.start(env={"HOME": "/nonexistent-hatch-home"})
    r = ssh.run(d, "pwd; echo $HOME")
    assert (r.returncode, r.stdout) == (0, b"/\n/nonexistent-hatch-home\n")


def test_concurrent_channels_on_one_connection_keep_their_data_apart(sshd, pm):
    c = pm.connect(sshd)
    t = c.get_transport()
    inputs = [os.urandom(2 * MiB + i) for i in range(8)]
    chans = []
    for _ in inputs:
        chan = t.open_session(timeout=15)
        chan.exec_command("cat")
        chans.append(chan)
    errors = []

    def feed(chan, data):
        try:
            chan.sendall(data)
            chan.shutdown_write()
        except Exception as e:  # reported below
            errors.append(e)

    feeders = [threading.Thread(target=feed, args=a, daemon=True) for a in zip(chans, inputs)]
    for f in feeders:
        f.start()
    outs = [bytearray() for _ in chans]
    deadline = time.monotonic() + 120
    while not all(ch.closed for ch in chans):
        assert time.monotonic() < deadline, "channels still open"
        busy = False
        for ch, out in zip(chans, outs):
            while ch.recv_ready():
                out += ch.recv(65536)
                busy = True
        if not busy:
            time.sleep(0.002)
    for ch, out in zip(chans, outs):
        while ch.recv_ready():
            out += ch.recv(65536)
    assert not errors
    for data, out, ch in zip(inputs, outs, chans):
        assert len(out) == len(data) and _sha(bytes(out)) == _sha(data)
        assert ch.recv_exit_status() == 0
