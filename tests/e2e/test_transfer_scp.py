"""scp in both modes (SFTP, the default since OpenSSH 9.0, and legacy `scp -O`, served by the
daemon's built-in scp), PuTTY's pscp, rsync over ssh, and hand-made legacy scp uploads that
try to write outside the target."""

import os
import shlex
import stat
import subprocess

import pytest

from conftest import read_channel
from test_transfer_support import (REMOTE, area, clients, daemon, ppk,  # noqa: F401
                                   give_to_daemon_user, start_daemon)

MODES = pytest.mark.parametrize("legacy", [False, True], ids=["sftp", "legacy"])


def tree(root):
    """{relative path: file bytes, or "dir", or ("link", target)} below root."""
    out = {}
    for base, dirs, files in os.walk(root):
        for name in dirs:
            path = os.path.join(base, name)
            out[os.path.relpath(path, root)] = ("link", os.readlink(path)) \
                if os.path.islink(path) else "dir"
        for name in files:
            path = os.path.join(base, name)
            if os.path.islink(path):
                out[os.path.relpath(path, root)] = ("link", os.readlink(path))
            else:
                with open(path, "rb") as f:
                    out[os.path.relpath(path, root)] = f.read()
    return out


def make_tree(put):
    """A tree with nesting, an empty file and a binary file (callers add an empty dir)."""
    put("tree/top.txt", b"top\n")
    put("tree/empty.txt", b"")
    put("tree/a/b/c/deep.bin", bytes(range(256)) * 300)
    put("tree/a/side.txt", b"side\n")
    return "tree"


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}: {r.stdout}\n{r.stderr}"
    return r


# ---------------------------------------------------------------------------------------------
# OpenSSH scp, both modes


@MODES
def test_scp_single_file_both_directions(clients, daemon, area, legacy):
    up = area.put_local("up.txt", b"up\n" * 1000)
    area.put_remote("down.txt", b"down\n" * 1000)
    ok(clients.scp(daemon, up, REMOTE + "uploaded.txt", legacy=legacy))
    ok(clients.scp(daemon, REMOTE + "down.txt", area.l("got.txt"), legacy=legacy))
    assert open(area.r("uploaded.txt"), "rb").read() == b"up\n" * 1000
    assert open(area.l("got.txt"), "rb").read() == b"down\n" * 1000
    want = "scp" if legacy else "subsystem"
    daemon.wait_log("sshd.session.started", type=want)


@MODES
def test_scp_tilde_paths_are_the_session_home(clients, daemon, area, legacy):
    up = area.put_local("up.txt", b"tilde")
    area.put_remote("sub/down.txt", b"down")
    ok(clients.scp(daemon, up, REMOTE + "~/sub/", legacy=legacy))
    ok(clients.scp(daemon, REMOTE + "~/sub/down.txt", area.local, legacy=legacy))
    assert open(area.r("sub", "up.txt"), "rb").read() == b"tilde"
    assert open(area.l("down.txt"), "rb").read() == b"down"


@MODES
def test_scp_recursive_tree_both_directions(clients, daemon, area, legacy):
    make_tree(area.put_local)
    os.mkdir(area.l("tree", "void"))
    ok(clients.scp(daemon, "-r", area.l("tree"), REMOTE, legacy=legacy))
    assert tree(area.r("tree")) == tree(area.l("tree"))
    make_tree(lambda rel, data: area.put_remote("r" + rel, data))
    os.mkdir(area.r("rtree", "void"))
    ok(clients.scp(daemon, "-r", REMOTE + "rtree", area.local, legacy=legacy))
    assert tree(area.l("rtree")) == tree(area.r("rtree"))
    assert tree(area.l("rtree")) != {}


