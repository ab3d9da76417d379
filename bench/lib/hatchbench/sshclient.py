"""OpenSSH client command lines, identical for every server but the port.

-F /dev/null so no user config applies; BatchMode, IdentitiesOnly with the bench's ed25519
key; the run's known_hosts with StrictHostKeyChecking=yes (the host key really is checked,
as in real use); UpdateHostKeys=no so no server pays for a hostkeys-prove round trip.
"""
import re
import subprocess

from .user import BenchError

USER_AT_HOST = "127.0.0.1"


class SshClient:
    def __init__(self, ws):
        self.ws = ws
        self.user = ws.user

    def base(self, prog="ssh", loglevel="ERROR"):
        return [prog, "-F", "/dev/null",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                "-i", self.ws.client_key,
                "-o", f"UserKnownHostsFile={self.ws.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no",
                "-o", f"LogLevel={loglevel}", "-o", "ConnectTimeout=10"]

    def ssh(self, server, command=None, opts=(), loglevel="ERROR"):
        argv = self.base(loglevel=loglevel) + list(opts) + ["-p", str(server.port),
                                           f"{self.user.name}@{USER_AT_HOST}"]
        if command is not None:
            argv.append(command)
        return argv

    def sftp(self, server, opts=()):
        return self.base("sftp") + list(opts) + ["-P", str(server.port),
                                                 f"{self.user.name}@{USER_AT_HOST}"]

    def scp(self, server, src, dst, legacy, opts=()):
        """src/dst: a local path, or ('remote', path) for a path on the server."""
        def arg(x):
            return f"{self.user.name}@{USER_AT_HOST}:{x[1]}" if isinstance(x, tuple) else x
        mode = ["-O"] if legacy else ["-s"]
        return (self.base("scp") + mode + list(opts) + ["-P", str(server.port)] +
                [arg(src), arg(dst)])

    def negotiated(self, server, opts=()):
        """The algorithms `ssh -v` reports for this server with these options."""
        argv = self.base(loglevel="DEBUG1") + list(opts) + [
            "-p", str(server.port), f"{self.user.name}@{USER_AT_HOST}", "true"]
        r = self.user.run(argv, timeout=30, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = r.stderr.decode(errors="replace")
        if r.returncode != 0:
            raise BenchError(f"ssh to {server.name} failed ({r.returncode}): "
                             f"{err.strip().splitlines()[-1:] or ''}")
        out = {}
        for key, rx in (("kex", r"kex: algorithm: (\S+)"),
                        ("hostkey", r"kex: host key algorithm: (\S+)"),
                        ("cipher_s2c", r"kex: server->client cipher: (\S+) MAC: (\S+)"),
                        ("cipher_c2s", r"kex: client->server cipher: (\S+) MAC: (\S+)"),
                        ("banner", r"remote software version (\S+)")):
            m = re.search(rx, err)
            if m:
                out[key] = " ".join(g for g in m.groups() if g != "<implicit>")
        return out
