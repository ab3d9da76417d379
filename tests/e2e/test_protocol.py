"""Authentication and bad input on the wire: wrong keys, `none` auth, garbage, silent clients,
unknown and malformed requests, unknown channel types (issue 2, "Sessions": Auth, Limits)."""

import socket
import struct
import threading
import time

import paramiko
import pytest

from conftest import RawReplies, daemon_user, pm_exec, read_channel, wait_until


# ---------------------------------------------------------------------------------------------
# Authentication


def test_wrong_client_key_is_denied_and_daemon_keeps_serving(sshd, ssh, keys):
    r = ssh.run(sshd, "echo in", key=keys.wrong_ed25519)
    assert r.returncode == 255
    assert b"Permission denied (publickey)" in r.stderr
    assert r.stdout == b""
    r = ssh.run(sshd, "echo in", key=keys.wrong_rsa)
    assert r.returncode == 255
    # The right key still works afterwards, on the same daemon.
    r = ssh.run(sshd, "echo in")
    assert (r.returncode, r.stdout) == (0, b"in\n")


def test_paramiko_wrong_key_raises_authentication_exception(sshd, pm, keys):
    with pytest.raises(paramiko.AuthenticationException):
        pm.connect(sshd, key=keys.wrong_ed25519)
    assert pm_exec(pm.connect(sshd), "echo ok")[0] == b"ok\n"


@pytest.mark.parametrize("algo", ["rsa-sha2-512", "rsa-sha2-256"])
def test_rsa_client_key_with_sha2_signatures(sshd_factory, ssh, keys, algo):
    d = sshd_factory.start(authorized_key="rsa")
    r = ssh.run(d, "echo rsa", key=keys.client_rsa,
                opts=("-o", f"PubkeyAcceptedAlgorithms={algo}"))
    assert (r.returncode, r.stdout) == (0, b"rsa\n"), r.stderr
    # The ed25519 key is not the authorized one here.
    assert ssh.run(d, "true", key=keys.client_ed25519).returncode == 255


@pytest.mark.parametrize("user", ["vcap", "root", "some.user-name_1", "x" * 64])
def test_any_user_name_is_accepted_and_changes_nothing(sshd, ssh, user):
    r = ssh.run(sshd, "echo $USER", user=user)
    assert (r.returncode, r.stdout.decode().strip()) == (0, daemon_user()[0])


def test_authorized_key_options_and_comment_are_ignored(sshd_factory, ssh, keys):
    line = ('command="echo forced",no-pty,from="10.9.9.9" ' + keys.pub(keys.client_ed25519)
            + " with a long comment")
    d = sshd_factory.start(authorized_key=line)
    r = ssh.run(d, "echo mine")
    assert (r.returncode, r.stdout) == (0, b"mine\n")


def test_none_auth_with_allow_unauthenticated_clients(sshd_factory, ssh, keys):
    d = sshd_factory.start("-allowUnauthenticatedClients", authorized_key=None)
    t = paramiko.Transport(("127.0.0.1", d.port))
    try:
        t.start_client(timeout=15)
        t.auth_none("anyone")
        assert t.is_authenticated()
        chan = t.open_session(timeout=15)
        chan.exec_command("echo none-ok")
        assert read_channel(chan)[0] == b"none-ok\n"
    finally:
        t.close()
    # OpenSSH with no usable key at all gets in too.
    r = ssh.run(d, "echo in", opts=("-o", "PubkeyAuthentication=no"))
    assert (r.returncode, r.stdout) == (0, b"in\n")


def test_none_auth_refused_without_the_flag(sshd, ssh):
    t = paramiko.Transport(("127.0.0.1", sshd.port))
    try:
        t.start_client(timeout=15)
        with pytest.raises(paramiko.BadAuthenticationType) as e:
            t.auth_none("anyone")
        assert e.value.allowed_types == ["publickey"]
        assert not t.is_authenticated()
    finally:
        t.close()
    r = ssh.run(sshd, "echo in", opts=("-o", "PubkeyAuthentication=no"))
    assert r.returncode == 255
    assert b"Permission denied (publickey)" in r.stderr


def test_password_and_keyboard_interactive_are_not_offered(sshd):
    t = paramiko.Transport(("127.0.0.1", sshd.port))
    try:
        t.start_client(timeout=15)
        with pytest.raises(paramiko.BadAuthenticationType):
            t.auth_password("vcap", "secret")
    finally:
        t.close()


