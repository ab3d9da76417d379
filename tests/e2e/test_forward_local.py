"""Local forwards (direct-tcpip, RFC 4254 §7.2): OpenSSH `ssh -N -L`, paramiko's
open_channel("direct-tcpip") and PuTTY's plink against targets the tests run on 127.0.0.1."""

import http.server
import os
import socket
import subprocess
import threading
import time

import paramiko
import pytest

from conftest import pm_exec, wait_until
from test_forward_support import (IO_TIMEOUT, connect, connection_processes, digest_after_eof, echo,
                                  echo_round_trip,
                                  exchange, free_local_port, is_listening, local_forward, recv_all,
                                  recv_some, refused_port, send_then_close, sha, source,
                                  crashed_connections)
from test_forward_support import forwards, targets  # noqa: F401 (fixtures)

MIB = 1 << 20


# ---------------------------------------------------------------------------------------------
# OpenSSH ssh -L


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_ssh_L_carries_32_mib_both_ways_intact(sshd, forwards, targets, host):
    t = targets(echo)
    _, lport = local_forward(forwards, sshd, t.port, host=host)
    payload = os.urandom(32 * MIB)
    with connect(lport) as s:
        back = exchange(s, payload)
    assert len(back) == len(payload)
    assert sha(back) == sha(payload)
    c = t.wait_accepted(1)
    assert c.done.wait(IO_TIMEOUT)
    assert (c.received, c.sent, t.accepted()) == (len(payload), len(payload), 1)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_target():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_ssh_L_by_name_localhost_reaches_an_http_server(sshd, forwards, http_target):
    _, lport = local_forward(forwards, sshd, http_target, host="localhost")
    for path in ("/one", "/two"):  # two tunnels: the name is resolved for each
        with connect(lport) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            reply, _ = recv_all(s)
        assert reply.startswith(b"HTTP/1.0 200"), reply
        assert reply.endswith(f"hello from {path}".encode()), reply
    sshd.wait_log("sshd.forward.local.opened", host="localhost", port=http_target)


def test_ssh_L_client_half_close_target_sees_eof_and_still_answers(sshd, forwards, targets):
    t = targets(digest_after_eof)
    _, lport = local_forward(forwards, sshd, t.port)
    payload = os.urandom(3 * MIB + 17)
    with connect(lport) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)  # the target must see EOF, yet the answer must come back
        answer, reset = recv_all(s)
    assert not reset
    assert answer == f"{sha(payload)} {len(payload)}\n".encode()
    assert t.conns[0].eof.is_set()


def target_half_close_then_client_sends(sshd, forwards, targets, late, read_pause):
    greeting = os.urandom(MIB)
    t = targets(send_then_close(greeting, read_pause=read_pause))
    _, lport = local_forward(forwards, sshd, t.port)
    with connect(lport) as s:
        got, reset = recv_all(s)  # EOF after the greeting: the target shut its write side
        assert not reset and got == greeting
        s.sendall(late)
        s.shutdown(socket.SHUT_WR)
        c = t.wait_accepted(1)
        assert c.done.wait(IO_TIMEOUT)
    assert (c.received, c.eof.is_set()) == (len(late), True)
    assert c.digest.hexdigest() == sha(late)


def test_ssh_L_target_half_close_client_sees_eof_and_can_still_send(sshd, forwards, targets):
    target_half_close_then_client_sends(sshd, forwards, targets, os.urandom(64 * 1024), 0)


def test_ssh_L_data_in_flight_when_the_client_closes_reaches_a_slow_target(sshd, forwards,
                                                                           targets):
    # The target half-closed first, so ssh sends EOF and CLOSE right after the last byte,
    # while the slow target still has megabytes to read.
    target_half_close_then_client_sends(sshd, forwards, targets, os.urandom(16 * MIB), 0.005)


def test_ssh_L_refused_target_shows_connect_failed(sshd, forwards, targets):
    f, lport = local_forward(forwards, sshd, refused_port(), verbose=True)
    with connect(lport) as s:
        data, _ = recv_all(s)
    assert data == b""
    wait_until(lambda: "open failed" in f.stderr(), 10, what="ssh to report the failure")
    assert "open failed: connect failed: Connection refused" in f.stderr(), f.stderr()
    assert f.proc.poll() is None  # the connection itself carries on
    e = sshd.wait_log("sshd.forward.local.refused")
    assert e["data"]["error"] == "Connection refused"


