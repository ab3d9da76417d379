"""The daemon's built-in SFTP server (subsystem "sftp") through real clients: OpenSSH's sftp in
batch mode, paramiko's SFTPClient, PuTTY's psftp and curl's sftp:// (libssh2)."""

import grp
import os
import pwd
import stat
import struct
import subprocess
import threading

import paramiko
import pytest
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY

from conftest import daemon_user
from test_transfer_support import (area, clients, daemon, give_to_daemon_user,  # noqa: F401
                                   ppk, sha256_file, start_daemon, write_random)


def batch_ok(clients, daemon, area, commands):
    r = clients.sftp(daemon, commands, cwd=area.local)
    assert r.returncode == 0, f"sftp batch failed: {r.stdout}\n{r.stderr}"
    return r.stdout


def output_of(stdout, command):
    """The lines sftp -b printed for one batch command (it echoes each as `sftp> cmd`)."""
    out, grab = [], False
    for line in stdout.splitlines():
        if line.startswith("sftp> "):
            grab = line[len("sftp> "):] == command
            continue
        if grab:
            out.append(line)
    return out


# ---------------------------------------------------------------------------------------------
# OpenSSH sftp -b


def test_sftp_put_get_and_ls_long(clients, daemon, area):
    area.put_local("up.txt", b"uploaded by sftp\n" * 100, mode=0o644)
    area.put_remote("down.txt", b"served by hatch\n" * 50, mode=0o640)
    out = batch_ok(clients, daemon, area, ["put up.txt", "get down.txt got.txt", "ls -l"])
    with open(area.r("up.txt"), "rb") as f:
        assert f.read() == b"uploaded by sftp\n" * 100
    with open(area.l("got.txt"), "rb") as f:
        assert f.read() == b"served by hatch\n" * 50
    listing = {line.split()[-1]: line.split() for line in output_of(out, "ls -l")}
    assert set(listing) == {"up.txt", "down.txt"}
    assert listing["down.txt"][0] == "-rw-r-----"
    assert listing["down.txt"][4] == str(len(b"served by hatch\n" * 50))
    assert listing["up.txt"][4] == "1700"
    # Owner and group by name, as OpenSSH's sftp-server writes them in the long name.
    user = daemon_user()[0]
    group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    assert listing["down.txt"][2:4] == [user, group]


def test_sftp_rename_hardlink_symlink(clients, daemon, area):
    area.put_remote("a.txt", b"A")
    batch_ok(clients, daemon, area, ["rename a.txt b.txt", "ln b.txt hard.txt",
                                     "ln -s b.txt soft.txt"])
    assert not os.path.exists(area.r("a.txt"))
    assert os.stat(area.r("hard.txt")).st_ino == os.stat(area.r("b.txt")).st_ino
    assert os.readlink(area.r("soft.txt")) == "b.txt"


def test_sftp_extensions_the_client_uses(clients, daemon, area):
    """OpenSSH's sftp reaches for its extensions: cp (copy-data), put -f (fsync), rename onto
    an existing file (posix-rename replaces it). (Its batch commands do not expand ~, whatever
    the server: scp's ~ paths are tested with scp.)"""
    area.put_remote("orig.bin", os.urandom(200_000))
    area.put_remote("old.txt", b"old")
    area.put_remote("new.txt", b"new")
    area.put_local("synced.txt", b"synced")
    batch_ok(clients, daemon, area, ["cp orig.bin copy.bin", "put -f synced.txt",
                                     "rename new.txt old.txt"])
    assert open(area.r("copy.bin"), "rb").read() == open(area.r("orig.bin"), "rb").read()
    assert open(area.r("synced.txt"), "rb").read() == b"synced"
    assert open(area.r("old.txt"), "rb").read() == b"new"
    assert not os.path.exists(area.r("new.txt"))


