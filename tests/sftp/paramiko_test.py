"""hatch's SFTP server driven by paramiko's SFTPClient over a socketpair.

Run as: /usr/bin/python3 paramiko_test.py /path/to/hatch-sftp-server
Checks what paramiko (and GUI clients built like it) see: status codes and messages as
exceptions, attributes, `ls -l` long names (compared with OpenSSH's own sftp-server), the
OpenSSH argument order of SYMLINK, umask, read-only sessions, fds of the server process.
"""
import errno
import hashlib
import os
import select
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import paramiko
import paramiko.py3compat

SERVER = None  # set from argv
OPENSSH_SFTP_SERVER = "/usr/lib/openssh/sftp-server"


class ClientSocket(socket.socket):
    """A plain socket as paramiko's SFTPClient takes it (it logs the channel's name)."""

    def get_name(self):
        return "hatch-sftp-test"

    def recv_ready(self):
        return bool(select.select([self], [], [], 0)[0])


def client_socketpair():
    ours, theirs = socket.socketpair()
    return ClientSocket(fileno=ours.detach()), theirs


class Server:
    """A server process serving one end of a socketpair; `sock` is the client end."""

    def __init__(self, argv):
        self.sock, theirs = client_socketpair()
        self.proc = subprocess.Popen(argv, stdin=theirs, stdout=theirs, close_fds=True)
        theirs.close()

    def fds(self):
        return sorted(int(fd) for fd in os.listdir("/proc/%d/fd" % self.proc.pid))

    def finish(self, timeout=30):
        """Closes the client end and returns the server's exit status."""
        try:
            self.sock.close()
        except OSError:
            pass
        return self.proc.wait(timeout=timeout)


def hatch_argv(home, *flags):
    return [SERVER, "--home=" + home, *flags]


class SftpTestCase(unittest.TestCase):
    server_flags = ()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="hatch-sftp-paramiko.")
        self.home = os.path.join(self.tmp.name, "home")
        os.mkdir(self.home)
        self.server = Server(hatch_argv(self.home, *self.server_flags))
        self.sftp = paramiko.SFTPClient(self.server.sock)

    def tearDown(self):
        self.sftp.close()
        self.assertEqual(self.server.finish(), 0, "server exit status")
        self.tmp.cleanup()

    def path(self, *names):
        return os.path.join(self.home, *names)

    def write(self, name, data=b"", mode=0o644):
        with open(self.path(name), "wb") as f:
            f.write(data)
        os.chmod(self.path(name), mode)

    def assertIOError(self, code, message, fn, *args):
        with self.assertRaises(IOError) as ctx:
            fn(*args)
        if code is not None:
            self.assertEqual(ctx.exception.errno, code, ctx.exception)
        if message is not None:
            self.assertIn(message, str(ctx.exception))


class FileTransfer(SftpTestCase):
    def test_put_and_get_round_trip_a_file(self):
        data = os.urandom(3 * 1024 * 1024 + 17)
        local = os.path.join(self.tmp.name, "local")
        with open(local, "wb") as f:
            f.write(data)
        self.sftp.put(local, "up.bin")
        with open(self.path("up.bin"), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(data).digest())
        back = os.path.join(self.tmp.name, "back")
        self.sftp.get("up.bin", back)
        with open(back, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(self.sftp.stat("up.bin").st_size, len(data))

    def test_prefetched_read_returns_every_byte(self):
        data = os.urandom(5 * 1024 * 1024)
        self.write("big", data)
        with self.sftp.open("big", "rb") as f:
            f.prefetch()
            self.assertEqual(f.read(), data)

    def test_append_mode_writes_at_the_end(self):
        self.write("log", b"one\n")
        with self.sftp.open("log", "a") as f:
            f.write(b"two\n")
        with open(self.path("log"), "rb") as f:
            self.assertEqual(f.read(), b"one\ntwo\n")

    def test_exclusive_create_fails_on_an_existing_file(self):
        self.write("there")
        self.assertIOError(None, "File exists", self.sftp.open, "there", "x")

    def test_setstat_and_fsetstat_change_size_mode_and_times(self):
        self.write("f", b"0123456789")
        self.sftp.truncate("f", 4)
        self.sftp.chmod("f", 0o600)
        self.sftp.utime("f", (1000000000, 1200000000))
        st = os.stat(self.path("f"))
        self.assertEqual((st.st_size, stat.S_IMODE(st.st_mode)), (4, 0o600))
        self.assertEqual((int(st.st_atime), int(st.st_mtime)), (1000000000, 1200000000))
        with self.sftp.open("f", "r+") as f:
            f.chmod(0o640)
            f.truncate(2)
            self.assertEqual(f.stat().st_size, 2)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("f")).st_mode), 0o640)
        self.sftp.chown("f", os.getuid(), os.getgid())

    def test_fsync_extension(self):
        with self.sftp.open("synced", "w") as f:
            f.write(b"data")
            f.flush()
            # paramiko has no fsync call: send the extension on the file's handle.
            t, msg = self.sftp._request(paramiko.sftp.CMD_EXTENDED, "fsync@openssh.com", f.handle)
            self.assertEqual(t, paramiko.sftp.CMD_STATUS)
            self.assertEqual(msg.get_int(), paramiko.sftp.SFTP_OK)


