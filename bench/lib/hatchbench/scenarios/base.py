"""What a scenario is, what it returns, and the measuring helpers scenarios share.

A Scenario measures one thing on every server of the run and returns Rows. A Row holds one
figure per server (None: not measured, with the reason in `missing`) and, when the issue sets
one, a Target: hatch's figure compared with another server's (`hatch <= openssh`,
`hatch <= dropbear + 1024 KiB`, ...). The report turns Rows into the table and the JSON.
"""
import os
import select
import statistics
import subprocess
import time

from .. import procmem
from ..user import BenchError

MIB = 1024 * 1024


class Target:
    """hatch's figure `op` (<= or >=) another server's figure + plus; vs=None: just `plus`."""

    def __init__(self, vs, op, plus=0.0, text=None):
        self.vs, self.op, self.plus = vs, op, plus
        self.text = text or f"hatch {op} {vs}" + (f" + {plus:g}" if plus else "")

    def check(self, values):
        h = values.get("hatch")
        o = values.get(self.vs) if self.vs else 0.0
        if h is None or o is None:
            return None
        return h <= o + self.plus if self.op == "<=" else h >= o + self.plus

    def to_json(self):
        return {"vs": self.vs, "op": self.op, "plus": self.plus, "text": self.text}


class Row:
    def __init__(self, key, label, unit, better, values, target=None, missing=None, fmt="{:.1f}"):
        self.key = key            # stable id for the JSON, e.g. "throughput.down.aes128-gcm"
        self.label = label        # what the table shows
        self.unit = unit
        self.better = better      # "lower", "higher" or None (ratio shown, no judgement)
        self.values = values      # {server: float or None}
        self.target = target
        self.missing = missing or {}  # {server: why there is no figure}
        self.fmt = fmt

    def to_json(self):
        d = {"label": self.label, "unit": self.unit, "better": self.better,
             "values": self.values}
        if self.target:
            d["target"] = self.target.to_json()
            d["target_met"] = self.target.check(self.values)
        if self.missing:
            d["missing"] = self.missing
        return d


class Context:
    """Everything a scenario may use. `details` collects raw data for the JSON."""

    def __init__(self, user, ws, client, servers, quick, runs=None):
        self.user, self.ws, self.client, self.servers, self.quick = user, ws, client, servers, quick
        self.runs = runs          # --runs: overrides a transfer scenario's number of runs
        self.notes = []
        self.details = {}
        self.scenario = None      # key of the scenario running now
        self.server_events = []   # servers found dead and restarted

    def rotated(self, i):
        """The servers in a different order on each round, so none always goes first.

        A server found dead is restarted (on a new port) and the event recorded: an outside
        `pkill` on a shared machine must not silently turn into missing figures, and a crash
        of hatch's listener must show in the report.
        """
        for s in self.servers:
            how = s.exited()
            if how is not None:
                event = {"server": s.name, "scenario": self.scenario, "how": how,
                         "log": s.log_tail(5)}
                self.server_events.append(event)
                s.proc = None
                s.start()
        k = i % len(self.servers)
        return self.servers[k:] + self.servers[:k]


class Scenario:
    key = "?"
    title = "?"
    issue = 2

    def run(self, ctx):
        """Measure on ctx.servers; return a list of Rows."""
        raise NotImplementedError


def median(xs):
    return statistics.median(xs) if xs else None


def p90(xs):
    if not xs:
        return None
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


def timed_transfer(ctx, server, argv, feed=None, timeout=300, env=None, helpers=()):
    """Run one client command against `server` and measure it.

    feed: argv of a local producer piped into the client's stdin (e.g. head -c N /dev/zero).
    helpers: comm names of server-side programs that count as the server's own for memory
    (OpenSSH's sftp-server, the scp binary), beside the server's processes.
    Returns {seconds, server_cpu_s, peak_conn_rss_kib, peak_conn_pss_kib} or raises BenchError.
    Server CPU is Server.cpu_seconds(), so the connection's processes must be gone before
    and after: both ends wait for that.
    """
    comms = tuple(server.comms) + tuple(helpers)
    server.wait_quiescent()
    cpu0 = server.cpu_seconds()
    src = None
    kw = {"env": env} if env else {}
    with procmem.PeakSampler(server.pid, comms) as sampler:
        t0 = time.perf_counter()
        if feed:
            src = ctx.user.popen(feed, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, **kw)
            p = ctx.user.popen(argv, stdin=src.stdout, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, **kw)
            src.stdout.close()
        else:
            p = ctx.user.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, **kw)
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise BenchError(f"{server.name}: transfer timed out after {timeout}s")
        finally:
            if src:
                try:
                    src.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    src.kill()
                    src.wait()
        seconds = time.perf_counter() - t0
    if p.returncode != 0:
        raise BenchError(f"{server.name}: {' '.join(argv[-2:])[:120]} exited "
                         f"{p.returncode}: {err.decode(errors='replace').strip()[-300:]}")
    server.wait_quiescent()
    cpu1 = server.cpu_seconds()
    return {"seconds": seconds, "server_cpu_s": cpu1 - cpu0,
            "peak_conn_rss_kib": sampler.peak_rss_kib, "peak_conn_pss_kib": sampler.peak_pss_kib}


def read_line(proc, timeout):
    """One line from proc.stdout within timeout, or None."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 256)
        if not chunk:
            return None
        buf += chunk
    return buf.decode(errors="replace").strip()


def ssh_works(ctx, server, command="true", opts=(), timeout=20):
    """(True, "") if `ssh server command` exits 0, else (False, last stderr line)."""
    r = ctx.user.run(ctx.client.ssh(server, command, opts, loglevel="INFO"), timeout=timeout,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode == 0:
        return True, ""
    lines = r.stderr.decode(errors="replace").strip().splitlines()
    return False, (lines[-1] if lines else f"exit {r.returncode}")