def test_sftp_put_r_and_get_r_trees(clients, daemon, area):
    area.put_local("t/a/b/deep.txt", b"deep")
    area.put_local("t/\u00e9t\u00e9 file.txt", b"unicode name")
    area.put_local("t/empty", b"")
    os.mkdir(area.l("t", "void"))
    batch_ok(clients, daemon, area, ["put -r t up", "get -r up down"])
    for root in (area.r("up"), area.l("down")):
        assert open(os.path.join(root, "a", "b", "deep.txt"), "rb").read() == b"deep"
        assert open(os.path.join(root, "\u00e9t\u00e9 file.txt"), "rb").read() == b"unicode name"
        assert os.path.getsize(os.path.join(root, "empty")) == 0
        assert os.path.isdir(os.path.join(root, "void"))


@pytest.mark.parametrize("buffer,requests,size", [("261120", "256", 8 << 20),
                                                  ("1024", "1", 200 << 10),
                                                  ("32768", "512", 8 << 20)])
def test_sftp_request_sizes_and_depths(clients, daemon, area, buffer, requests, size):
    """Large reads/writes (the server's limits@openssh.com caps them), one request at a time,
    and hundreds in flight: the data arrives intact each way."""
    data = os.urandom(size + 12345)
    area.put_remote("r.bin", data)
    area.put_local("l.bin", data)
    r = clients.sftp(daemon, ["get r.bin got.bin", "put l.bin put.bin"], cwd=area.local,
                     extra=("-B", buffer, "-R", requests))
    assert r.returncode == 0, r.stderr
    assert open(area.l("got.bin"), "rb").read() == data
    assert open(area.r("put.bin"), "rb").read() == data


def test_sftp_df_reports_the_home_filesystem(clients, daemon, area):
    out = batch_ok(clients, daemon, area, ["df", "df -i"])
    vfs = os.statvfs(area.remote)
    sizes = output_of(out, "df")
    assert sizes[0].split()[:3] == ["Size", "Used", "Avail"], sizes
    # `df` prints KiB: f_blocks * f_frsize / 1024.
    assert int(sizes[1].split()[0]) == vfs.f_blocks * vfs.f_frsize // 1024
    inodes = output_of(out, "df -i")
    assert int(inodes[1].split()[0]) == vfs.f_files


def test_sftp_chmod_mkdir_rmdir_rm(clients, daemon, area):
    area.put_remote("f.txt", b"x", mode=0o644)
    area.put_remote("gone.txt", b"x")
    batch_ok(clients, daemon, area, ["chmod 600 f.txt", "mkdir d", "mkdir e", "rmdir e",
                                     "rm gone.txt"])
    assert stat.S_IMODE(os.stat(area.r("f.txt")).st_mode) == 0o600
    assert os.path.isdir(area.r("d"))
    assert not os.path.exists(area.r("e"))
    assert not os.path.exists(area.r("gone.txt"))


def test_sftp_errors_end_the_batch_with_the_servers_message(clients, daemon, area):
    area.put_remote("full/x", b"x")
    for command, message in [("rm missing.txt", "No such file"),
                             ("get missing.txt", "not found"),
                             ("rmdir full", "Failure"),
                             ("mkdir full", "Failure")]:
        r = clients.sftp(daemon, [command], cwd=area.local)
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert message in r.stderr, (command, r.stderr)
    assert os.path.exists(area.r("full", "x"))