class Names(SftpTestCase):
    def test_missing_file_is_no_such_file(self):
        self.assertIOError(errno.ENOENT, "No such file", self.sftp.stat, "missing")
        self.assertIOError(errno.ENOENT, None, self.sftp.open, "missing/x", "w")

    def test_failures_carry_the_system_error_text(self):
        os.mkdir(self.path("full"))
        self.write("full/x")
        self.assertIOError(None, "Directory not empty", self.sftp.rmdir, "full")
        self.assertIOError(None, "File exists", self.sftp.mkdir, "full")
        self.assertIOError(None, "Is a directory", self.sftp.open, "full", "w")

    def test_rename_refuses_an_existing_target_and_posix_rename_replaces_it(self):
        self.write("a", b"A")
        self.write("b", b"B")
        self.assertIOError(None, "File exists", self.sftp.rename, "a", "b")
        os.mkdir(self.path("d1"))
        os.mkdir(self.path("d2"))
        self.assertIOError(None, None, self.sftp.rename, "d1", "d2")
        self.sftp.posix_rename("a", "b")
        with open(self.path("b"), "rb") as f:
            self.assertEqual(f.read(), b"A")
        self.sftp.rename("b", "c")
        self.assertFalse(os.path.exists(self.path("b")))
        self.sftp.rename("d1", "d3")
        self.assertTrue(os.path.isdir(self.path("d3")))

    def test_symlink_takes_the_target_first_as_openssh(self):
        self.write("target.txt", b"t")
        self.sftp.symlink("target.txt", "link")
        self.assertEqual(os.readlink(self.path("link")), "target.txt")
        self.assertEqual(self.sftp.readlink("link"), "target.txt")
        self.assertTrue(stat.S_ISLNK(self.sftp.lstat("link").st_mode))
        self.assertTrue(stat.S_ISREG(self.sftp.stat("link").st_mode))

    def test_mkdir_rmdir_remove_and_normalize(self):
        self.sftp.mkdir("d", 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("d")).st_mode), 0o700)
        self.assertEqual(self.sftp.normalize("."), self.home)
        self.assertEqual(self.sftp.normalize("d/../d/new"), self.path("d", "new"))
        self.sftp.chdir("d")
        self.assertEqual(self.sftp.getcwd(), self.path("d"))
        self.sftp.chdir(None)
        self.write("d/f")
        self.sftp.remove("d/f")
        self.sftp.rmdir("d")
        self.assertFalse(os.path.exists(self.path("d")))

    def test_listing_matches_openssh_sftp_server(self):
        os.mkdir(self.path("dir"))
        os.chmod(self.path("dir"), 0o1777)
        self.write("plain", b"x" * 1234)
        self.write("setuid", b"", 0o4755)
        self.write("old", b"old")
        os.utime(self.path("old"), (0, 86400 * 400))
        os.symlink("plain", self.path("sym"))
        os.mkfifo(self.path("fifo"))
        for i in range(250):  # more than one READDIR reply
            self.write("many%03d" % i)

        def listing(client):
            return sorted(
                (a.filename, a.longname, a.st_mode, a.st_size, a.st_uid, a.st_gid, a.st_mtime)
                for a in client.listdir_attr(self.home))

        ours = listing(self.sftp)
        openssh = Server([OPENSSH_SFTP_SERVER, "-d", self.home])
        try:
            theirs = listing(paramiko.SFTPClient(openssh.sock))
        finally:
            openssh.finish()
        self.assertEqual(len(ours), 256)
        self.assertEqual(ours, theirs)

    def test_statvfs_matches_os_statvfs(self):
        t, msg = self.sftp._request(paramiko.sftp.CMD_EXTENDED, "statvfs@openssh.com", ".")
        self.assertEqual(t, paramiko.sftp.CMD_EXTENDED_REPLY)
        fields = [msg.get_int64() for _ in range(11)]
        st = os.statvfs(self.home)
        self.assertEqual(fields[0], st.f_bsize)
        self.assertEqual(fields[2], st.f_blocks)
        self.assertEqual(fields[10], st.f_namemax)

    def test_hardlink_extension_links_the_same_inode(self):
        self.write("orig", b"o")
        t, msg = self.sftp._request(
            paramiko.sftp.CMD_EXTENDED, "hardlink@openssh.com", "orig", "linked")
        self.assertEqual(msg.get_int(), paramiko.sftp.SFTP_OK)
        self.assertEqual(os.stat(self.path("orig")).st_ino, os.stat(self.path("linked")).st_ino)

    def test_lsetstat_changes_the_link_not_its_target(self):
        self.write("target", b"t")
        os.utime(self.path("target"), (5000, 5000))
        os.symlink("target", self.path("link"))
        attrs = paramiko.SFTPAttributes()
        attrs.st_atime, attrs.st_mtime = 1000000, 2000000
        t, msg = self.sftp._request(
            paramiko.sftp.CMD_EXTENDED, "lsetstat@openssh.com", "link", attrs)
        self.assertEqual(msg.get_int(), paramiko.sftp.SFTP_OK)
        self.assertEqual(int(os.lstat(self.path("link")).st_mtime), 2000000)
        self.assertEqual(int(os.stat(self.path("target")).st_mtime), 5000)