@MODES
def test_scp_p_preserves_times_and_modes(clients, daemon, area, legacy):
    up = area.put_local("up.txt", b"x", mode=0o751)
    os.utime(up, (1_000_000_000, 1_100_000_000))
    down = area.put_remote("down.txt", b"y", mode=0o604)
    os.utime(down, (1_200_000_000, 1_300_000_000))
    ok(clients.scp(daemon, "-p", up, REMOTE, legacy=legacy))
    ok(clients.scp(daemon, "-p", REMOTE + "down.txt", area.local, legacy=legacy))
    st = os.stat(area.r("up.txt"))
    assert stat.S_IMODE(st.st_mode) == 0o751
    assert (int(st.st_atime), int(st.st_mtime)) == (1_000_000_000, 1_100_000_000)
    st = os.stat(area.l("down.txt"))
    assert stat.S_IMODE(st.st_mode) == 0o604
    assert (int(st.st_atime), int(st.st_mtime)) == (1_200_000_000, 1_300_000_000)


@MODES
def test_scp_without_p_new_files_get_the_umask(clients, sshd_factory, area, legacy):
    d = start_daemon(sshd_factory, area, umask=0o027)
    up = area.put_local("up.txt", b"x", mode=0o666)
    area.put_local("dir/in.txt", b"y", mode=0o666)
    os.chmod(area.l("dir"), 0o777)
    ok(clients.scp(d, up, REMOTE, legacy=legacy))
    ok(clients.scp(d, "-r", area.l("dir"), REMOTE, legacy=legacy))
    assert stat.S_IMODE(os.stat(area.r("up.txt")).st_mode) == 0o640
    # In SFTP mode OpenSSH's scp sets a new directory's mode to the local one afterwards
    # (setstat, which no umask touches), whatever the server.
    assert stat.S_IMODE(os.stat(area.r("dir")).st_mode) == (0o750 if legacy else 0o777)
    assert stat.S_IMODE(os.stat(area.r("dir", "in.txt")).st_mode) == 0o640


NASTY = "it's a \"quoted\" name with  spaces.txt"


@MODES
def test_scp_names_with_spaces_and_quotes(clients, daemon, area, legacy):
    area.put_local(f"d/{NASTY}", b"nasty up")
    area.put_remote(f"rd/{NASTY}", b"nasty down")
    os.mkdir(area.r("in"))
    give_to_daemon_user(area.remote)
    # A legacy scp sends remote paths to the remote shell unquoted: the user quotes them, and
    # -T turns off the client's check that received names match the (quoted) request.
    def remote(path):
        return REMOTE + (shlex.quote(path) if legacy else path)
    get = ("-T",) if legacy else ()
    ok(clients.scp(daemon, area.l("d", NASTY), remote("in/"), legacy=legacy))
    assert open(area.r("in", NASTY), "rb").read() == b"nasty up"
    ok(clients.scp(daemon, *get, remote(f"rd/{NASTY}"), area.l("got"), legacy=legacy))
    assert open(area.l("got"), "rb").read() == b"nasty down"
    ok(clients.scp(daemon, "-r", area.l("d"), remote("in/copy of d"), legacy=legacy))
    assert open(area.r("in", "copy of d", NASTY), "rb").read() == b"nasty up"
    ok(clients.scp(daemon, *get, "-r", remote("rd"), area.l("rd copy"), legacy=legacy))
    assert open(area.l("rd copy", NASTY), "rb").read() == b"nasty down"


@MODES
def test_scp_remote_glob(clients, daemon, area, legacy):
    for name in ("a.txt", "b.txt", "c.log"):
        area.put_remote(f"g/{name}", name.encode())
    ok(clients.scp(daemon, REMOTE + "g/*.txt", area.local, legacy=legacy))
    assert sorted(os.listdir(area.local)) == ["a.txt", "b.txt"]


