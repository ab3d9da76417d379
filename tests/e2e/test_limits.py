"""Limits: channels per connection, auth attempts, concurrent connections (issue 2, "Sessions":
Limits)."""

import socket
import subprocess
import time

import paramiko
import pytest

from conftest import Paramiko, descendants, pm_exec, read_channel, wait_until


def test_max_sessions_refuses_the_extra_channel_and_connection_keeps_working(sshd_factory, pm):
    d = sshd_factory.start("-maxSessions=2")
    c = pm.connect(d)
    t = c.get_transport()
    first = t.open_session(timeout=10)
    first.exec_command("read x; echo first-$x")
    second = t.open_session(timeout=10)
    second.exec_command("read x; echo second-$x")
    with pytest.raises(paramiko.ChannelException):
        t.open_session(timeout=10)
    d.wait_log("sshd.connection.too-many-channels", limit=2)
    # Both running sessions are unaffected.
    for chan, name in ((first, b"first"), (second, b"second")):
        chan.sendall(b"x\n")
        chan.shutdown_write()
        assert read_channel(chan)[0] == name + b"-x\n"
    # Once they are closed there is room again.
    first.close()
    second.close()

    def can_open():
        try:
            return pm_exec(c, "echo again")[0] == b"again\n"
        except paramiko.ChannelException:
            return False
    wait_until(can_open, 10, interval=0.2, what="a free channel slot")


def test_max_sessions_counts_per_connection(sshd_factory, pm):
    d = sshd_factory.start("-maxSessions=1")
    a, b = pm.connect(d), pm.connect(d)
    ca = a.get_transport().open_session(timeout=10)
    ca.exec_command("sleep 30")
    # Another connection has its own budget.
    assert pm_exec(b, "echo b")[0] == b"b\n"
    with pytest.raises(paramiko.ChannelException):
        a.get_transport().open_session(timeout=10)
    ca.close()


def _auth_with(transport, key_path):
    from conftest import _load_key
    return transport.auth_publickey("vcap", _load_key(key_path))


def test_max_auth_tries_disconnects_after_two_wrong_keys(sshd_factory, keys):
    d = sshd_factory.start("-maxAuthTries=2")
    t = paramiko.Transport(("127.0.0.1", d.port))
    try:
        t.start_client(timeout=15)
        with pytest.raises(paramiko.AuthenticationException):
            _auth_with(t, keys.wrong_ed25519)
        assert t.is_active()
        with pytest.raises((paramiko.AuthenticationException, paramiko.SSHException, EOFError)):
            _auth_with(t, keys.wrong_rsa)
        wait_until(lambda: not t.is_active(), 5, what="disconnect after 2 failures")
        # Even the right key can no longer be tried on this connection.
        with pytest.raises((paramiko.SSHException, EOFError)):
            _auth_with(t, keys.client_ed25519)
    finally:
        t.close()
    d.wait_log("sshd.connection.too-many-auth-failures", attempts=2)


def test_max_auth_tries_allows_success_within_the_budget(sshd_factory, keys, ssh):
    d = sshd_factory.start("-maxAuthTries=2")
    t = paramiko.Transport(("127.0.0.1", d.port))
    try:
        t.start_client(timeout=15)
        with pytest.raises(paramiko.AuthenticationException):
            _auth_with(t, keys.wrong_ed25519)
        _auth_with(t, keys.client_ed25519)
        assert t.is_authenticated()
    finally:
        t.close()
    # OpenSSH offering two wrong keys before the right one is cut off; the right key first works.
    argv = ssh.argv(d, "echo in")
    i = argv.index("-i")
    wrong_first = argv[:i] + ["-i", keys.wrong_ed25519, "-i", keys.wrong_rsa] + argv[i:]
    r = subprocess.run(wrong_first, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert r.returncode == 255
    assert ssh.run(d, "echo in").stdout == b"in\n"


def test_max_connections_refuses_the_second_while_the_first_works(sshd_factory, pm, ssh, keys):
    d = sshd_factory.start("-maxConnections=1")
    first = pm.connect(d)
    chan = first.get_transport().open_session(timeout=10)
    chan.exec_command("cat")
    # The second connection is closed without an SSH banner.
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.settimeout(10)
        assert s.recv(100) == b""
    r = ssh.run(d, "echo second")
    assert r.returncode == 255 and r.stdout == b""
    with pytest.raises((paramiko.SSHException, EOFError, OSError)):
        Paramiko(keys).connect(d, timeout=5)
    d.wait_log("sshd.connection.refused")
    # The first connection is unaffected.
    chan.sendall(b"still here\n")
    chan.settimeout(10)
    assert chan.recv(100) == b"still here\n"
    chan.shutdown_write()
    read_channel(chan)
    first.close()
    # And once it is gone, a new connection is accepted.
    wait_until(lambda: not descendants(d.pid), 10, what="first connection process to end")
    assert ssh.run(d, "echo next").stdout == b"next\n"
