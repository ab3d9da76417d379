"""The unprivileged user all servers and clients run as, and process spawning with timeouts.

Run as root, the orchestrator stays root (it must read /proc/<pid>/smaps_rollup of sshd's
non-dumpable children) but every process it starts drops to `hatch-test` (created by
scripts/setup, password field '*', shell /bin/sh) with a clean environment: nothing reads
root's ~/.bashrc (pyenv init costs ~125 ms per shell). Run as another user, everything runs
as that user.
"""
import os
import pwd
import subprocess

BENCH_USER = "hatch-test"


class BenchError(Exception):
    """A clear, user-facing failure (printed without a traceback)."""


class BenchUser:
    def __init__(self, name=BENCH_USER):
        self.drop = os.geteuid() == 0
        if self.drop:
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                raise BenchError(f"user {name} does not exist: run scripts/setup as root first")
            self._check_password_field(name)
        else:
            pw = pwd.getpwuid(os.geteuid())
        self._spawned = []  # every Popen, so that stop_all() can end what is still running
        self.name = pw.pw_name
        self.uid = pw.pw_uid
        self.gid = pw.pw_gid
        self.home = pw.pw_dir
        self.shell = pw.pw_shell
        self.env = {
            "HOME": self.home,
            "USER": self.name,
            "LOGNAME": self.name,
            "SHELL": self.shell or "/bin/sh",
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "LANG": "C.UTF-8",
        }

    @staticmethod
    def _check_password_field(name):
        # OpenSSH (UsePAM no) refuses accounts locked with '!' even for public-key auth.
        try:
            with open("/etc/shadow") as f:
                for line in f:
                    fields = line.split(":")
                    if fields[0] == name and fields[1].startswith("!"):
                        raise BenchError(f"{name}'s password field is locked ('!'); OpenSSH "
                                         f"refuses it: usermod -p '*' {name}")
        except OSError:
            pass

    def chown(self, path):
        if self.drop:
            os.chown(path, self.uid, self.gid)

    def _kw(self, kw):
        kw.setdefault("env", self.env)
        kw.setdefault("close_fds", True)
        if self.drop:
            kw.update(user=self.uid, group=self.gid, extra_groups=[])
        return kw

    def popen(self, argv, **kw):
        p = subprocess.Popen(argv, **self._kw(kw))
        self._spawned = [q for q in self._spawned if q.returncode is None and q.poll() is None]
        self._spawned.append(p)
        return p

    def stop_all(self):
        """SIGTERM, then SIGKILL, every process popen() started that still runs (by pid)."""
        live = [p for p in self._spawned if p.poll() is None]
        for p in live:
            p.terminate()
        for p in live:
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._spawned = []

    def run(self, argv, timeout, **kw):
        """subprocess.run as the bench user; a timeout kills the process and raises BenchError."""
        try:
            return subprocess.run(argv, timeout=timeout, **self._kw(kw))
        except subprocess.TimeoutExpired:
            raise BenchError(f"timed out after {timeout}s: {' '.join(argv)[:200]}")

    def check_output(self, argv, timeout, **kw):
        r = self.run(argv, timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        if r.returncode != 0:
            raise BenchError(f"{' '.join(argv)[:200]} failed ({r.returncode}): "
                             f"{r.stderr.decode(errors='replace').strip()[-500:]}")
        return r.stdout.decode(errors="replace")