# ---------------------------------------------------------------------------------------------
# Garbage and silent clients


def _read_until_closed(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    t0 = time.monotonic()
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return data, time.monotonic() - t0, "eof"
            data += chunk
    except ConnectionResetError:
        return data, time.monotonic() - t0, "reset"
    except socket.timeout:
        return data, time.monotonic() - t0, "timeout"


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                                     bytes(range(256)) * 256,
                                     b"SSH-2.0-fake\r\n" + b"\xff" * 5000,
                                     b"SSH-1.5-old\r\n"],
                         ids=["http", "binary-64k", "ssh2-then-junk", "ssh1"])
def test_garbage_on_the_port_is_dropped_and_daemon_keeps_serving(sshd, ssh, garbage):
    with socket.create_connection(("127.0.0.1", sshd.port), timeout=10) as s:
        try:
            s.sendall(garbage)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, elapsed, how = _read_until_closed(s, 10)
    assert how in ("eof", "reset"), "the daemon kept a garbage connection open"
    assert data.startswith(b"SSH-2.0-") or data == b""
    assert sshd.alive()
    assert ssh.run(sshd, "echo fine").stdout == b"fine\n"


def test_silent_client_is_dropped_after_login_grace_time(sshd_factory, ssh):
    d = sshd_factory.start("-loginGraceTime=2s")
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        data, elapsed, how = _read_until_closed(s, 10)
    assert how in ("eof", "reset")
    assert data.startswith(b"SSH-2.0-")
    assert 1.5 <= elapsed <= 8, elapsed
    assert ssh.run(d, "echo fine").stdout == b"fine\n"


def test_unauthenticated_client_is_dropped_after_login_grace_time(sshd_factory):
    # Key exchange done, but no authentication within -loginGraceTime.
    d = sshd_factory.start("-loginGraceTime=4s")
    t = paramiko.Transport(("127.0.0.1", d.port))
    try:
        t.start_client(timeout=15)
        t0 = time.monotonic()
        wait_until(lambda: not t.is_active(), 10, what="the server to drop the connection")
        assert time.monotonic() - t0 <= 10
    finally:
        t.close()


def test_login_grace_time_does_not_end_authenticated_connections(sshd_factory, pm):
    d = sshd_factory.start("-loginGraceTime=3s")  # time for paramiko's log-in under load
    c = pm.connect(d)
    time.sleep(4)
    assert pm_exec(c, "echo alive")[0] == b"alive\n"


def test_many_garbage_connections_do_not_leak(sshd):
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", sshd.port), timeout=10) as s:
            s.sendall(b"\x00" * 100 + b"\r\n")
            _read_until_closed(s, 10)
    wait_until(lambda: len(__import__("conftest").descendants(sshd.pid)) == 0, 10,
               what="no connection processes left")


# ---------------------------------------------------------------------------------------------
# Unknown / malformed requests, subsystems, channel types


@pytest.mark.parametrize("name,fields", [
    ("foo@example.com", ()),
    ("x11-req", (False, "MIT-MAGIC-COOKIE-1", "0123456789abcdef", 0)),
    ("auth-agent-req@openssh.com", ()),
    ("xon-xoff", (True,)),
])
def test_unknown_channel_request_gets_failure_and_channel_stays_usable(sshd, pm, name, fields):
    c = pm.connect(sshd)
    t = c.get_transport()
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    assert raw.request(chan, name, *fields) is False
    chan.exec_command("echo usable")
    assert read_channel(chan)[0] == b"usable\n"
    assert chan.recv_exit_status() == 0


MALFORMED = [
    ("exec", b""),                               # no command string
    ("exec", b"\x00\x00\x00\x10abc"),            # string length past the end
    ("pty-req", b"\x00\x00"),                    # truncated
    ("env", b"\x00\x00\x00\x04ONLY"),            # name without value
    ("subsystem", b""),                          # no name
]


@pytest.mark.parametrize("name,body", MALFORMED, ids=[f"{n}-{i}" for i, (n, _) in
                                                      enumerate(MALFORMED)])
