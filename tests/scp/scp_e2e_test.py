#!/usr/bin/python3
"""End-to-end: the real OpenSSH `scp -O` client against hatch's built-in scp.

Usage: scp_e2e_test.py <path to hatch-scp> [unittest arguments, e.g. ScpEndToEnd.test_x]
       scp_e2e_test.py --reference [unittest arguments]

With --reference the same cases run against OpenSSH's own scp on the remote side (through
/bin/sh, as sshd runs it), which shows the expectations are OpenSSH's behaviour; cases about
hatch-only features are skipped there.

scp's `-S program` runs `program [ssh options] host command` in place of ssh. The fake ssh
below drops everything but the command (the last argument) and execs hatch-scp with it, which
parses it with ParseScpCommand and serves it with RunScp on its stdin/stdout/stderr, exactly
as the daemon's session child does. The "remote" home is a temporary directory.
"""

import atexit
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

HATCH_SCP = None
# Decided before the test class is defined (its skip decorators read it).
REFERENCE = sys.argv[1:2] == ["--reference"]

# The --reference remote side: OpenSSH's scp run by the shell, in the remote home.
REFERENCE_SCP = """#!/bin/sh
cd "$HATCH_SCP_HOME" && HOME="$HATCH_SCP_HOME" exec /bin/sh -c "$1"
"""