def test_sftp_reget_and_reput_resume_partial_files(clients, daemon, area):
    size = 3 << 20
    digest = write_random(area.l("src.bin"), size)
    with open(area.l("src.bin"), "rb") as f:
        data = f.read()
    area.put_remote("remote.bin", data)
    area.put_local("partial.bin", data[:size // 3])   # an interrupted download
    area.put_remote("half.bin", data[:size // 2])      # an interrupted upload
    batch_ok(clients, daemon, area, ["reget remote.bin partial.bin",
                                     "reput src.bin half.bin"])
    assert sha256_file(area.l("partial.bin")) == digest
    assert sha256_file(area.r("half.bin")) == digest


def test_sftp_reget_appends_to_what_is_there(clients, daemon, area):
    """A resumed download keeps the local prefix as it is: with a deliberately different
    prefix the result is that prefix + the remote tail (a full re-download would not be)."""
    area.put_remote("r.bin", b"R" * 100000)
    area.put_local("l.bin", b"L" * 40000)
    batch_ok(clients, daemon, area, ["reget r.bin l.bin"])
    with open(area.l("l.bin"), "rb") as f:
        assert f.read() == b"L" * 40000 + b"R" * 60000


def test_sftp_reput_appends_to_what_is_there(clients, daemon, area):
    area.put_local("l.bin", b"L" * 100000)
    area.put_remote("r.bin", b"R" * 30000)
    batch_ok(clients, daemon, area, ["reput l.bin r.bin"])
    with open(area.r("r.bin"), "rb") as f:
        assert f.read() == b"R" * 30000 + b"L" * 70000


def test_sftp_relative_paths_resolve_from_the_session_home(clients, daemon, area):
    area.put_remote("sub/inner.txt", b"inner")
    area.put_local("rel.txt", b"rel")
    out = batch_ok(clients, daemon, area, ["pwd", "put rel.txt", "cd sub", "put rel.txt r2",
                                           "get inner.txt"])
    assert output_of(out, "pwd") == [f"Remote working directory: {area.remote}"]
    assert os.path.exists(area.r("rel.txt"))
    assert os.path.exists(area.r("sub", "r2"))
    assert os.path.exists(area.l("inner.txt"))


@pytest.mark.parametrize("umask,file_mode,dir_mode", [(0o022, 0o644, 0o755),
                                                       (0o027, 0o640, 0o750)])
def test_sftp_new_files_and_dirs_honour_the_daemon_umask(clients, sshd_factory, area, umask,
                                                         file_mode, dir_mode):
    d = start_daemon(sshd_factory, area, umask=umask)
    area.put_local("f.txt", b"x", mode=0o666)
    batch_ok(clients, d, area, ["put f.txt", "mkdir d"])
    assert stat.S_IMODE(os.stat(area.r("f.txt")).st_mode) == file_mode
    assert stat.S_IMODE(os.stat(area.r("d")).st_mode) == dir_mode


def test_sftp_put_p_sets_the_exact_mode_and_times(clients, daemon, area):
    path = area.put_local("p.txt", b"x", mode=0o751)
    os.utime(path, (1_000_000_000, 1_100_000_000))
    batch_ok(clients, daemon, area, ["put -p p.txt"])
    st = os.stat(area.r("p.txt"))
    assert stat.S_IMODE(st.st_mode) == 0o751
    assert int(st.st_mtime) == 1_100_000_000 and int(st.st_atime) == 1_000_000_000


def test_sftp_subsystem_is_logged_as_such(clients, daemon, area):
    batch_ok(clients, daemon, area, ["pwd"])
    e = daemon.wait_log("sshd.session.started", type="subsystem")
    assert e["data"]["command"] == "sftp"


# ---------------------------------------------------------------------------------------------
# paramiko SFTPClient


@pytest.fixture
def sftp(pm, daemon):
    c = pm.connect(daemon)
    s = c.open_sftp()
    yield s
    s.close()


def test_paramiko_listdir_attr_stat_lstat(sftp, area):
    area.put_remote("d/a.txt", b"abc", mode=0o640)
    os.symlink("a.txt", area.r("d", "ln"))
    give_to_daemon_user(area.remote)
    attrs = {a.filename: a for a in sftp.listdir_attr("d")}
    assert set(attrs) == {"a.txt", "ln"}
    assert attrs["a.txt"].st_size == 3 and stat.S_IMODE(attrs["a.txt"].st_mode) == 0o640
    assert stat.S_ISLNK(attrs["ln"].st_mode)
    assert "a.txt" in attrs["a.txt"].longname and attrs["a.txt"].longname.startswith("-rw-r-----")
    assert stat.S_ISREG(sftp.stat("d/ln").st_mode)
    assert stat.S_ISLNK(sftp.lstat("d/ln").st_mode)
    assert sftp.stat("d/a.txt").st_mtime == int(os.stat(area.r("d", "a.txt")).st_mtime)
    assert sftp.normalize(".") == area.remote


def test_paramiko_open_read_write_seek_append(sftp, area):
    payload = os.urandom(300_000)
    with sftp.open("f.bin", "wb") as f:
        f.write(payload)
    with open(area.r("f.bin"), "rb") as f:
        assert f.read() == payload
    with sftp.open("f.bin", "rb") as f:
        f.seek(123_456)
        assert f.read(1000) == payload[123_456:124_456]
        f.prefetch()
        f.seek(0)
        assert f.read() == payload
    with sftp.open("f.bin", "ab") as f:
        f.write(b"tail")
    assert sftp.stat("f.bin").st_size == len(payload) + 4
    with sftp.open("f.bin", "r+b") as f:
        f.seek(10)
        f.write(b"XY")
    with open(area.r("f.bin"), "rb") as f:
        data = f.read()
    assert data[:10] == payload[:10] and data[10:12] == b"XY" and data[-4:] == b"tail"


def test_paramiko_rename_and_posix_rename(sftp, area):
    area.put_remote("a", b"a")
    area.put_remote("b", b"b")
    area.put_remote("c", b"c")
    # SFTP v3 rename (draft-02 §6.5) must not replace an existing target.
    with pytest.raises(IOError) as e:
        sftp.rename("a", "b")
    assert not isinstance(e.value, FileNotFoundError)
    assert str(e.value) == "File exists"
    assert open(area.r("b"), "rb").read() == b"b" and os.path.exists(area.r("a"))
    sftp.rename("a", "a2")
    assert open(area.r("a2"), "rb").read() == b"a"
    sftp.posix_rename("c", "b")  # posix-rename@openssh.com replaces
    assert open(area.r("b"), "rb").read() == b"c" and not os.path.exists(area.r("c"))


def test_paramiko_symlink_readlink_chmod_utime(sftp, area):
    area.put_remote("t.txt", b"t")
    sftp.symlink("t.txt", "l")
    assert os.readlink(area.r("l")) == "t.txt"
    assert sftp.readlink("l") == "t.txt"
    sftp.chmod("t.txt", 0o604)
    assert stat.S_IMODE(os.stat(area.r("t.txt")).st_mode) == 0o604
    sftp.utime("t.txt", (1_200_000_000, 1_300_000_000))
    st = os.stat(area.r("t.txt"))
    assert (int(st.st_atime), int(st.st_mtime)) == (1_200_000_000, 1_300_000_000)


def test_paramiko_mkdir_rmdir_remove(sftp, area):
    sftp.mkdir("nd", 0o700)
    assert stat.S_IMODE(os.stat(area.r("nd")).st_mode) == 0o700
    area.put_remote("nd/x", b"x")
    with pytest.raises(IOError) as e:
        sftp.rmdir("nd")
    assert str(e.value) == "Directory not empty"  # SSH_FX_FAILURE carries strerror's text
    with pytest.raises(IOError) as e:
        sftp.mkdir("nd")
    assert str(e.value) == "File exists"
    sftp.remove("nd/x")
    sftp.rmdir("nd")
    assert not os.path.exists(area.r("nd"))
    with pytest.raises(IOError):
        sftp.remove("nd")


def test_paramiko_handle_attrs_truncate_and_exclusive_create(sftp, area):
    with sftp.open("h.bin", "wb") as f:
        f.write(b"0123456789")
        f.flush()
        assert f.stat().st_size == 10          # fstat
        f.chmod(0o600)                           # fsetstat
        f.truncate(4)
        f.utime((1_000_000_000, 1_000_000_001))  # after: truncating sets the mtime
    st = os.stat(area.r("h.bin"))
    assert (st.st_size, stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (4, 0o600, 1_000_000_001)
    sftp.truncate("h.bin", 2)                    # setstat size
    assert open(area.r("h.bin"), "rb").read() == b"01"
    with pytest.raises(IOError):
        sftp.open("h.bin", "x")                  # O_EXCL on an existing file
    with sftp.open("h.bin", "w") as f:           # O_TRUNC
        f.write(b"z")
    assert open(area.r("h.bin"), "rb").read() == b"z"


def test_paramiko_large_directory_listing(sftp, area):
    """A directory with more entries than one SSH_FXP_NAME reply holds, with long names."""
    os.mkdir(area.r("big"))
    names = {f"{i:04d}-" + "n" * 200 for i in range(1500)}
    for name in names:
        open(os.path.join(area.r("big"), name), "w").close()
    give_to_daemon_user(area.remote)
    assert set(sftp.listdir("big")) == names


def test_paramiko_open_handles_are_bounded_and_the_session_goes_on(sftp, area):
    """The server bounds open handles per session (256): past it an open fails with an
    error, not a dead session, and closing one makes room again."""
    area.put_remote("f", b"f")
    held = []
    with pytest.raises(IOError) as e:
        for _ in range(2000):
            held.append(sftp.open("f", "rb"))
    assert not isinstance(e.value, (FileNotFoundError, PermissionError))
    assert 16 <= len(held) < 2000, len(held)
    held.pop().close()
    with sftp.open("f", "rb") as f:
        assert f.read() == b"f"
    for h in held:
        h.close()
    assert sftp.listdir(".") == ["f"]


def test_paramiko_concurrent_sftp_channels_on_one_connection(pm, daemon, area):
    """Three sftp subsystems on one connection move data at the same time, each way: every
    channel's flow control is its own."""
    transport = pm.connect(daemon).get_transport()
    blobs = [os.urandom((2 << 20) + i) for i in range(3)]
    for i, blob in enumerate(blobs):
        area.put_remote(f"down{i}", blob)
    errors = []

    def worker(i):
        try:
            s = paramiko.SFTPClient.from_transport(transport)
            with s.open(f"up{i}", "wb") as f:
                f.set_pipelined(True)
                f.write(blobs[i])
            with s.open(f"down{i}", "rb") as f:
                f.prefetch()
                assert f.read() == blobs[i]
            s.close()
        except Exception as e:  # reported below, with the channel it happened on
            errors.append((i, repr(e)))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for i, blob in enumerate(blobs):
        assert open(area.r(f"up{i}"), "rb").read() == blob


def test_sftp_version_3_and_the_extensions_clients_look_for(pm, daemon):
    """A client asking for version 6 (WinSCP, for one) gets 3; the VERSION reply names the
    OpenSSH extensions clients probe for before using them."""
    chan = pm.connect(daemon).get_transport().open_session()
    chan.settimeout(15)
    chan.invoke_subsystem("sftp")
    chan.sendall(struct.pack(">IBI", 5, 1, 6))  # SSH_FXP_INIT, version 6
    head = b""
    while len(head) < 4:
        head += chan.recv(4 - len(head))
    body = b""
    (length,) = struct.unpack(">I", head)
    while len(body) < length:
        body += chan.recv(length - len(body))
    kind, version = struct.unpack(">BI", body[:5])
    assert (kind, version) == (2, 3)
    names, rest = {}, body[5:]
    while rest:
        (n,) = struct.unpack(">I", rest[:4])
        name, rest = rest[4:4 + n].decode(), rest[4 + n:]
        (n,) = struct.unpack(">I", rest[:4])
        names[name], rest = rest[4:4 + n].decode(), rest[4 + n:]
    assert {"posix-rename@openssh.com", "statvfs@openssh.com", "fstatvfs@openssh.com",
            "hardlink@openssh.com", "fsync@openssh.com", "limits@openssh.com",
            "expand-path@openssh.com", "lsetstat@openssh.com", "copy-data",
            "home-directory"} <= set(names), names
    chan.close()


def test_paramiko_error_codes(sftp, area):
    area.put_remote("locked", b"secret", mode=0o000)
    with pytest.raises(FileNotFoundError):
        sftp.stat("missing")
    with pytest.raises(FileNotFoundError):
        sftp.open("missing", "rb")
    with pytest.raises(FileNotFoundError):
        sftp.listdir("missing")
    if os.geteuid() == 0:  # the daemon runs as hatch-test: mode 000 keeps it out
        with pytest.raises(PermissionError):
            sftp.open("locked", "rb")
    with pytest.raises(PermissionError):
        sftp.open("/proc/1/mem", "rb")


def test_paramiko_statvfs_extension(sftp, area):
    """statvfs@openssh.com (paramiko has no API): eleven uint64s matching statvfs(3)."""
    t, msg = sftp._request(CMD_EXTENDED, "statvfs@openssh.com", area.remote)
    assert t == CMD_EXTENDED_REPLY
    fields = [msg.get_int64() for _ in range(11)]
    bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax = fields
    vfs = os.statvfs(area.remote)
    assert (bsize, frsize, blocks, files, namemax) == (vfs.f_bsize, vfs.f_frsize, vfs.f_blocks,
                                                       vfs.f_files, vfs.f_namemax)
    assert bfree <= blocks and bavail <= bfree


def test_paramiko_many_files_one_session(sftp, daemon, area):
    """Handles are closed and reused: far more files than any sane handle limit, and the sftp
    child holds no more fds afterwards than before."""
    child = daemon.wait_log("sshd.session.started", type="subsystem")["data"]["pid"]
    # The first READ sets up the read stage's pipe, kept for the session (two fds, not one
    # per file): counted in the baseline.
    with sftp.open("first", "wb") as f:
        f.write(b"first")
    with sftp.open("first", "rb") as f:
        assert f.read() == b"first"
    sftp.remove("first")
    fds = len(os.listdir(f"/proc/{child}/fd"))
    for i in range(300):
        with sftp.open(f"n{i}", "wb") as f:
            f.write(b"%d" % i)
    assert len(sftp.listdir(".")) == 300
    with sftp.open("n299", "rb") as f:
        assert f.read() == b"299"
    for _ in range(20):
        sftp.listdir(".")  # directory handles too
    assert len(os.listdir(f"/proc/{child}/fd")) == fds


# ---------------------------------------------------------------------------------------------
# PuTTY psftp


def test_psftp_put_get_ls(daemon, area, keys, ppk):
    area.put_local("p.txt", b"from psftp\n")
    area.put_remote("s.txt", b"from hatch\n")
    script = area.l("script")
    with open(script, "w") as f:
        f.write("put p.txt\nget s.txt got.txt\nmkdir pd\nls\nrm s.txt\n")
    r = subprocess.run(["psftp", "-batch", "-P", str(daemon.port), "-i", ppk,
                        "-hostkey", keys.host_fingerprint(keys.host_rsa), "-b", script,
                        "vcap@127.0.0.1"], capture_output=True, text=True, cwd=area.local,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert open(area.r("p.txt"), "rb").read() == b"from psftp\n"
    assert open(area.l("got.txt"), "rb").read() == b"from hatch\n"
    assert os.path.isdir(area.r("pd")) and not os.path.exists(area.r("s.txt"))
    names = r.stdout.split()
    assert "p.txt" in names and "s.txt" in names and "pd" in names
    assert f"Remote working directory is {area.remote}" in r.stdout


# ---------------------------------------------------------------------------------------------
# curl sftp:// (libssh2 1.10)

# What an operator passes so libssh2 1.10 clients (curl, PHP ssh2, ...) can connect to a daemon
# with an RSA host key: libssh2 1.10 knows neither rsa-sha2-* host keys nor *-etm MACs (the
# default ciphers already include aes*-ctr, which it knows). With an ed25519 host key only the
# MAC flag is needed. The narrow form locks modern OpenSSH out (it refuses ssh-rsa host keys):
# operators should use the widened form.
LIBSSH2_110_FLAGS = ("-allowedHostKeyAlgorithms=ssh-rsa", "-allowedMACs=hmac-sha2-256")
# The same, widened rather than replaced: modern clients keep rsa-sha2-* and the -etm MACs.
LIBSSH2_110_WIDENED = ("-allowedHostKeyAlgorithms=rsa-sha2-512,rsa-sha2-256,ssh-rsa",
                       "-allowedMACs=hmac-sha2-256-etm@openssh.com,"
                       "hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512")


def curl_has_sftp():
    out = subprocess.run(["curl", "-V"], capture_output=True, text=True).stdout
    return any(line.startswith("Protocols:") and " sftp" in line for line in out.splitlines())


needs_curl_sftp = pytest.mark.skipif(not curl_has_sftp(), reason="curl without sftp://")


def curl(daemon, keys, *args, key=None):
    key = key or keys.client_ed25519
    return subprocess.run(["curl", "-sS", "-k", "--key", key, "--pubkey", key + ".pub", *args],
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)


@needs_curl_sftp
@pytest.mark.parametrize("host_key,flags", [("rsa", LIBSSH2_110_FLAGS),
                                            ("rsa", LIBSSH2_110_WIDENED),
                                            ("ed25519", ("-allowedMACs=hmac-sha2-256",))],
                         ids=["rsa", "rsa-widened", "ed25519"])
def test_curl_sftp_get_put_list(sshd_factory, area, keys, clients, host_key, flags):
    d = start_daemon(sshd_factory, area, *flags, host_key=host_key)
    area.put_remote("c.txt", b"curl fetches this\n")
    url = f"sftp://vcap@127.0.0.1:{d.port}/~/"
    r = curl(d, keys, url + "c.txt")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"curl fetches this\n"
    up = area.put_local("u.txt", b"curl uploads this\n")
    r = curl(d, keys, "-T", up, url + "u.txt")
    assert r.returncode == 0, r.stderr
    assert open(area.r("u.txt"), "rb").read() == b"curl uploads this\n"
    r = curl(d, keys, "-l", url)
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.decode().split()) >= {"c.txt", "u.txt"}
    r = curl(d, keys, url + "missing")
    assert r.returncode == 78, r  # CURLE_REMOTE_FILE_NOT_FOUND
    # Modern OpenSSH: locked out by the narrow list (it refuses ssh-rsa host keys), served
    # with what it prefers by the widened one.
    r = subprocess.run(["ssh", *clients.ssh_opts(d, "-p"), "-v", "vcap@127.0.0.1", "true"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if flags == LIBSSH2_110_FLAGS:
        assert r.returncode == 255 and "no matching host key type" in r.stderr, r.stderr
    else:
        assert r.returncode == 0, r.stderr
    if flags == LIBSSH2_110_WIDENED:
        assert "kex: host key algorithm: rsa-sha2-512" in r.stderr, r.stderr
        assert "MAC: <implicit>" in r.stderr or "-etm@openssh.com" in r.stderr, r.stderr


@needs_curl_sftp
def test_curl_sftp_fails_against_the_default_algorithms(sshd_factory, area, keys):
    """Without the flags the handshake fails (the defaults are what ssh-audit passes): the
    flags above are needed, not decoration."""
    d = start_daemon(sshd_factory, area)
    r = curl(d, keys, f"sftp://vcap@127.0.0.1:{d.port}/~/")
    assert r.returncode != 0
    assert d.wait_log("sshd.connection.handshake-failed")