@MODES
def test_scp_missing_remote_source_is_reported_and_the_others_copied(clients, daemon, area,
                                                                     legacy):
    area.put_remote("s/a", b"a")
    area.put_remote("s/b", b"b")
    r = clients.scp(daemon, REMOTE + "s/a", REMOTE + "s/missing", REMOTE + "s/b", area.local,
                    legacy=legacy)
    assert r.returncode == 1, r
    assert "s/missing" in r.stderr and "No such file" in r.stderr, r.stderr
    assert sorted(os.listdir(area.local)) == ["a", "b"]


def test_scp_legacy_missing_operand_in_one_source_run(clients, daemon, area):
    """Several operands in one `scp -f` (the remote shell splits them): the built-in sends the
    others and reports the missing one as scp does (`\\x01scp: <name>: ...`, exit 1)."""
    area.put_remote("s/a", b"a")
    area.put_remote("s/b", b"b")
    # -T: the client would otherwise check received names against the whole string.
    r = clients.scp(daemon, "-T", REMOTE + "s/a s/missing s/b", area.local, legacy=True)
    assert r.returncode == 1, r
    assert "scp: s/missing: No such file or directory" in r.stderr, r.stderr
    assert sorted(os.listdir(area.local)) == ["a", "b"]
    e = daemon.wait_log("sshd.session.exited", command="scp -f s/a s/missing s/b")
    assert e["data"]["status"] == 1


@MODES
def test_scp_missing_local_source_still_uploads_the_others(clients, daemon, area, legacy):
    a = area.put_local("a", b"a")
    b = area.put_local("b", b"b")
    r = clients.scp(daemon, a, area.l("missing"), b, REMOTE, legacy=legacy)
    assert "missing" in r.stderr and "No such file" in r.stderr
    assert open(area.r("a"), "rb").read() == b"a"
    if legacy:
        assert r.returncode == 1, r
        assert open(area.r("b"), "rb").read() == b"b"
    else:
        # OpenSSH's scp in SFTP mode stops at the first missing local source (as against
        # OpenSSH's own sftp-server too).
        assert r.returncode == 255, r


def test_scp_legacy_is_built_in_not_found_on_path(clients, ssh, daemon, area):
    """With PATH=/nonexistent in the session no shell could find an scp binary; the upload
    and download still work, and the daemon logs the session as its built-in scp."""
    no_path = ("-o", "SetEnv=PATH=/nonexistent")
    r = ssh.run(daemon, "scp -V", opts=no_path, text=True)
    assert r.returncode == 127, r  # the shell finds no scp: the control for what follows
    up = area.put_local("up.txt", b"built in")
    ok(clients.scp(daemon, up, REMOTE + "up.txt", legacy=True, extra=no_path))
    ok(clients.scp(daemon, REMOTE + "up.txt", area.l("back.txt"), legacy=True, extra=no_path))
    assert open(area.l("back.txt"), "rb").read() == b"built in"
    assert daemon.wait_log("sshd.session.started", type="scp", command="scp -t up.txt")
    assert daemon.wait_log("sshd.session.started", type="scp", command="scp -f up.txt")


# ---------------------------------------------------------------------------------------------
# Legacy scp: names from the peer must not escape the target


def sink_reply(client, command, lines, timeout=15):
    """Runs `command` (an `scp -t`) and sends each control line after the previous reply;
    returns (replies, stdout rest, exit status)."""
    chan = client.get_transport().open_session(timeout=timeout)
    chan.settimeout(timeout)
    chan.exec_command(command)
    replies = []
    assert chan.recv(1) == b"\0"  # the sink is ready
    for line in lines:
        chan.sendall(line)
        reply = chan.recv(1)
        replies.append(reply)
        if reply != b"\0":
            break
    chan.shutdown_write()
    rest, _ = read_channel(chan, timeout)
    assert chan.status_event.wait(timeout)
    return replies, rest, chan.exit_status


