"""The three SSH servers, each started on a free loopback port as the bench user.

Server.start() picks a free port, writes the server's config, starts it in its own process
group with stdout/stderr in <workdir>/<name>.log, and returns once it sends an SSH banner
(BenchError with the log's tail if it exits or stays silent). Server.stop() sends SIGTERM to
the group, then SIGKILL; it is safe to call twice.
"""
import os
import re
import signal
import socket
import subprocess
import time

from . import procmem
from .user import BenchError


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    name = "?"          # key in results
    comms = ()          # /proc/<pid>/comm of the server's processes; set from the listener
    start_timeout = 10.0

    def __init__(self, ws):
        self.ws = ws
        self.user = ws.user
        self.port = None
        self.proc = None
        self.log_path = ws.path(f"{self.name}.log")
        self.version = "?"
        self.cgroup = None  # procmem.CgroupCpu shared by the run, if available

    # --- to override -------------------------------------------------------------------
    def prepare(self):
        """Write config files for self.port (called before each start attempt)."""

    def command(self):
        raise NotImplementedError

    def cleanup(self):
        """Undo prepare() side effects outside the workdir."""

    # --- lifecycle ---------------------------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        last = None
        for _ in range(3):  # a free port can be taken between probe and bind
            self.port = free_port()
            self.prepare()
            log = open(self.log_path, "ab")
            try:
                self.proc = self.user.popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.ws.dir,
                                            start_new_session=True)
            finally:
                log.close()
            if self.cgroup:
                # Before the listener can accept: every connection process is forked after.
                self.cgroup.attach(self.name, self.proc.pid)
            try:
                self._wait_ready()
                self.ws.add_known_host(self.port)
                # Per-connection processes are forks (or re-execs) of the listener: same comm,
                # whatever the binary is called (a static build, a copy in the workdir...).
                self.comms = (procmem.comm(self.proc.pid),)
                return
            except BenchError as e:
                last = e
                self.stop()
        raise last

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} at start-up:\n"
                                 f"{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(256).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not answer on 127.0.0.1:{self.port} within "
                         f"{self.start_timeout}s:\n{self.log_tail()}")

    def wait_quiescent(self, timeout=5.0):
        """Wait until only the listener is left: every connection's processes have exited
        (with a cgroup, also those re-parented away from the listener)."""
        if not self.cgroup:
            return procmem.wait_quiescent(self.proc.pid, self.comms, timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.cgroup.pids(self.name) == [self.proc.pid]:
                return True
            time.sleep(0.02)
        return False

    def cpu_seconds(self):
        """CPU of the server and all it ran (session commands too): cgroup if available,
        else the listener's own plus its reaped children's."""
        if self.cgroup:
            return self.cgroup.seconds(self.name)
        return procmem.cpu_seconds(self.proc.pid)

    def cpu_user_seconds(self):
        """The user-space part of cpu_seconds()."""
        if self.cgroup:
            return self.cgroup.user_seconds(self.name)
        return procmem.cpu_user_seconds(self.proc.pid)

    def exited(self):
        """None while running, else how it ended ("exit 0", "signal SIGSEGV", ...)."""
        if self.proc is None or self.proc.poll() is None:
            return None
        rc = self.proc.returncode
        return f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit {rc}"

    def log_tail(self, n=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:]) or "(empty log)"
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc is None:
            return
        self.proc.poll()
        if self.proc.returncode is None:
            for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 3)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.proc = None


class HatchServer(Server):
    name = "hatch"

    def __init__(self, ws, binary):
        super().__init__(ws)
        self.binary = binary
        self.version = "diego-sshd " + self._version()

    def _version(self):
        r = self.user.run([self.binary, "-version"], timeout=10, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
        return r.stdout.decode(errors="replace").strip().splitlines()[0] if r.stdout else "?"

    def command(self):
        return [self.binary, f"-address=127.0.0.1:{self.port}",
                f"-hostKey={self.ws.host_key_text}", f"-authorizedKey={self.ws.client_pub}",
                "-logLevel=error"]


class OpenSshServer(Server):
    """OpenSSH's sshd as an unprivileged user: its own config, no PAM, high port."""
    name = "openssh"
    binary = "/usr/sbin/sshd"  # sshd refuses to re-exec itself from a relative path

    def __init__(self, ws):
        super().__init__(ws)
        r = self.user.run([self.binary, "-V"], timeout=10, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
        m = re.search(r"OpenSSH_\S+", r.stdout.decode(errors="replace"))
        self.version = m.group(0).rstrip(",") if m else "OpenSSH ?"
        self.config = ws.path("sshd_config")

    def prepare(self):
        ws = self.ws
        ws.write("authorized_keys.openssh", ws.client_pub + "\n", 0o600)
        ws.write("sshd_config", "\n".join([
            f"ListenAddress 127.0.0.1:{self.port}",
            f"HostKey {ws.host_key}",
            f"AuthorizedKeysFile {ws.path('authorized_keys.openssh')}",
            f"PidFile {ws.path('sshd.pid')}",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "MaxStartups 100:30:200",
            "MaxSessions 20",
            "LogLevel ERROR",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "",
        ]))
        r = self.user.run([self.binary, "-t", "-f", self.config], timeout=10,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise BenchError(f"sshd -t rejects the config: {r.stdout.decode(errors='replace')}")

    def command(self):
        return [self.binary, "-D", "-e", "-f", self.config]


class DropbearServer(Server):
    """dropbear as shipped (default 24 KiB receive window); keys in ~/.ssh/authorized_keys."""
    name = "dropbear"
    marker = "hatch-bench"

    def __init__(self, ws):
        super().__init__(ws)
        r = self.user.run(["dropbear", "-V"], timeout=10, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
        m = re.search(r"v(\d[\w.]*)", r.stdout.decode(errors="replace"))
        self.version = f"dropbear {m.group(1)}" if m else "dropbear ?"
        self.auth_keys = os.path.join(ws.user.home, ".ssh", "authorized_keys")
        self._installed_line = None

    def prepare(self):
        # dropbear has no AuthorizedKeysFile option: add a marked line to the user's own file.
        if self._installed_line:
            return
        line = f"{self.ws.client_pub.split(' hatch-bench')[0]} {self.marker}-{os.getpid()}"
        sshdir = os.path.dirname(self.auth_keys)
        script = (f'umask 077; mkdir -p "{sshdir}" && chmod go-w "{self.ws.user.home}" "{sshdir}"'
                  f' && printf "%s\\n" "$1" >> "{self.auth_keys}"')
        self.user.check_output(["/bin/sh", "-c", script, "sh", line], timeout=10)
        self._installed_line = line

    def command(self):
        return ["dropbear", "-F", "-E", "-s", "-m", "-p", f"127.0.0.1:{self.port}",
                "-r", self.ws.dropbear_host_key, "-P", self.ws.path("dropbear.pid")]

    def cleanup(self):
        if not self._installed_line:
            return
        try:
            with open(self.auth_keys) as f:
                lines = f.readlines()
            keep = [l for l in lines if l.rstrip("\n") != self._installed_line]
            with open(self.auth_keys, "w") as f:
                f.writelines(keep)
        except OSError:
            pass
        self._installed_line = None
