"""Forwarding faults: the target resets mid-stream, the target refuses, names do not resolve,
the client vanishes mid-transfer. The daemon keeps serving, the listener leaks no fd, the
connection process leaks none and goes away with its connection."""

import os
import signal
import socket
import threading
import time

import paramiko
import pytest

from conftest import descendants, wait_until, zombies_below
from test_forward_support import (IO_TIMEOUT, connect, connection_processes, crashed_connections,
                                  echo, echo_round_trip, fd_targets, local_forward, recv_all,
                                  refused_port, reset_after, wait_no_new_fds)
from test_forward_support import forwards, targets  # noqa: F401 (fixtures)

MIB = 1 << 20


def idle_listener_fds(daemon):
    """The listener's fds once no connection is left."""
    wait_until(lambda: not descendants(daemon.pid), 15, what="every connection to end")
    return fd_targets(daemon.pid)


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
    assert t.wait_accepted(1).done.wait(10)  # that tunnel's socket is closed
    [conn] = connection_processes(sshd)
    wait_until(lambda: len(descendants(sshd.pid)) == 1, 10, what="only the connection process")
    before = fd_targets(conn)
    dead = refused_port()
    for i in range(20):
        # (an empty label: the resolver refuses the name without a DNS query)
        host, port = ("127.0.0.1", dead) if i % 2 else ("no..such-host", 80)
        with pytest.raises(paramiko.ChannelException) as e:
            tr.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=60)
        assert e.value.code == 2
    for _ in range(20):
        chan = tr.open_channel("direct-tcpip", ("localhost", t.port), ("127.0.0.1", 0))
        chan.sendall(b"x")
        chan.settimeout(IO_TIMEOUT)
        assert chan.recv(1) == b"x"
        chan.close()
    wait_no_new_fds(conn, before)
    # every lookup child was reaped (the last one's pipe closes a moment before its exit)
    wait_until(lambda: descendants(sshd.pid) == [conn] and not zombies_below(sshd.pid), 10,
               what="every lookup child reaped")


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
    wait_until(lambda: not descendants(sshd.pid), 15, what="every connection to end")
    wait_no_new_fds(sshd.pid, before)
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
    wait_until(lambda: not descendants(sshd.pid), 15, what="every connection to end")
    wait_no_new_fds(sshd.pid, before)
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


def mix_remote_knocks_with_tunnel_opens(daemon, pm, target, seconds):
    """One connection: three threads keep connecting to a remote forward (so forwarded-tcpip
    opens are pending most of the time), two stream data through tunnels (packets arrive all
    the time) and ten open direct-tcpip channels, holding up to 120 at once (the
    connection's channel list grows through every size). Returns (errors, counts)."""
    client = pm.connect(daemon)
    tr = client.get_transport()
    rport = tr.request_port_forward("127.0.0.1", 0, handler=lambda chan, origin, server:
                                    chan.close())
    stop = threading.Event()
    counts = {"remote": 0, "local": 0}
    errors = []

    def knock():
        while not stop.is_set():
            try:
                with connect(rport, timeout=10) as s:
                    recv_all(s)
                counts["remote"] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(e)
                return

    def tunnels():
        while not stop.is_set():
            chans = []
            try:
                for _ in range(12):
                    chans.append(tr.open_channel("direct-tcpip", ("127.0.0.1", target.port),
                                                 ("127.0.0.1", 0), timeout=20))
            except Exception as e:  # noqa: BLE001 (the connection died: any paramiko error)
                errors.append(e)
                return
            counts["local"] += len(chans)
            for chan in chans:
                chan.close()

    def stream():
        """Keeps packets arriving all the time, so the connection is rarely idle in its poll
        and packets are often handled inside the nested ones."""
        try:
            chan = tr.open_channel("direct-tcpip", ("127.0.0.1", target.port), ("127.0.0.1", 0),
                                   timeout=20)
            chan.settimeout(IO_TIMEOUT)
            block = b"s" * 16384
            while not stop.is_set():
                chan.sendall(block)
                while chan.recv_ready():
                    chan.recv(1 << 20)
            chan.close()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    workers = [threading.Thread(target=knock, daemon=True) for _ in range(3)]
    workers += [threading.Thread(target=stream, daemon=True) for _ in range(2)]
    workers += [threading.Thread(target=tunnels, daemon=True) for _ in range(10)]
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join(30)
    if not errors:
        assert tr.is_active()
        assert client.exec_command("echo alive")[1].read() == b"alive\n"
    client.close()
    return errors, counts


def test_tunnels_opened_while_remote_forward_opens_are_pending_keep_the_connection(sshd, pm,
                                                                                   targets):
    """While a forwarded-tcpip open is pending, libssh handles incoming packets inside the
    open call (a nested poll), so a direct-tcpip open can arrive in the middle of the
    connection's loop over its channels. Six fresh connections (each one's channel list
    starts small and grows) must all survive."""
    t = targets(echo)
    for _ in range(6):
        errors, counts = mix_remote_knocks_with_tunnel_opens(sshd, pm, t, seconds=1)
        assert not errors, (f"{crashed_connections(sshd)} connection(s) crashed", errors[:3],
                            counts, sshd.stderr_text()[-3000:])
        assert counts["remote"] > 3 and counts["local"] > 40, counts
    assert "AddressSanitizer" not in sshd.stderr_text()