ESCAPES = [
    [b"C0644 3 ../evil\n"],
    [b"C0644 3 ..\n"],
    [b"C0644 3 sub/evil\n"],
    [b"C0644 3 /tmp/evil\n"],
    [b"C0644 3 .\n"],
    [b"D0755 0 ..\n"],
    [b"D0755 0 ../evil\n"],
    [b"D0755 0 a/b\n"],
    [b"D0755 0 ok\n", b"C0644 3 ../evil\n"],
    [b"D0755 0 ok\n", b"D0755 0 ../../evil\n"],
]


@pytest.mark.parametrize("lines", ESCAPES, ids=[b"|".join(x).decode().replace("\n", "")
                                                for x in ESCAPES])
def test_scp_legacy_sink_refuses_names_that_escape(pm, daemon, area, lines):
    os.makedirs(area.r("outer", "target", "sub"))
    give_to_daemon_user(area.remote)
    before = tree(area.remote)
    client = pm.connect(daemon)
    replies, rest, status = sink_reply(client, f"scp -r -t {area.r('outer', 'target')}", lines)
    assert replies[-1] in (b"\x01", b"\x02"), (replies, rest)
    assert status == 1
    after = tree(area.remote)
    # Only the accepted directory line may have made something, and only inside the target.
    assert set(after) - set(before) <= {os.path.join("outer", "target", "ok")}, after
    assert not os.path.exists("/tmp/evil")


def test_scp_legacy_sink_error_text_and_normal_line_still_work(pm, daemon, area):
    """The refusal is scp's protocol error (`\\x01scp: ...\\n`), and the same exchange with a
    plain name succeeds (so the test above is not passing because everything fails)."""
    os.makedirs(area.r("target"))
    give_to_daemon_user(area.remote)
    client = pm.connect(daemon)
    replies, rest, status = sink_reply(client, f"scp -t {area.r('target')}",
                                       [b"C0644 3 ../evil\n"])
    assert replies == [b"\x01"] and rest.startswith(b"scp: ") and rest.endswith(b"\n"), rest
    replies, rest, status = sink_reply(client, f"scp -t {area.r('target')}",
                                       [b"C0644 3 good\n", b"abc\0"])
    assert replies == [b"\0", b"\0"] and status == 0, (replies, rest)
    assert open(area.r("target", "good"), "rb").read() == b"abc"


# ---------------------------------------------------------------------------------------------
# PuTTY pscp