def test_malformed_channel_request_gets_failure_reply(sshd, pm, name, body):
    c = pm.connect(sshd)
    t = c.get_transport()
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    assert raw.request(chan, name, raw=body, timeout=10) is False


@pytest.mark.parametrize("name,body", MALFORMED, ids=[f"{n}-{i}" for i, (n, _) in
                                                      enumerate(MALFORMED)])
def test_malformed_channel_request_leaves_connection_usable(sshd, pm, name, body):
    c = pm.connect(sshd)
    t = c.get_transport()
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    raw.request(chan, name, raw=body, want_reply=False)
    chan.exec_command("echo usable")
    assert read_channel(chan)[0] == b"usable\n"
    assert pm_exec(c, "echo ok")[0] == b"ok\n"


def test_second_exec_on_a_started_channel_fails(sshd, pm):
    c = pm.connect(sshd)
    t = c.get_transport()
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    chan.exec_command("read x; echo first $x")
    assert raw.request(chan, "exec", "echo second") is False
    assert raw.request(chan, "shell") is False
    assert raw.request(chan, "pty-req", "xterm", 80, 24, 0, 0, b"\x00") is False
    assert raw.request(chan, "env", "LATE", "1") is False
    chan.sendall(b"x\n")
    chan.shutdown_write()
    assert read_channel(chan)[0] == b"first x\n"


def test_unknown_subsystem_fails_and_connection_stays_usable(sshd, pm):
    c = pm.connect(sshd)
    chan = c.get_transport().open_session(timeout=15)
    with pytest.raises(paramiko.SSHException):
        chan.invoke_subsystem("nope")
    assert pm_exec(c, "echo still-here")[0] == b"still-here\n"
    sshd.wait_log("sshd.session.unsupported-subsystem", subsystem="nope")


@pytest.mark.parametrize("name", ["sftp\x00junk", "sftp\x00", "sftp ", "SFTP"])
def test_subsystem_name_must_match_exactly(sshd, pm, name):
    # libssh hands the name over as a C string; hatch's patch keeps its length, so a name that
    # only starts like "sftp" (before a NUL byte) is refused, and sftp itself still works.
    c = pm.connect(sshd)
    t = c.get_transport()
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    assert raw.request(chan, "subsystem", name) is False
    sshd.wait_log("sshd.session.unsupported-subsystem", subsystem=name)
    sftp = paramiko.SFTPClient.from_transport(t)
    assert sftp.normalize(".")
    sftp.close()


def test_window_change_without_pty_fails_politely(sshd, pm):
    c = pm.connect(sshd)
    t = c.get_transport()
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    assert raw.request(chan, "window-change", 100, 40, 0, 0) is False
    chan.exec_command("echo fine")
    assert read_channel(chan)[0] == b"fine\n"


@pytest.mark.parametrize("kind,args", [
    ("x11", {"src_addr": ("127.0.0.1", 6000)}),
    ("made-up@example.com", {}),
    ("auth-agent@openssh.com", {}),
    ("forwarded-tcpip", {"dest_addr": ("127.0.0.1", 1), "src_addr": ("127.0.0.1", 2)}),
])
def test_unknown_channel_type_is_refused_and_connection_works(sshd, pm, kind, args):
    c = pm.connect(sshd)
    t = c.get_transport()
    with pytest.raises(paramiko.ChannelException):
        t.open_channel(kind, timeout=10, **args)
    assert pm_exec(c, "echo ok")[0] == b"ok\n"


def test_global_requests_get_a_reply_and_connection_works(sshd, pm):
    c = pm.connect(sshd)
    t = c.get_transport()
    assert t.global_request("made-up@example.com", wait=True) is None  # failure
    t.global_request("keepalive@openssh.com", wait=True)  # any reply will do
    assert pm_exec(c, "echo ok")[0] == b"ok\n"


def test_openssh_x11_and_agent_forwarding_requests_are_refused_harmlessly(sshd, ssh):
    r = ssh.run(sshd, "echo ok", opts=("-A", "-o", "ForwardX11=yes", "-o",
                                       "ForwardX11Trusted=yes"))
    assert (r.returncode, r.stdout) == (0, b"ok\n")


# ---------------------------------------------------------------------------------------------
# A request that crosses the server's CLOSE on the wire