FAKE_SSH = """#!/bin/sh
# Stands in for ssh: scp runs `<this> [ssh options] [--] host command`; the command is last.
for last; do :; done
exec "$HATCH_SCP" "$last"
"""


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree(root):
    """{relative path: ('dir', mode) or ('file', mode, content)} for everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = ("dir", stat.S_IMODE(os.stat(path).st_mode))
        for name in filenames:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = (
                "file", stat.S_IMODE(os.stat(path).st_mode), read(path))
    return out


def escape(name):
    """Backslash-escapes a remote path for the remote shell (and scp's own name check)."""
    return "".join(c if c.isalnum() or c in "/._-" else "\\" + c for c in name)


class ScpEndToEnd(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hatch-scp-e2e-")
        self.local = os.path.join(self.tmp, "local")
        self.remote = os.path.join(self.tmp, "remote")
        os.mkdir(self.local)
        os.mkdir(self.remote)
        self.fake_ssh = os.path.join(self.tmp, "fake-ssh")
        write(self.fake_ssh, FAKE_SSH, 0o755)

    def tearDown(self):
        for dirpath, dirnames, _ in os.walk(self.tmp):
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), 0o700)
        shutil.rmtree(self.tmp)

    def scp(self, *args, read_only=False):
        env = dict(os.environ, HATCH_SCP=HATCH_SCP, HATCH_SCP_HOME=self.remote)
        if read_only:
            env["HATCH_SCP_READ_ONLY"] = "1"
        return subprocess.run(
            ["scp", "-O", "-S", self.fake_ssh] + list(args), cwd=self.local, env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)

    def assert_scp_ok(self, *args):
        result = self.scp(*args)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        return result

    def L(self, name):
        return os.path.join(self.local, name)

    def R(self, name):
        return os.path.join(self.remote, name)

    def test_upload_file(self):
        data = os.urandom(300 * 1024)
        write(self.L("a.bin"), data, 0o640)
        self.assert_scp_ok("a.bin", "h:b.bin")
        self.assertEqual(read(self.R("b.bin")), data)
        self.assertEqual(stat.S_IMODE(os.stat(self.R("b.bin")).st_mode), 0o640)
        # An absolute remote path and the home given as "~".
        self.assert_scp_ok("a.bin", "h:" + self.R("c.bin"))
        self.assert_scp_ok("a.bin", "h:~/d.bin")
        self.assertEqual(read(self.R("c.bin")), data)
        self.assertEqual(read(self.R("d.bin")), data)

    def test_upload_into_directory(self):
        write(self.L("a"), "A")
        write(self.L("b"), "B")
        os.mkdir(self.R("dir"))
        self.assert_scp_ok("a", "b", "h:dir")
        self.assert_scp_ok("a", "h:")
        self.assertEqual(read(self.R("dir/a")), b"A")
        self.assertEqual(read(self.R("dir/b")), b"B")
        self.assertEqual(read(self.R("a")), b"A")

    def test_upload_keeps_mode_of_existing_file(self):
        write(self.R("x"), "old content, longer", 0o600)
        write(self.L("x"), "new", 0o755)
        self.assert_scp_ok("x", "h:x")
        self.assertEqual(read(self.R("x")), b"new")
        self.assertEqual(stat.S_IMODE(os.stat(self.R("x")).st_mode), 0o600)

    def test_download_file(self):
        data = os.urandom(200 * 1024 + 5)
        write(self.R("r.bin"), data, 0o600)
        self.assert_scp_ok("h:r.bin", ".")
        self.assert_scp_ok("h:" + self.R("r.bin"), "copy.bin")
        self.assertEqual(read(self.L("r.bin")), data)
        self.assertEqual(read(self.L("copy.bin")), data)

    def make_tree(self, root):
        write(os.path.join(root, "a.txt"), "a")
        write(os.path.join(root, "sub/b file.txt"), os.urandom(70000), 0o600)
        write(os.path.join(root, "sub/deeper/c"), "", 0o755)
        os.makedirs(os.path.join(root, "empty"))
        os.chmod(os.path.join(root, "sub/deeper"), 0o750)

    def test_upload_tree(self):
        self.make_tree(self.L("t"))
        self.assert_scp_ok("-r", "t", "h:")
        self.assertEqual(tree(self.R("t")), tree(self.L("t")))
        # Into an existing directory: lands inside it.
        os.mkdir(self.R("into"))
        self.assert_scp_ok("-r", "t", "h:into")
        self.assertEqual(tree(self.R("into/t")), tree(self.L("t")))

    def test_download_tree(self):
        self.make_tree(self.R("t"))
        self.assert_scp_ok("-r", "h:t", ".")
        self.assertEqual(tree(self.L("t")), tree(self.R("t")))

    # (mtime, atime, mode) that make_timed_tree sets; compared with the copy, not with the
    # source, whose atime the copy itself may update.
    EXPECTED_TIMES_AND_MODES = {".": (1100000000, 1000000000, 0o705),
                                "f": (1100000001, 1000000001, 0o751),
                                "d": (1100000002, 1000000002, 0o711)}

    def set_times(self, root):
        for i, path in enumerate([root, os.path.join(root, "f"), os.path.join(root, "d")]):
            os.utime(path, (1000000000 + i, 1100000000 + i))

    def times_and_modes(self, root):
        return {rel: (int(os.stat(os.path.join(root, rel)).st_mtime),
                      int(os.stat(os.path.join(root, rel)).st_atime),
                      stat.S_IMODE(os.stat(os.path.join(root, rel)).st_mode))
                for rel in [".", "f", "d"]}

    def make_timed_tree(self, root):
        write(os.path.join(root, "f"), "f", 0o751)
        os.mkdir(os.path.join(root, "d"), 0o711)
        os.chmod(os.path.join(root, "d"), 0o711)
        os.chmod(root, 0o705)
        self.set_times(root)

    def test_preserve_upload(self):
        self.make_timed_tree(self.L("p"))
        self.assert_scp_ok("-rp", "p", "h:")
        self.assertEqual(self.times_and_modes(self.R("p")), self.EXPECTED_TIMES_AND_MODES)

    def test_preserve_download(self):
        self.make_timed_tree(self.R("p"))
        self.assert_scp_ok("-rp", "h:p", ".")
        self.assertEqual(self.times_and_modes(self.L("p")), self.EXPECTED_TIMES_AND_MODES)

    def test_names_with_spaces_and_quotes(self):
        name = "it's a \"quoted\" name.txt"
        write(self.L(name), "q")
        os.mkdir(self.R("my dir"))
        self.assert_scp_ok(name, "h:" + escape("my dir"))
        self.assertEqual(read(self.R("my dir/" + name)), b"q")
        self.assert_scp_ok("h:" + escape("my dir/" + name), "back.txt")
        self.assertEqual(read(self.L("back.txt")), b"q")
        # Single quotes on the remote side work as in a shell.
        self.assert_scp_ok("h:'my dir'/" + escape(name), "back2.txt")
        self.assertEqual(read(self.L("back2.txt")), b"q")

    def test_remote_glob(self):
        for name in ["a1.txt", "a2.txt", "b.log", "sub/a3.txt"]:
            write(self.R(name), name)
        os.mkdir(self.L("got"))
        self.assert_scp_ok("h:*.txt", "h:sub/a?.txt", "got/")
        self.assertEqual(sorted(os.listdir(self.L("got"))), ["a1.txt", "a2.txt", "a3.txt"])
        self.assertEqual(read(self.L("got/a1.txt")), b"a1.txt")

    def test_missing_source(self):
        write(self.R("a.txt"), "a")
        write(self.R("b.txt"), "b")
        os.mkdir(self.L("got"))
        result = self.scp("h:a.txt", "h:missing.txt", "h:b.txt", "got/")
        self.assertEqual(result.returncode, 1)
        self.assertIn("scp: missing.txt: No such file or directory", result.stderr)
        self.assertEqual(sorted(os.listdir(self.L("got"))), ["a.txt", "b.txt"])

    def test_missing_source_in_one_command(self):
        # One `scp -f a.txt missing.txt b.txt` on the remote side; -T because the client's
        # name check expects one name per remote path.
        write(self.R("a.txt"), "a")
        write(self.R("b.txt"), "b")
        os.mkdir(self.L("got"))
        result = self.scp("-T", "h:a.txt missing.txt b.txt", "got/")
        self.assertEqual(result.returncode, 1)
        self.assertIn("scp: missing.txt: No such file or directory", result.stderr)
        self.assertEqual(sorted(os.listdir(self.L("got"))), ["a.txt", "b.txt"])

    def test_several_sources_need_directory_target(self):
        write(self.L("a"), "a")
        write(self.L("b"), "b")
        write(self.R("notadir"), "keep")
        result = self.scp("a", "b", "h:notadir")
        self.assertEqual(result.returncode, 1)
        self.assertIn("scp: notadir: Not a directory", result.stderr)
        self.assertEqual(read(self.R("notadir")), b"keep")

    @unittest.skipIf(REFERENCE, "read-only mode is hatch's")
    def test_read_only_refuses_upload(self):
        write(self.L("a"), "a")
        result = self.scp("a", "h:", read_only=True)
        self.assertEqual(result.returncode, 1)
        self.assertIn("Read-only file system", result.stderr)
        self.assertFalse(os.path.exists(self.R("a")))

    def test_large_file_checksum(self):
        with open(self.L("big"), "wb") as f:
            for _ in range(64):
                f.write(os.urandom(1 << 20))
        self.assert_scp_ok("big", "h:big")
        self.assertEqual(sha256(self.R("big")), sha256(self.L("big")))
        self.assert_scp_ok("h:big", "big.back")
        self.assertEqual(sha256(self.L("big.back")), sha256(self.L("big")))
        self.assertEqual(os.path.getsize(self.L("big.back")), 64 << 20)


def main():
    global HATCH_SCP
    if len(sys.argv) >= 2 and sys.argv[1] == "--reference":
        sys.argv.pop(1)
        work = tempfile.mkdtemp(prefix="hatch-scp-reference-")
        atexit.register(shutil.rmtree, work)
        HATCH_SCP = os.path.join(work, "reference-scp")
        write(HATCH_SCP, REFERENCE_SCP, 0o755)
    elif len(sys.argv) >= 2 and os.access(sys.argv[1], os.X_OK):
        HATCH_SCP = os.path.abspath(sys.argv.pop(1))
    else:
        sys.exit("usage: scp_e2e_test.py <path to hatch-scp>|--reference [unittest arguments]")
    os.umask(0o022)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