def pscp(daemon, keys, ppk, *args):
    return subprocess.run(["pscp", "-batch", "-P", str(daemon.port), "-i", ppk,
                           "-hostkey", keys.host_fingerprint(keys.host_rsa), *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("protocol", ["-scp", "-sftp"])
def test_pscp_put_get(daemon, area, keys, ppk, protocol):
    up = area.put_local("up.txt", b"pscp up\n" * 100)
    area.put_remote("down.txt", b"pscp down\n" * 100)
    ok(pscp(daemon, keys, ppk, protocol, up, REMOTE + "up.txt"))
    ok(pscp(daemon, keys, ppk, protocol, REMOTE + "down.txt", area.l("got.txt")))
    assert open(area.r("up.txt"), "rb").read() == b"pscp up\n" * 100
    assert open(area.l("got.txt"), "rb").read() == b"pscp down\n" * 100
    make_tree(area.put_local)
    # Into an existing directory: pscp -sftp -r cannot create the top target (as against
    # OpenSSH's sftp-server too: it opens the new directory as a file).
    os.mkdir(area.r("in"))
    give_to_daemon_user(area.remote)
    ok(pscp(daemon, keys, ppk, protocol, "-r", area.l("tree"), REMOTE + "in"))
    assert tree(area.r("in", "tree")) == tree(area.l("tree"))
    want = "scp" if protocol == "-scp" else "subsystem"
    daemon.wait_log("sshd.session.started", type=want)


def test_pscp_ls(daemon, area, keys, ppk):
    area.put_remote("l/one.txt", b"1")
    area.put_remote("l/two.txt", b"22")
    r = ok(pscp(daemon, keys, ppk, "-ls", REMOTE + "l"))
    names = [line.split()[-1] for line in r.stdout.splitlines() if line.strip()]
    assert {"one.txt", "two.txt"} <= set(names), r.stdout


# ---------------------------------------------------------------------------------------------
# rsync (an exec of `rsync --server`: needs rsync in the rootfs, as here)


def test_rsync_tree_both_directions_and_incremental(clients, daemon, area):
    make_tree(area.put_local)
    ok(clients.rsync(daemon, "-a", area.l("tree") + "/", REMOTE + "rtree/"))
    assert tree(area.r("rtree")) == tree(area.l("tree"))
    # Second run after one change: only that file travels.
    area.put_local("tree/a/side.txt", b"changed side\n")
    area.put_local("tree/new.txt", b"new\n")
    r = ok(clients.rsync(daemon, "-a", "-i", area.l("tree") + "/", REMOTE + "rtree/"))
    changed = sorted(line.split(" ", 1)[1] for line in r.stdout.splitlines()
                     if line.startswith("<f"))
    assert changed == ["a/side.txt", "new.txt"], r.stdout
    assert tree(area.r("rtree")) == tree(area.l("tree"))
    # And back, into an empty directory, then incrementally with a deletion.
    ok(clients.rsync(daemon, "-a", REMOTE + "rtree/", area.l("back") + "/"))
    assert tree(area.l("back")) == tree(area.r("rtree"))
    os.remove(area.r("rtree", "top.txt"))
    area.put_remote("rtree/a/b/c/deep.bin", b"smaller now")
    r = ok(clients.rsync(daemon, "-a", "-i", "--delete", REMOTE + "rtree/",
                         area.l("back") + "/"))
    assert tree(area.l("back")) == tree(area.r("rtree"))
    assert "*deleting   top.txt" in r.stdout, r.stdout
    daemon.wait_log("sshd.session.started", type="exec")


# ---------------------------------------------------------------------------------------------
# Legacy scp: what the sink and source report back


def test_scp_legacy_upload_keeps_an_existing_files_mode_without_p(clients, daemon, area):
    area.put_remote("kept.txt", b"old contents that are longer", mode=0o600)
    up = area.put_local("kept.txt", b"new", mode=0o644)
    ok(clients.scp(daemon, up, REMOTE, legacy=True))
    st = os.stat(area.r("kept.txt"))
    assert stat.S_IMODE(st.st_mode) == 0o600  # as OpenSSH's scp: only a new file gets a mode
    assert open(area.r("kept.txt"), "rb").read() == b"new"  # truncated to what was sent


@MODES
def test_scp_p_recursive_keeps_directory_times(clients, daemon, area, legacy):
    area.put_local("pt/inner/f", b"f")
    os.utime(area.l("pt", "inner"), (1_000_000_000, 1_000_000_100))
    os.utime(area.l("pt"), (1_000_000_000, 1_000_000_200))
    ok(clients.scp(daemon, "-rp", area.l("pt"), REMOTE, legacy=legacy))
    assert int(os.stat(area.r("pt", "inner")).st_mtime) == 1_000_000_100
    assert int(os.stat(area.r("pt")).st_mtime) == 1_000_000_200


@MODES
def test_scp_errors_from_the_daemon_side(clients, daemon, area, legacy):
    area.put_remote("adir/f", b"f")
    os.makedirs(area.r("ro"))
    give_to_daemon_user(area.remote)
    os.chmod(area.r("ro"), 0o555)
    up = area.put_local("up.txt", b"x")
    # A directory without -r.
    r = clients.scp(daemon, REMOTE + "adir", area.local, legacy=legacy)
    assert r.returncode == 1 and "adir" in r.stderr, r
    # A directory the session cannot write.
    r = clients.scp(daemon, up, REMOTE + "ro/", legacy=legacy)
    assert r.returncode == 1 and "Permission denied" in r.stderr, r
    assert not os.path.exists(area.r("ro", "up.txt"))
    # Several sources onto a missing target: scp -O's `scp -d -t` refuses; in SFTP mode
    # OpenSSH's scp makes the directory itself (with OpenSSH's sftp-server too).
    r = clients.scp(daemon, up, up, REMOTE + "nodir", legacy=legacy)
    if legacy:
        assert r.returncode == 1 and "nodir" in r.stderr, r
        assert not os.path.exists(area.r("nodir"))
    else:
        assert r.returncode == 0, r
        assert open(area.r("nodir", "up.txt"), "rb").read() == b"x"


def test_scp_legacy_empty_and_unicode_names(clients, daemon, area):
    area.put_local("e/empty", b"")
    area.put_local("e/\u00e9t\u00e9 \u65e5\u672c.txt", "unicode".encode())
    ok(clients.scp(daemon, "-r", area.l("e"), REMOTE, legacy=True))
    assert tree(area.r("e")) == tree(area.l("e"))
    ok(clients.scp(daemon, "-r", REMOTE + "e", area.l("back"), legacy=True))
    assert tree(area.l("back")) == tree(area.l("e"))


def test_pscp_scp_wildcard_download(daemon, area, keys, ppk):
    for name in ("a.txt", "b.txt", "c.log"):
        area.put_remote(f"w/{name}", name.encode())
    # -unsafe: pscp lets a legacy scp server expand the wildcard (the names are the server's).
    ok(pscp(daemon, keys, ppk, "-scp", "-unsafe", REMOTE + "w/*.txt", area.local))
    assert sorted(os.listdir(area.local)) == ["a.txt", "b.txt"]


@MODES
def test_scp_r_download_with_an_unreadable_file_copies_the_rest(clients, daemon, area, legacy):
    area.put_remote("u/ok1", b"1")
    area.put_remote("u/secret", b"s", mode=0o000)
    area.put_remote("u/sub/ok2", b"2")
    r = clients.scp(daemon, "-r", REMOTE + "u", area.l("u"), legacy=legacy)
    assert r.returncode == 1, r
    assert "secret" in r.stderr and "Permission denied" in r.stderr, r.stderr
    assert open(area.l("u", "ok1"), "rb").read() == b"1"
    assert open(area.l("u", "sub", "ok2"), "rb").read() == b"2"


def test_scp_legacy_source_refuses_a_fifo_without_blocking(clients, daemon, area):
    """A FIFO (or device) is not a regular file: refused at once (OpenSSH's scp opens with
    O_NONBLOCK for this), and the regular file after it is still sent."""
    area.put_remote("f/a", b"a")
    os.mkfifo(area.r("f", "pipe"))
    give_to_daemon_user(area.remote)
    r = clients.scp(daemon, "-T", REMOTE + "f/pipe f/a", area.local, legacy=True, timeout=30)
    assert r.returncode == 1, r
    assert "pipe: not a regular file" in r.stderr, r.stderr
    assert os.listdir(area.local) == ["a"]


def test_scp_legacy_sink_peer_eof_mid_file(pm, daemon, area):
    """The peer promises 100000 bytes, sends 3 and closes: the sink ends with exit 1 (no hang)
    and keeps what arrived."""
    os.makedirs(area.r("t"))
    give_to_daemon_user(area.remote)
    client = pm.connect(daemon)
    chan = client.get_transport().open_session(timeout=15)
    chan.settimeout(15)
    chan.exec_command(f"scp -t {area.r('t')}")
    assert chan.recv(1) == b"\0"
    chan.sendall(b"C0644 100000 short\n")
    assert chan.recv(1) == b"\0"
    chan.sendall(b"abc")
    chan.shutdown_write()
    read_channel(chan, 15)
    assert chan.status_event.wait(15)
    assert chan.exit_status == 1
    assert open(area.r("t", "short"), "rb").read() == b"abc"
