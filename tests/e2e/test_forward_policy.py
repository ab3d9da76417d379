"""Forwarding policy and lifetime: -forwarding=all|local|remote|none, and -idleTimeout with
tunnels (traffic and client keepalives keep a connection; an idle one is closed)."""

import socket
import time

import paramiko
import pytest

from conftest import wait_until
from test_forward_support import (connect, echo, echo_round_trip, free_local_port,
                                  local_forward, recv_all)
from test_forward_support import forwards, targets  # noqa: F401 (fixtures)


# ---------------------------------------------------------------------------------------------
# -forwarding


def paramiko_local_allowed(pm, daemon, target):
    tr = pm.connect(daemon).get_transport()
    try:
        chan = tr.open_channel("direct-tcpip", ("127.0.0.1", target.port), ("127.0.0.1", 0),
                               timeout=30)
    except paramiko.ChannelException as e:
        assert e.code == 1, e  # SSH_OPEN_ADMINISTRATIVELY_PROHIBITED
        return False
    chan.sendall(b"ping")
    chan.settimeout(30)
    assert chan.recv(4) == b"ping"
    chan.close()
    return True


def paramiko_remote_allowed(pm, daemon):
    tr = pm.connect(daemon).get_transport()
    try:
        port = tr.request_port_forward("127.0.0.1", 0)
    except paramiko.SSHException:
        return False
    assert port > 0
    with connect(port):
        pass
    return True


def openssh_local_allowed(forwards, daemon, target):
    f, lport = local_forward(forwards, daemon, target.port, verbose=True)
    with connect(lport) as s:
        try:
            s.sendall(b"ping")
            s.shutdown(socket.SHUT_WR)
        except OSError:  # ssh may already have closed it: the open was refused
            pass
        back, _ = recv_all(s)
    if back == b"ping":
        return True
    assert back == b""
    wait_until(lambda: "open failed" in f.stderr(), 10, what="ssh to report the refusal")
    assert "open failed: administratively prohibited" in f.stderr(), f.stderr()
    return False


def openssh_remote_allowed(forwards, daemon, target):
    rport = free_local_port()
    f = forwards(daemon, "-R", f"{rport}:127.0.0.1:{target.port}")
    try:
        f.wait_listening(rport)
    except AssertionError:
        assert f.proc.poll() not in (None, 0)  # ExitOnForwardFailure=yes
        assert "remote port forwarding failed" in f.stderr(), f.stderr()
        return False
    with connect(rport) as s:
        assert echo_round_trip(s, b"ping") == b"ping"
    return True


@pytest.mark.parametrize("mode,local,remote", [("all", True, True), ("local", True, False),
                                               ("remote", False, True), ("none", False, False)])
def test_forwarding_flag_allows_only_the_named_kinds(sshd_factory, pm, forwards, targets, mode,
                                                     local, remote):
    d = sshd_factory.start(f"-forwarding={mode}")
    t = targets(echo)
    assert paramiko_local_allowed(pm, d, t) == local
    assert paramiko_remote_allowed(pm, d) == remote
    assert openssh_local_allowed(forwards, d, t) == local
    assert openssh_remote_allowed(forwards, d, t) == remote
    # Sessions are never affected.
    assert pm.clients[0].exec_command("echo shell")[1].read() == b"shell\n"


# ---------------------------------------------------------------------------------------------
# -idleTimeout


IDLE_FLAGS = ("-idleTimeout=3s", "-keepaliveInterval=0")  # 2 s of slack for keepalives


def test_idle_timeout_spares_a_tunnel_with_traffic_every_half_second(sshd_factory, forwards,
                                                                     targets):
    d = sshd_factory.start(*IDLE_FLAGS)
    t = targets(echo)
    f, lport = local_forward(forwards, d, t.port)
    with connect(lport) as s:
        for i in range(14):  # 7 s: past twice the timeout
            s.sendall(b"%d" % i)
            assert s.recv(16) == b"%d" % i
            time.sleep(0.5)
    assert f.proc.poll() is None, f.stderr()
    assert not d.find_logs("sshd.connection.closed", reason="idle timeout")


def test_idle_timeout_closes_a_connection_whose_tunnel_is_idle(sshd_factory, forwards,
                                                               targets):
    d = sshd_factory.start(*IDLE_FLAGS)
    t = targets(echo)
    f, lport = local_forward(forwards, d, t.port)
    with connect(lport) as s:
        assert echo_round_trip_open(s, b"once") == b"once"
        t0 = time.monotonic()
        f.wait_exit(timeout=15)  # the daemon closed the connection
        assert 2.5 <= time.monotonic() - t0 <= 10
        assert recv_all(s)[0] == b""
    d.wait_log("sshd.connection.closed", reason="idle timeout")
    assert t.conns[0].done.wait(10)  # the tunnel's socket to the target is closed too


def echo_round_trip_open(sock, data):
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        got += sock.recv(len(data) - len(got))
    return got


def test_client_keepalives_keep_an_idle_tunnel_open(sshd_factory, forwards, targets):
    d = sshd_factory.start(*IDLE_FLAGS)
    t = targets(echo)
    f, lport = local_forward(forwards, d, t.port, opts=("-o", "ServerAliveInterval=1"))
    with connect(lport) as s:
        assert echo_round_trip_open(s, b"before") == b"before"
        time.sleep(7)  # no tunnel traffic, only ssh's keepalive@openssh.com every second
        assert f.proc.poll() is None, f.stderr()
        assert echo_round_trip_open(s, b"after") == b"after"
    assert not d.find_logs("sshd.connection.closed", reason="idle timeout")
