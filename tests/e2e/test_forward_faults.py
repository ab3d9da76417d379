"""Forwarding faults: the target resets mid-stream, the target refuses, names do not resolve,
the client vanishes mid-transfer. The daemon keeps serving, the listener leaks no fd, the
connection process leaks none and goes away with its connection."""

import os
import signal
import socket
import threading

import paramiko
import pytest

from conftest import descendants, wait_until, zombies_below
from test_forward_support import (IO_TIMEOUT, connect, connection_processes, echo, echo_round_trip,
                                  fds_of, local_forward, recv_all, refused_port, reset_after)
from test_forward_support import forwards, targets  # noqa: F401 (fixtures)

MIB = 1 << 20


def idle_listener_fds(daemon):
    """The listener's fds once no connection is left."""
    wait_until(lambda: not descendants(daemon.pid), 15, what="every connection to end")
    return fds_of(daemon.pid)


def test_target_reset_mid_stream_ends_only_that_tunnel(sshd, forwards, targets):
    bad = targets(reset_after(4 * MIB))
    good = targets(echo)
    f, lport = local_forward(forwards, sshd, bad.port)
    _, gport = local_forward(forwards, sshd, good.port)
    procs = sorted(connection_processes(sshd))
    assert len(procs) == 2
    with connect(lport) as s:
        got, _ = recv_all(s)  # ends (EOF or reset) instead of hanging
    assert len(got) <= 4 * MIB and set(got) <= {ord("r")}
    assert bad.conns[0].done.wait(10)
    # The same ssh connection still carries other tunnels, old and new.
    with connect(gport) as s:
        assert echo_round_trip(s, b"other tunnel") == b"other tunnel"
    with connect(lport) as s:
        got, _ = recv_all(s)
    assert f.proc.poll() is None, f.stderr()
    assert sorted(connection_processes(sshd)) == procs
    # And the daemon takes new connections.
    _, nport = local_forward(forwards, sshd, good.port)
    with connect(nport) as s:
        assert echo_round_trip(s, b"new connection") == b"new connection"


def test_refusals_and_failed_lookups_leak_nothing(sshd, pm, targets):
    t = targets(echo)
    client = pm.connect(sshd)
    tr = client.get_transport()
    chan = tr.open_channel("direct-tcpip", ("127.0.0.1", t.port), ("127.0.0.1", 0))
    chan.close()
    [conn] = connection_processes(sshd)
    wait_until(lambda: len(descendants(sshd.pid)) == 1, 10, what="only the connection process")
    before = fds_of(conn)
    dead = refused_port()
    for i in range(20):
        host, port = ("127.0.0.1", dead) if i % 2 else ("no-such-host.invalid", 80)
        with pytest.raises(paramiko.ChannelException) as e:
            tr.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=60)
        assert e.value.code == 2
    for _ in range(20):
        chan = tr.open_channel("direct-tcpip", ("localhost", t.port), ("127.0.0.1", 0))
        chan.sendall(b"x")
        chan.settimeout(IO_TIMEOUT)
        assert chan.recv(1) == b"x"
        chan.close()
    wait_until(lambda: fds_of(conn) == before, 10, what=f"the connection's fds back to {before}")
    assert descendants(sshd.pid) == [conn]  # every lookup child was reaped
    assert not zombies_below(sshd.pid)


def test_client_killed_mid_transfer_daemon_cleans_up_and_keeps_serving(sshd, forwards,
                                                                       targets):
    t = targets(echo)
    before = idle_listener_fds(sshd)
    f, lport = local_forward(forwards, sshd, t.port)
    [conn] = connection_processes(sshd)
    s = connect(lport)
    sender = threading.Thread(target=lambda: _send_quietly(s, os.urandom(64 * MIB)), daemon=True)
    sender.start()
    c = t.wait_accepted(1)
    wait_until(lambda: c.received > 4 * MIB, 30, what="the transfer to be under way")
    f.proc.send_signal(signal.SIGKILL)  # the client vanishes: no EOF, no CLOSE
    f.wait_exit()
    wait_until(lambda: conn not in descendants(sshd.pid), 15, what="the connection process to go")
    assert c.done.wait(15)  # its socket to the target was closed
    s.close()
    assert idle_listener_fds(sshd) == before
    _, lport2 = local_forward(forwards, sshd, t.port)
    with connect(lport2) as s2:
        assert echo_round_trip(s2, b"after the kill") == b"after the kill"
    assert sshd.alive()


def test_client_killed_with_remote_listeners_frees_them_and_the_listener_fds(sshd, forwards,
                                                                             targets):
    t = targets(echo)
    before = idle_listener_fds(sshd)
    ports = []
    specs = []
    for _ in range(3):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
        specs += ["-R", f"{ports[-1]}:127.0.0.1:{t.port}"]
    f = forwards(sshd, *specs)
    for p in ports:
        f.wait_listening(p)
    busy = connect(ports[0])
    t.wait_accepted(1)
    f.proc.send_signal(signal.SIGKILL)
    f.wait_exit()
    assert idle_listener_fds(sshd) == before
    for p in ports:
        with pytest.raises(ConnectionRefusedError):
            connect(p, timeout=5)
    assert recv_all(busy)[0] == b""
    busy.close()


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass
