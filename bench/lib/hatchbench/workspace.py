"""The run's temporary directory (owned by the bench user) and the keys every server shares.

All three servers use the SAME ed25519 host key (converted to dropbear's format for dropbear)
and accept the same ed25519 client key, so no server gets a cheaper key type. The directory
is removed at exit unless --keep-workdir.
"""
import os
import shutil
import tempfile


class Workspace:
    def __init__(self, user, keep=False):
        self.user = user
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="hatch-bench-")
        os.chmod(self.dir, 0o755)
        user.chown(self.dir)
        self.host_key = self.path("host_ed25519")
        self.client_key = self.path("client_ed25519")
        self.dropbear_host_key = self.path("host_ed25519.dropbear")
        self.known_hosts = self.path("known_hosts")

    def path(self, name):
        return os.path.join(self.dir, name)

    def make_keys(self):
        u = self.user
        for key, comment in ((self.host_key, "hatch-bench-host"), (self.client_key, "hatch-bench")):
            u.check_output(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                            "-f", key], timeout=30, cwd=self.dir)
        u.check_output(["dropbearconvert", "openssh", "dropbear", self.host_key,
                        self.dropbear_host_key], timeout=30, cwd=self.dir)
        self.host_key_text = self.read(self.host_key)
        self.host_pub = self.read(self.host_key + ".pub").strip()
        self.client_pub = self.read(self.client_key + ".pub").strip()
        self.write("known_hosts", "")

    def add_known_host(self, port):
        with open(self.known_hosts, "a") as f:
            f.write(f"[127.0.0.1]:{port} {' '.join(self.host_pub.split()[:2])}\n")

    def read(self, path):
        with open(path) as f:
            return f.read()

    def write(self, name, text, mode=0o644):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        self.user.chown(p)
        return p

    def remove(self):
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
