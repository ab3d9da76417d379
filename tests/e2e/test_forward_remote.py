"""Remote forwards (tcpip-forward / cancel-tcpip-forward / forwarded-tcpip, RFC 4254 §7.1):
OpenSSH `ssh -N -R` (fixed port, and port 0 through a control socket) and paramiko's
request_port_forward, against targets the tests run on 127.0.0.1."""

import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import paramiko
import pytest

from conftest import wait_until
from test_forward_support import (IO_TIMEOUT, connect, connect_refused, connection_processes,
                                  digest_after_eof, echo, echo_round_trip, exchange, fds_of,
                                  free_local_port, is_listening, never_read, recv_all, refused_port,
                                  remote_forward, send_then_close, sha)
from test_forward_support import forwards, targets  # noqa: F401 (fixtures)

MIB = 1 << 20


# ---------------------------------------------------------------------------------------------
# OpenSSH ssh -R


def test_ssh_R_fixed_port_carries_data_to_the_local_target(sshd, forwards, targets):
    t = targets(echo)
    _, rport = remote_forward(forwards, sshd, t.port)
    payload = os.urandom(8 * MIB)
    with connect(rport) as s:
        back = echo_round_trip(s, payload)
    assert sha(back) == sha(payload)
    assert t.accepted() == 1 and t.conns[0].received == len(payload)
    sshd.wait_log("sshd.forward.remote.listening", address="localhost", port=rport)


def test_ssh_R_half_close_peer_eof_reaches_the_target_and_the_answer_comes_back(
        sshd, forwards, targets):
    t = targets(digest_after_eof)
    _, rport = remote_forward(forwards, sshd, t.port)
    payload = os.urandom(4 * MIB + 3)
    with connect(rport) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        answer, reset = recv_all(s)
    assert not reset
    assert answer == f"{sha(payload)} {len(payload)}\n".encode()


def test_ssh_R_target_refused_by_the_client_closes_that_connection_only(sshd, forwards,
                                                                        targets):
    t = targets(echo)
    dead, good = free_local_port(), free_local_port()
    f = forwards(sshd, "-R", f"{dead}:127.0.0.1:{refused_port()}",
                 "-R", f"{good}:127.0.0.1:{t.port}")
    f.wait_listening(dead).wait_listening(good)
    for _ in range(3):
        with connect(dead) as s:
            assert recv_all(s)[0] == b""  # ssh refused the forwarded-tcpip open
    wait_until(lambda: f.stderr().count("connect_to 127.0.0.1") >= 3, 10,
               what="ssh to report its three failed connects")
    with connect(good) as s:
        assert echo_round_trip(s, b"still forwarding") == b"still forwarding"
    assert is_listening(dead) and f.proc.poll() is None


def test_ssh_R_data_in_flight_when_the_client_closes_reaches_a_slow_reader(sshd, forwards,
                                                                           targets):
    payload = os.urandom(16 * MIB)
    t = targets(send_then_close(payload))  # behind ssh: sends it all, then EOF
    _, rport = remote_forward(forwards, sshd, t.port)
    with connect(rport) as s:
        # Our EOF goes first, so ssh sends EOF and CLOSE as soon as the target's data is out,
        # while this slow reader still has most of it to read.
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while data := s.recv(65536):
            got += data
            time.sleep(0.005)
    assert (len(got), sha(got)) == (len(payload), sha(payload))


@pytest.fixture
def control_master(ssh, sshd):
    """An `ssh -M -S ctl -fN` master in the background; `run(*opts)` runs a client on it."""
    d = tempfile.mkdtemp(prefix="fwd-ctl-")  # short: a unix socket path has ~100 bytes
    ctl = os.path.join(d, "ctl")

    def run(*opts, check=True):
        r = subprocess.run(ssh.argv(sshd, opts=("-S", ctl, *opts)), capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert not check or r.returncode == 0, (opts, r)
        return r

    run("-M", "-fN", "-o", "ExitOnForwardFailure=yes")
    master = int(run("-O", "check").stderr.split("pid=")[1].split(")")[0])
    yield run
    try:
        os.kill(master, signal.SIGKILL)
    except ProcessLookupError:
        pass
    shutil.rmtree(d, ignore_errors=True)


def test_ssh_R_port_0_through_a_control_socket_forward_and_cancel(sshd, control_master, targets):
    t = targets(echo)
    spec = f"0:127.0.0.1:{t.port}"
    out = control_master("-O", "forward", "-R", spec).stdout
    rport = int(out.split()[0])  # the port the daemon bound, from its reply
    assert rport != 0 and is_listening(rport)
    sshd.wait_log("sshd.forward.remote.listening", port=rport)
    payload = os.urandom(4 * MIB)
    for _ in range(2):
        with connect(rport) as s:
            assert sha(echo_round_trip(s, payload)) == sha(payload)
    control_master("-O", "cancel", "-R", spec)
    wait_until(lambda: connect_refused(rport), 10, what="the listener to close")
    sshd.wait_log("sshd.forward.remote.cancelled", port=rport)
    # A new one after the cancel works too.
    again = int(control_master("-O", "forward", "-R", spec).stdout.split()[0])
    with connect(again) as s:
        assert exchange(s, b"again") == b"again"
    control_master("-O", "exit")
    wait_until(lambda: connect_refused(again), 10, what="the listener to close with the master")


def test_ssh_R_connections_past_max_tunnels_are_closed_at_once(sshd_factory, forwards,
                                                               targets):
    """-maxTunnels holds connections to -R listeners too: one past it is accepted and closed
    (the peer sees EOF, nothing reaches the target), the open ones carry on, and a slot that
    frees up is used again."""
    d = sshd_factory.start("-maxTunnels=2")
    t = targets(echo)
    _, rport = remote_forward(forwards, d, t.port)
    a, b = connect(rport), connect(rport)
    for s, byte in ((a, b"a"), (b, b"b")):
        s.sendall(byte)
        assert s.recv(1) == byte  # both tunnels are open end to end
    with connect(rport) as extra:
        assert recv_all(extra)[0] == b""  # EOF (or a reset) with nothing before it
    d.wait_log("sshd.forward.remote.too-many-tunnels", port=rport, limit=2)
    assert t.accepted() == 2
    a.sendall(b"x")
    assert a.recv(1) == b"x"  # the open tunnels are untouched
    b.close()
    wait_until(lambda: any(c.done.is_set() for c in t.conns), 10,
               what="the closed tunnel to end at the target")

    def a_third_one_works():
        with connect(rport) as c:
            c.sendall(b"c")
            return c.recv(1) == b"c"

    wait_until(a_third_one_works, 10, what="a free tunnel slot after one closed")
    a.close()


def test_ssh_R_port_in_use_gets_a_failure_reply(sshd, forwards, targets):
    t = targets(echo)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        f = forwards(sshd, "-R", f"{port}:127.0.0.1:{t.port}")
        assert f.wait_exit() != 0  # ExitOnForwardFailure=yes
        assert "remote port forwarding failed" in f.stderr(), f.stderr()
    e = sshd.wait_log("sshd.forward.remote.bind-failed", port=port)
    assert "in use" in e["data"]["error"]


def test_ssh_R_every_listener_closes_with_the_connection(sshd, forwards, targets):
    t = targets(echo)
    sink = targets(never_read)
    p1, p2 = free_local_port(), free_local_port()
    f = forwards(sshd, "-R", f"{p1}:127.0.0.1:{t.port}", "-R", f"{p2}:127.0.0.1:{sink.port}")
    f.wait_listening(p1).wait_listening(p2)
    open_tunnel = connect(p2)  # a tunnel in use when the connection goes
    sink.wait_accepted(1)
    with connect(p1) as s:
        assert exchange(s, b"x") == b"x"
    f.proc.send_signal(signal.SIGKILL)
    f.wait_exit()
    wait_until(lambda: connect_refused(p1) and connect_refused(p2), 10,
               what="both listeners to close")
    assert recv_all(open_tunnel)[0] == b""  # its tunnel ended with the connection
    open_tunnel.close()
    # The ports are free again: a new connection can take the same one.
    forwards(sshd, "-R", f"{p1}:127.0.0.1:{t.port}").wait_listening(p1)
    with connect(p1) as s:
        assert exchange(s, b"y") == b"y"


# ---------------------------------------------------------------------------------------------
# paramiko


class Forwarded:
    """A paramiko transport whose forwarded-tcpip channels land in a queue as
    (channel, origin, server) triples."""

    def __init__(self, transport):
        self.transport = transport
        self.channels = queue.Queue()

    def handler(self, chan, origin, server):
        self.channels.put((chan, origin, server))

    def forward(self, address, port=0):
        return self.transport.request_port_forward(address, port, handler=self.handler)

    def cancel(self, address, port):
        """True if the daemon accepted the cancel (paramiko's cancel_port_forward hides it)."""
        return self.transport.global_request("cancel-tcpip-forward", (address, port),
                                             wait=True) is not None

    def next(self, timeout=IO_TIMEOUT):
        return self.channels.get(timeout=timeout)


@pytest.fixture
def fwd(sshd, pm):
    f = Forwarded(pm.connect(sshd).get_transport())
    [f.conn_pid] = connection_processes(sshd)
    return f


def connect_host(address):
    """Where a test reaches a listener bound to `address`."""
    return "::1" if address == "::" else "127.0.0.1"


def test_paramiko_forwarded_tcpip_origin_is_the_connecting_peer(fwd):
    port = fwd.forward("127.0.0.1", 0)
    assert port > 0
    with connect(port) as s:
        me = s.getsockname()
        chan, origin, server = fwd.next()
        assert origin == ("127.0.0.1", me[1])
        assert server == ("127.0.0.1", port)
        payload = os.urandom(MIB)
        s.sendall(payload)
        chan.settimeout(IO_TIMEOUT)
        got = bytearray()
        while len(got) < len(payload):
            got += chan.recv(MIB)
        assert bytes(got) == payload
        chan.sendall(b"answer")
        chan.shutdown_write()
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s)[0] == b"answer"


