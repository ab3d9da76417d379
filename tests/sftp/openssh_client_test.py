"""hatch's SFTP server driven by OpenSSH's own sftp client in batch mode.

Run as: /usr/bin/python3 openssh_client_test.py /path/to/hatch-sftp-server
`sftp -D` starts the server program directly (no ssh), exactly as the daemon starts the
subsystem: a child with the channel on stdin/stdout.
"""
import hashlib
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

SERVER = None  # set from argv


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_random(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n


class OpenSshSftp(unittest.TestCase):
    server_flags = ()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="hatch-sftp-openssh.")
        self.home = os.path.join(self.tmp.name, "home")
        self.local = os.path.join(self.tmp.name, "local")
        os.mkdir(self.home)
        os.mkdir(self.local)
        # A wrapper records the server's exit status: sftp itself does not report it.
        self.status_file = os.path.join(self.tmp.name, "server-status")
        self.wrapper = os.path.join(self.tmp.name, "server.sh")
        with open(self.wrapper, "w") as f:
            f.write('#!/bin/sh\n"%s" --home="%s" %s\necho $? > "%s"\n'
                    % (SERVER, self.home, " ".join(self.server_flags), self.status_file))
        os.chmod(self.wrapper, 0o755)

    def tearDown(self):
        self.tmp.cleanup()

    def sftp_argv(self, *options):
        return ["sftp", "-q", *options, "-D", self.wrapper]

    def batch(self, commands, expect_ok=True, options=()):
        """Runs `commands` with `sftp -b -`; returns the output."""
        proc = subprocess.run(
            self.sftp_argv("-b", "-", *options), input="\n".join(commands) + "\n",
            cwd=self.local, capture_output=True, text=True, timeout=300)
        output = proc.stdout + proc.stderr
        if expect_ok:
            self.assertEqual(proc.returncode, 0, output)
        else:
            self.assertNotEqual(proc.returncode, 0, output)
        self.assertEqual(self.server_status(), 0, "server exit status; " + output)
        return output

    def server_status(self):
        with open(self.status_file) as f:
            return int(f.read())

    def h(self, *names):
        return os.path.join(self.home, *names)

    def l(self, *names):
        return os.path.join(self.local, *names)