def test_ssh_L_unresolvable_name_fails_and_the_connection_keeps_working(sshd, forwards,
                                                                        targets):
    t = targets(echo)
    bad_port, good_port = free_local_port(), free_local_port()
    # An empty label: the resolver refuses the name without sending a DNS query.
    f = forwards(sshd, "-L", f"127.0.0.1:{bad_port}:no..such-host:80",
                 "-L", f"127.0.0.1:{good_port}:127.0.0.1:{t.port}", verbose=True)
    f.wait_listening(bad_port).wait_listening(good_port)
    with connect(bad_port) as s:
        assert recv_all(s)[0] == b""
    wait_until(lambda: "open failed" in f.stderr(), 40, what="ssh to report the failure")
    assert "open failed: connect failed: name lookup failed" in f.stderr(), f.stderr()
    with connect(good_port) as s:
        assert exchange(s, b"still fine") == b"still fine"
    # The lookup child is gone (reaped), only the connection process is left.
    wait_until(lambda: len(connection_processes(sshd)) == 1, 10, what="one connection process")


def test_100_concurrent_short_connections_through_one_tunnel(sshd, forwards, targets):
    t = targets(digest_after_eof)
    f, lport = local_forward(forwards, sshd, t.port)
    n = 100
    start = threading.Barrier(n)
    answers = [None] * n

    def one(i):
        payload = f"request {i} ".encode() * (i + 1)
        start.wait(IO_TIMEOUT)
        with connect(lport) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            reply, _ = recv_all(s)
        answers[i] = reply == f"{sha(payload)} {len(payload)}\n".encode() or reply

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    wrong = {i: a for i, a in enumerate(answers) if a is not True}
    assert not wrong, (wrong, f.proc.poll(), f.stderr(), crashed_connections(sshd))
    assert t.accepted() == n
    assert crashed_connections(sshd) == 0


# ---------------------------------------------------------------------------------------------
# paramiko


def open_tunnel(transport, port, host="127.0.0.1"):
    return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=30)


def channel_exchange(chan, payload):
    """Sends `payload` then EOF from a thread, reads until the channel's EOF."""
    chan.settimeout(IO_TIMEOUT)

    def send():
        chan.sendall(payload)
        chan.shutdown_write()

    th = threading.Thread(target=send, daemon=True)
    th.start()
    buf = bytearray()
    while data := chan.recv(MIB):
        buf += data
    th.join(IO_TIMEOUT)
    return bytes(buf)


def test_paramiko_direct_tcpip_data_both_ways(sshd, pm, targets):
    t = targets(echo)
    tr = pm.connect(sshd).get_transport()
    payload = os.urandom(4 * MIB)
    chan = open_tunnel(tr, t.port)
    assert channel_exchange(chan, payload) == payload
    wait_until(lambda: chan.closed, 10, what="the channel to close after both EOFs")
    c = t.wait_accepted(1)
    assert c.received == len(payload) and c.eof.is_set()


def test_paramiko_direct_tcpip_to_a_refused_port_is_connect_failed(sshd, pm):
    tr = pm.connect(sshd).get_transport()
    with pytest.raises(paramiko.ChannelException) as e:
        open_tunnel(tr, refused_port())
    assert e.value.code == 2  # SSH_OPEN_CONNECT_FAILED
    assert sshd.wait_log("sshd.forward.local.refused")["data"]["error"] == "Connection refused"
    assert pm_exec(pm.clients[0], "echo alive")[0] == b"alive\n"


def test_paramiko_max_tunnels_refuses_with_resource_shortage(sshd_factory, pm, targets):
    d = sshd_factory.start("-maxTunnels=2")
    t = targets(echo)
    tr = pm.connect(d).get_transport()
    a, b = open_tunnel(tr, t.port), open_tunnel(tr, t.port)
    with pytest.raises(paramiko.ChannelException) as e:
        open_tunnel(tr, t.port)
    assert e.value.code == 4  # SSH_OPEN_RESOURCE_SHORTAGE
    assert channel_exchange(a, b"a") == b"a"
    wait_until(lambda: a.closed, 10, what="tunnel a to close")

    def third_opens():
        try:
            return open_tunnel(tr, t.port)
        except paramiko.ChannelException:
            return None

    c = wait_until(third_opens, 10, what="a free tunnel slot after one closed")
    assert channel_exchange(c, b"c") == b"c"
    assert channel_exchange(b, b"b") == b"b"


def test_a_stalled_tunnel_holds_back_only_itself(sshd, pm, targets):
    """One connection, many tunnels: a target that stops reading and a client that stops
    reading each stall only their own tunnel; 20 other tunnels and a session keep flowing."""
    total = 64 * MIB  # far more than every buffer on the way: it can never all be taken
    release = threading.Event()

    def read_after_release(c, target):
        release.wait(IO_TIMEOUT * 2)
        while recv_some(c):
            pass

    stall = targets(read_after_release)
    flood = targets(source(total))
    peers = targets(echo)
    client = pm.connect(sshd)
    tr = client.get_transport()

    # 1: the client writes into a target that never reads.
    into_stall = open_tunnel(tr, stall.port)
    pushed = [0]

    def push():
        block = b"s" * 32768
        try:
            while pushed[0] < total:
                into_stall.sendall(block)
                pushed[0] += len(block)
        except (OSError, EOFError, socket.timeout):
            pass

    threading.Thread(target=push, daemon=True).start()
    # 2: the target floods a tunnel the client never reads.
    unread = open_tunnel(tr, flood.port)
    flooder = flood.wait_accepted(1)
    wait_until(lambda: pushed[0] > MIB and flooder.sent > MIB, 30, what="both stalls to fill")

    # 20 tunnels with traffic both ways, and a session, at the same time.
    n = 20
    ok = [None] * n

    def run(i):
        payload = os.urandom(256 * 1024 + i)
        ok[i] = channel_exchange(open_tunnel(tr, peers.port), payload) == payload

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for w in workers:
        w.start()
    assert pm_exec(client, "echo ok", timeout=60)[0] == b"ok\n"
    for w in workers:
        w.join(90)
    assert ok == [True] * n, crashed_connections(sshd)

    # Both stalls are still held back once the buffers on the way are full: nothing was
    # buffered without bound.
    before = settled(lambda: (pushed[0], flooder.sent))
    assert pushed[0] < total and flooder.sent < total, before

    # And they were only held back: both move again once their readers read.
    release.set()
    unread.settimeout(IO_TIMEOUT)
    got = 0
    while got < 8 * MIB:
        got += len(unread.recv(MIB))
    wait_until(lambda: flooder.sent > before[1] + 4 * MIB, 30, what="the flood to resume")
    wait_until(lambda: pushed[0] > before[0] + 4 * MIB, 30, what="the stalled writer to resume")


def settled(read, quiet=1.0, timeout=30):
    """Waits until read() stops changing for `quiet` seconds; returns its value."""
    last, since = read(), time.monotonic()
    deadline = since + timeout
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, f"still moving after {timeout}s: {last}"
        time.sleep(0.1)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
    return last


# ---------------------------------------------------------------------------------------------
# PuTTY plink


@pytest.fixture(scope="module")
def forward_ppk(keys):
    path = os.path.join(keys.dir, "client_ed25519_forward.ppk")
    if not os.path.exists(path):
        subprocess.run(["puttygen", keys.client_ed25519, "-O", "private", "-o", path],
                       check=True, capture_output=True, timeout=60)
    return path


def test_plink_L_carries_data_both_ways(sshd, keys, forward_ppk, targets):
    t = targets(echo)
    lport = free_local_port()
    argv = ["plink", "-batch", "-ssh", "-N", "-P", str(sshd.port), "-i", forward_ppk,
            "-hostkey", keys.host_fingerprint(keys.host_rsa),
            "-L", f"127.0.0.1:{lport}:127.0.0.1:{t.port}", "vcap@127.0.0.1"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        def ready():
            assert p.poll() is None, p.communicate(timeout=5)
            return is_listening(lport)

        wait_until(ready, 30, what="plink's -L port")
        payload = os.urandom(8 * MIB)
        # Every byte back before the half-close: PuTTY destroys a forwarding when the
        # server's CLOSE arrives and drops what it had not yet written to the local socket
        # (portfwd's sk_close clears its output buffer), whatever the server; with a slow
        # local reader the tail of an `exchange` (send all, half-close, read) was lost.
        with connect(lport) as s:
            back = echo_round_trip(s, payload)
        assert (len(back), sha(back)) == (len(payload), sha(payload))
        sshd.wait_log("sshd.forward.local.opened", port=t.port)
    finally:
        p.kill()
        p.wait(10)