@pytest.mark.parametrize("address", ["", "0.0.0.0", "localhost", "127.0.0.1", "::"])
def test_paramiko_cancel_closes_the_listener_for_each_address_form(fwd, address):
    fds = len(fds_of(fwd.conn_pid))
    port = fwd.forward(address, 0)
    host = connect_host(address)
    with connect(port, host) as s:
        chan, origin, _ = fwd.next()
        assert origin[1] == s.getsockname()[1]
        chan.sendall(b"hi")
        assert s.recv(2) == b"hi"
        chan.close()
        assert recv_all(s)[0] == b""
    # Once the tunnel is over only the listener is left (a cancel while a tunnel is still
    # open is another test).
    wait_until(lambda: len(fds_of(fwd.conn_pid)) == fds + 1, 10, what="the tunnel to end")
    assert fwd.cancel(address, port)
    wait_until(lambda: connect_refused(port, host), 10, what=f"listener on {address!r} to close")
    assert not fwd.cancel(address, port)  # already gone: a failure reply
    # And the same port can be forwarded again at once.
    assert fwd.forward(address, port) == port
    assert fwd.cancel(address, port)


@pytest.mark.parametrize("forwarded,cancelled", [("", "0.0.0.0"), ("0.0.0.0", ""),
                                                 ("localhost", "127.0.0.1"),
                                                 ("127.0.0.1", "localhost")])