class Umask(SftpTestCase):
    server_flags = ("--umask=027",)

    def test_created_files_and_directories_honour_the_umask(self):
        with self.sftp.open("f", "w") as f:
            f.write(b"x")
        self.sftp.mkdir("d")  # paramiko asks for 0777
        self.assertEqual(stat.S_IMODE(os.stat(self.path("f")).st_mode), 0o640)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("d")).st_mode), 0o750)


class ReadOnly(SftpTestCase):
    server_flags = ("--read_only",)

    def test_writes_are_refused_and_reads_served(self):
        self.write("f", b"data")
        self.assertIOError(errno.EACCES, "read-only session", self.sftp.open, "new", "w")
        self.assertIOError(errno.EACCES, "read-only session", self.sftp.remove, "f")
        self.assertIOError(errno.EACCES, "read-only session", self.sftp.rename, "f", "g")
        self.assertIOError(errno.EACCES, "read-only session", self.sftp.mkdir, "d")
        self.assertIOError(errno.EACCES, "read-only session", self.sftp.chmod, "f", 0o600)
        self.assertIOError(errno.EACCES, "read-only session", self.sftp.symlink, "f", "l")
        with self.sftp.open("f", "r") as f:
            self.assertEqual(f.read(), b"data")
        self.assertEqual(sorted(self.sftp.listdir(".")), ["f"])
        self.assertFalse(os.path.exists(self.path("new")))


class Lifetime(unittest.TestCase):
    """The server process's fds and exit when clients go away."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="hatch-sftp-paramiko.")
        self.home = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_handles_are_the_only_fds_and_closing_them_releases_them(self):
        with open(os.path.join(self.home, "f"), "wb") as f:
            f.write(b"x")
        server = Server(hatch_argv(self.home))
        sftp = paramiko.SFTPClient(server.sock)
        base = server.fds()
        files = [sftp.open("f", "r") for _ in range(5)]
        self.assertEqual(len(server.fds()), len(base) + 5)
        for f in files:
            f.close()
        sftp.listdir(".")
        self.assertEqual(server.fds(), base)
        sftp.close()
        self.assertEqual(server.finish(), 0)

    def test_client_vanishing_mid_upload_keeps_what_was_written(self):
        server = Server(hatch_argv(self.home))
        sftp = paramiko.SFTPClient(server.sock)
        data = os.urandom(8 * 1024 * 1024)
        f = sftp.open("partial", "w")
        f.set_pipelined(True)
        for off in range(0, len(data), 32768):
            f.write(data[off:off + 32768])
        self.assertEqual(len(server.fds()), 4)  # stdin, stdout, stderr and the file
        # Gone without CLOSE: the socket is shut and closed under paramiko.
        server.sock.shutdown(socket.SHUT_RDWR)
        self.assertEqual(server.finish(), 0)
        with open(os.path.join(self.home, "partial"), "rb") as g:
            written = g.read()
        self.assertGreater(len(written), 0)
        self.assertEqual(written, data[:len(written)], "the partial file is a prefix")

    def test_client_vanishing_mid_download_ends_the_server(self):
        with open(os.path.join(self.home, "big"), "wb") as f:
            f.write(os.urandom(16 * 1024 * 1024))
        server = Server(hatch_argv(self.home))
        sftp = paramiko.SFTPClient(server.sock)
        f = sftp.open("big", "r")
        # A first READ answered: the server has set up its read stage (a pipe, two fds).
        self.assertEqual(len(f.read(1)), 1)
        for i in range(64):  # 2 MiB of READs in flight, as OpenSSH's client keeps them
            sftp._async_request(type(None), paramiko.sftp.CMD_READ, f.handle,
                                paramiko.py3compat.long(i * 32768), 32768)
        # stdin, stdout, stderr, the file and the read stage's pipe (sshd/sftp/read_stage.h)
        self.assertEqual(len(server.fds()), 6)
        server.sock.shutdown(socket.SHUT_RDWR)
        self.assertEqual(server.finish(), 0)

    def test_oversized_request_is_fatal_with_a_message(self):
        server_sock, theirs = socket.socketpair()
        proc = subprocess.Popen(hatch_argv(self.home, "--max_message=4096"), stdin=theirs,
                                stdout=theirs, stderr=subprocess.PIPE)
        theirs.close()
        init = struct.pack(">IBI", 5, 1, 3)
        server_sock.sendall(init + struct.pack(">I", 4097) + b"x" * 100)
        _, err = proc.communicate(timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(b"exceeds the limit of 4096", err)
        server_sock.close()


if __name__ == "__main__":
    SERVER = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