class Commands(OpenSshSftp):
    def test_put_get_ls_rename_links_df_chmod_mkdir_rm(self):
        with open(self.l("small.txt"), "w") as f:
            f.write("hello\n")
        write_random(self.l("big.bin"), 64 << 20)
        out = self.batch([
            "put small.txt",
            "put big.bin",
            "rename small.txt renamed.txt",
            "ln -s renamed.txt sym",
            "ln renamed.txt hard",
            "chmod 600 renamed.txt",
            "mkdir newdir",
            "mkdir keepdir",
            "rmdir newdir",
            "rm hard",
            "ls -l",
            "df",
            "get big.bin big.back",
            "get renamed.txt",
        ])
        self.assertEqual(sha256_of(self.h("big.bin")), sha256_of(self.l("big.bin")))
        self.assertEqual(sha256_of(self.l("big.back")), sha256_of(self.l("big.bin")))
        with open(self.l("renamed.txt")) as f:
            self.assertEqual(f.read(), "hello\n")
        self.assertFalse(os.path.exists(self.h("small.txt")))
        self.assertEqual(os.readlink(self.h("sym")), "renamed.txt")
        self.assertFalse(os.path.exists(self.h("hard")))
        self.assertEqual(stat.S_IMODE(os.stat(self.h("renamed.txt")).st_mode), 0o600)
        self.assertTrue(os.path.isdir(self.h("keepdir")))
        self.assertFalse(os.path.exists(self.h("newdir")))
        listing = [line for line in out.splitlines()
                   if line.endswith(" renamed.txt") and not line.startswith("sftp>")]
        self.assertEqual(len(listing), 1, out)
        self.assertTrue(listing[0].startswith("-rw-------"), listing[0])
        self.assertIn(" 6 ", listing[0])
        self.assertRegex(out, r"(?m)^l\S+ .* sym$")
        self.assertRegex(out, r"(?m)^d\S+ .* keepdir$")
        self.assertRegex(out, r"Size\s+Used\s+Avail\s+\(root\)\s+%Capacity")

    def test_hard_link_shares_the_inode(self):
        with open(self.h("orig"), "w") as f:
            f.write("x")
        self.batch(["ln orig linked"])
        self.assertEqual(os.stat(self.h("orig")).st_ino, os.stat(self.h("linked")).st_ino)

    def test_rename_replaces_an_existing_file_through_posix_rename(self):
        # OpenSSH's client renames with posix-rename@openssh.com when offered; plain v3
        # RENAME (refusing an existing target) is covered by the paramiko tests.
        for name in ("a", "b"):
            with open(self.h(name), "w") as f:
                f.write(name)
        self.batch(["rename a b"])
        self.assertFalse(os.path.exists(self.h("a")))
        with open(self.h("b")) as f:
            self.assertEqual(f.read(), "a")

    def test_a_failing_command_stops_the_batch(self):
        os.mkdir(self.h("exists"))
        out = self.batch(["mkdir exists", "mkdir never"], expect_ok=False)
        self.assertRegex(out, r'remote mkdir "[^"]*exists": Failure')
        self.assertFalse(os.path.exists(self.h("never")))

    def test_errors_are_reported_and_ignorable(self):
        out = self.batch(["-get missing.txt", "-rmdir nodir", "-cd nodir", "mkdir after"])
        self.assertIn("not found", out)
        self.assertTrue(os.path.isdir(self.h("after")))

    def test_reget_and_reput_resume_partial_transfers(self):
        # The partial copies hold zeros, not the source's first bytes: a resumed transfer
        # keeps them, a restarted one would not.
        write_random(self.h("remote.bin"), 20 << 20)
        write_random(self.l("local.bin"), 20 << 20)
        with open(self.l("remote.bin"), "wb") as f:
            f.write(bytes(7 << 20))
        with open(self.h("local.bin"), "wb") as f:
            f.write(bytes(5 << 20))
        self.batch(["reget remote.bin", "reput local.bin"])
        with open(self.h("remote.bin"), "rb") as f:
            expected = bytes(7 << 20) + f.read()[7 << 20:]
        with open(self.l("remote.bin"), "rb") as f:
            self.assertTrue(f.read() == expected, "reget resumed at the local size")
        with open(self.l("local.bin"), "rb") as f:
            expected = bytes(5 << 20) + f.read()[5 << 20:]
        with open(self.h("local.bin"), "rb") as f:
            self.assertTrue(f.read() == expected, "reput resumed at the remote size")

    def test_put_preserving_times_and_mode(self):
        with open(self.l("p.txt"), "w") as f:
            f.write("p")
        os.chmod(self.l("p.txt"), 0o751)
        os.utime(self.l("p.txt"), (1000000000, 1100000000))
        self.batch(["put -p p.txt"])
        st = os.stat(self.h("p.txt"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o751)
        self.assertEqual(int(st.st_mtime), 1100000000)

    def test_recursive_put_and_get(self):
        os.makedirs(self.l("tree", "a", "b"))
        for i, path in enumerate(["tree/x", "tree/a/y", "tree/a/b/z"]):
            with open(self.l(path), "w") as f:
                f.write(str(i) * (i + 1))
        self.batch(["put -r tree", "get -r tree copy"])
        for path in ["x", "a/y", "a/b/z"]:
            with open(self.l("tree", path)) as a, open(self.l("copy", path)) as b:
                self.assertEqual(a.read(), b.read())
            self.assertTrue(os.path.exists(self.h("tree", path)))


class ReadOnly(OpenSshSftp):
    server_flags = ("--read_only",)

    def test_put_is_refused_and_get_works(self):
        with open(self.h("r.txt"), "w") as f:
            f.write("r")
        with open(self.l("w.txt"), "w") as f:
            f.write("w")
        out = self.batch(["get r.txt", "put w.txt"], expect_ok=False)
        self.assertIn("Permission denied", out)
        self.assertFalse(os.path.exists(self.h("w.txt")))
        self.assertTrue(os.path.exists(self.l("r.txt")))


class ClientKilledMidTransfer(OpenSshSftp):
    """`sftp` killed with SIGKILL during a transfer: the server sees EOF and must exit 0 with
    no file left half-open; an upload's partial file is a prefix of the source."""

    def children_of(self, pid):
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def server_pid(self, sftp_pid):
        # sftp -> sh wrapper -> hatch-sftp-server
        for wrapper in self.children_of(sftp_pid):
            for child in self.children_of(wrapper):
                return child
        return None

    def wait_for(self, predicate, what, limit=60):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail("gave up waiting for " + what)

    def kill_mid_transfer(self, command, watched_file, fd_count, fds_are):
        # -l: 40 Mbit/s, so the 64 MiB transfer lasts long enough to be interrupted.
        proc = subprocess.Popen(self.sftp_argv("-l", "40000", "-b", "-"), cwd=self.local,
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, text=True)
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
        self.wait_for(lambda: os.path.exists(watched_file) and
                      os.path.getsize(watched_file) > (1 << 20), "the transfer to start")
        server = self.server_pid(proc.pid)
        self.assertIsNotNone(server)
        fds = os.listdir("/proc/%d/fd" % server)
        self.assertEqual(len(fds), fd_count, fds_are)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.wait_for(lambda: os.path.exists(self.status_file), "the server to exit")
        self.assertEqual(self.server_status(), 0)

    def test_download(self):
        write_random(self.h("big.bin"), 64 << 20)
        self.kill_mid_transfer("get big.bin", self.l("big.bin"), 6,
                               "stdin, stdout, stderr, the file and the two ends of the "
                               "read stage's pipe (sshd/sftp/read_stage.h)")

    def test_upload(self):
        write_random(self.l("big.bin"), 64 << 20)
        self.kill_mid_transfer("put big.bin", self.h("big.bin"), 4,
                               "stdin, stdout, stderr and the file")
        size = os.path.getsize(self.h("big.bin"))
        self.assertLess(size, 64 << 20)
        with open(self.h("big.bin"), "rb") as a, open(self.l("big.bin"), "rb") as b:
            self.assertEqual(a.read(), b.read(size), "the partial file is a prefix")


if __name__ == "__main__":
    SERVER = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