def test_paramiko_cancel_accepts_another_spelling_of_the_address(fwd, forwarded, cancelled):
    port = fwd.forward(forwarded, 0)
    assert fwd.cancel(cancelled, port)
    wait_until(lambda: connect_refused(port), 10, what="the listener to close")


def test_paramiko_cancel_of_something_never_forwarded_fails(fwd):
    port = fwd.forward("127.0.0.1", 0)
    assert not fwd.cancel("127.0.0.1", free_local_port())
    assert not fwd.cancel("10.1.2.3", port)  # another address, same port
    assert not connect_refused(port)  # the real one is untouched
    assert fwd.cancel("127.0.0.1", port)


def test_paramiko_open_tunnel_survives_a_cancel(fwd):
    port = fwd.forward("localhost", 0)
    with connect(port) as s:
        chan, _, _ = fwd.next()
        assert fwd.cancel("localhost", port)
        wait_until(lambda: connect_refused(port), 10, what="the listener to close")
        chan.sendall(b"still here")
        assert s.recv(10) == b"still here"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_paramiko_origin_on_a_dual_stack_listener_is_the_plain_peer_address(fwd, host):
    port = fwd.forward("", 0)  # "": every address family
    with connect(port, host) as s:
        chan, origin, _ = fwd.next()
        assert origin == (host, s.getsockname()[1])  # not ::ffff:127.0.0.1
        chan.close()


def test_paramiko_data_right_behind_the_open_confirmation_is_delivered(fwd):
    raw = fwd.transport.sock
    greeted = queue.Queue()

    def greet(chan, origin, server):
        chan.sendall(b"220 hello\r\n")  # in the same TCP segment as the confirmation
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        greeted.put(chan)

    port = fwd.transport.request_port_forward("127.0.0.1", 0, handler=greet)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    with connect(port, timeout=5) as s:
        chan = greeted.get(timeout=IO_TIMEOUT)
        assert s.recv(64) == b"220 hello\r\n"
        chan.close()


def test_paramiko_max_remote_listeners(sshd_factory, pm):
    d = sshd_factory.start("-maxRemoteListeners=1")
    f = Forwarded(pm.connect(d).get_transport())
    port = f.forward("127.0.0.1", 0)
    with pytest.raises(paramiko.SSHException):
        f.forward("127.0.0.1", 0)
    assert f.cancel("127.0.0.1", port)
    assert f.forward("127.0.0.1", 0) > 0


CANCELLED_STILL_MATCHES = (
    "BUG: a cancelled RemoteForwardListener whose tunnels are still open is not Finished(), "
    "so HandleGlobalRequest still matches it on cancel (and Count<> still counts it): a "
    "second cancel succeeds with nothing forwarded, and after the port is forwarded again a "
    "cancel 'succeeds' on the old listener while the new one keeps listening")


def test_paramiko_cancel_after_forwarding_the_port_again_closes_the_new_listener(fwd):
    port = fwd.forward("127.0.0.1", 0)
    with connect(port):  # a tunnel that stays open across the cancel
        chan, _, _ = fwd.next()  # (held: paramiko closes a channel it garbage-collects)
        assert fwd.cancel("127.0.0.1", port)
        wait_until(lambda: connect_refused(port), 10, what="the listener to close")
        assert not fwd.cancel("127.0.0.1", port), "cancelled twice"
        assert fwd.forward("127.0.0.1", port) == port
        assert fwd.cancel("127.0.0.1", port)
        assert connect_refused(port), "the new listener is still open after its cancel"


def test_paramiko_max_remote_listeners_counts_only_listening_ones(sshd_factory, pm):
    d = sshd_factory.start("-maxRemoteListeners=1")
    f = Forwarded(pm.connect(d).get_transport())
    port = f.forward("127.0.0.1", 0)
    with connect(port):  # a tunnel that stays open across the cancel
        chan, _, _ = f.next()
        assert f.cancel("127.0.0.1", port)
        assert f.forward("127.0.0.1", 0) > 0