def record_replies_and_closes(transport):
    """Records (type, recipient channel) of every SUCCESS, FAILURE and CLOSE on a channel
    that the client reads, in order, whether or not paramiko still has the channel."""
    incoming = []
    read = transport.packetizer.read_message

    def recording_read():
        ptype, m = read()
        if ptype in (paramiko.common.MSG_CHANNEL_SUCCESS, paramiko.common.MSG_CHANNEL_FAILURE,
                     paramiko.common.MSG_CHANNEL_CLOSE):
            incoming.append((ptype, struct.unpack(">I", m.asbytes()[:4])[0]))
        return ptype, m
    transport.packetizer.read_message = recording_read
    return incoming


def send_channel_request(transport, chan, name, want_reply):
    m = paramiko.Message()
    m.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
    m.add_int(chan.remote_chanid)
    m.add_string(name)
    m.add_boolean(want_reply)
    transport._send_user_message(m)


def test_channel_keepalive_without_want_reply_gets_no_reply(sshd, pm):
    c = pm.connect(sshd)
    tr = c.get_transport()
    incoming = record_replies_and_closes(tr)
    chan = tr.open_session(timeout=10)
    chan.exec_command("read line; echo got $line")
    send_channel_request(tr, chan, "keepalive@openssh.com", want_reply=False)
    chan.sendall(b"x\n")
    assert read_channel(chan)[0] == b"got x\n"
    # exec's SUCCESS, then the server's CLOSE: nothing for the keepalive.
    assert [t for t, r in incoming if r == chan.chanid] == [
        paramiko.common.MSG_CHANNEL_SUCCESS, paramiko.common.MSG_CHANNEL_CLOSE], incoming
    # Asked for, it gets its FAILURE (no channel keepalive is known).
    chan = tr.open_session(timeout=10)
    raw = RawReplies(tr)
    assert raw.request(chan, "keepalive@openssh.com") is False


@pytest.mark.parametrize("kind", ["direct-tcpip", "session"])
def test_request_crossing_the_servers_close_gets_no_reply(sshd, pm, kind):
    """A client sends a request with want-reply (PuTTY's winadj, sent while data flows) just
    as the server closes the channel. Once the client has the server's CLOSE, the channel is
    gone for it: a late SUCCESS/FAILURE made plink end the connection ("Received
    SSH2_MSG_CHANNEL_FAILURE for nonexistent channel") and lose the tunnel's last bytes. The
    test holds paramiko's handling of the CLOSE, sends the request then, and checks that no
    reply for that channel ever comes."""
    c = pm.connect(sshd)
    tr = c.get_transport()
    incoming = record_replies_and_closes(tr)
    got_close, release = threading.Event(), threading.Event()
    table = dict(type(tr)._channel_handler_table)
    handle_close = table[paramiko.common.MSG_CHANNEL_CLOSE]

    def held_close(chan, m):
        got_close.set()
        release.wait(10)
        handle_close(chan, m)
    table[paramiko.common.MSG_CHANNEL_CLOSE] = held_close
    tr._channel_handler_table = table
    if kind == "session":
        chan = tr.open_session(timeout=10)
        chan.exec_command("true")  # exit-status, EOF, CLOSE
    else:
        with socket.socket() as target:  # accepts, then closes: EOF; with ours, CLOSE
            target.bind(("127.0.0.1", 0))
            target.listen()
            chan = tr.open_channel("direct-tcpip", target.getsockname(), ("127.0.0.1", 0),
                                   timeout=10)
            target.accept()[0].close()
            chan.shutdown_write()
    try:
        assert got_close.wait(10), "the server did not close the channel"
        # Sent before our CLOSE, which paramiko sends once released: the server reads it
        # after its own CLOSE and before ours, as it would a winadj in flight.
        send_channel_request(tr, chan, "winadj@putty.projects.tartarus.org", want_reply=True)
    finally:
        release.set()
    # The server answers in order: a reply to that request would come before this one's.
    assert pm_exec(c, "echo ok")[0] == b"ok\n"
    mine = [ptype for ptype, recipient in incoming if recipient == chan.chanid]
    assert paramiko.common.MSG_CHANNEL_CLOSE in mine, incoming
    after_close = mine[mine.index(paramiko.common.MSG_CHANNEL_CLOSE) + 1:]
    assert after_close == [], f"a reply after the server's CLOSE: {incoming}"
