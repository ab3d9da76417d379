"""What a scenario is, what it returns, and the measuring helpers scenarios share.

A Scenario measures one thing on every server of the run and returns Rows. A Row holds one
figure per server (None: not measured, with the reason in `missing`) and, when the issue sets
one, a Target: hatch's figure compared with another server's (`hatch <= openssh`,
`hatch <= dropbear + 1024 KiB`, ...). The report turns Rows into the table and the JSON.
"""
import fcntl
import os
import select
import statistics
import subprocess
import tempfile
import time

from .. import procmem
from ..user import BenchError

MIB = 1024 * 1024


class Target:
    """hatch's figure `op` (<= or >=) `factor` x another server's figure + plus (vs=None:
    just `plus`); with `cap`, hatch's figure must also be at most `cap`."""

    def __init__(self, vs, op, plus=0.0, text=None, factor=1.0, cap=None):
        self.vs, self.op, self.plus, self.factor, self.cap = vs, op, plus, factor, cap
        self.text = text or (f"hatch {op} " + (f"{factor:g}x " if factor != 1.0 else "") +
                             f"{vs}" + (f" + {plus:g}" if plus else "") +
                             (f", <= {cap:g}" if cap is not None else ""))

    def check(self, values):
        h = values.get("hatch")
        o = values.get(self.vs) if self.vs else 0.0
        if h is None or o is None:
            return None
        bound = self.factor * o + self.plus
        ok = h <= bound if self.op == "<=" else h >= bound
        return ok and (self.cap is None or h <= self.cap)

    def to_json(self):
        return {"vs": self.vs, "op": self.op, "plus": self.plus, "factor": self.factor,
                "cap": self.cap, "text": self.text}


# Issue 15's target for server CPU per GiB: at most half of OpenSSH's and at most 1.0 s.
CPU_PER_GIB_TARGET = Target("openssh", "<=", factor=0.5, cap=1.0)


def user_cpu_row(key, label, raw, size, missing, less_command=False):
    """The user-space part of a server CPU per GiB row (no target: it shows how much of the
    figure is the server's own code, the cipher included, and how much the kernel's work
    on its behalf). `less_command`: less the exec command's own user time."""
    def own(r):
        if less_command:
            if r.get("command_user_s") is None:
                return None
            return r["server_user_s"] - r["command_user_s"]
        return r["server_user_s"]
    values = {k: median([own(r) * (1024 * MIB) / size for r in v])
              for k, v in raw.items() if v and all(own(r) is not None for r in v)}
    return Row(key, label, "s", "lower", values, missing=missing, fmt="{:.2f}")


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


STALL_S = 20  # a transfer whose progress() stands still this long has hung


def timed_transfer(ctx, server, argv, feed=None, timeout=300, helpers=(), stdout_bytes=None,
                   stdout_text=None, progress=None):
    """Run one client command against `server` and measure it.

    feed: argv of a local producer piped into the client's stdin (e.g. head -c N /dev/zero).
    helpers: comm names of server-side programs that count as the server's own for memory
    (OpenSSH's sftp-server, the scp binary), beside the server's processes.
    stdout_bytes: the client's stdout is counted and must be exactly this many bytes;
    stdout_text: the client's stdout, stripped, must be this (e.g. the remote `wc -c`).
    A benchmark that loses bytes must fail, not look fast.
    progress: a callable returning a number that grows while the transfer moves (e.g. the
    destination's size); standing still for STALL_S seconds ends the transfer as hung.
    Returns {seconds, server_cpu_s, peak_conn_rss_kib, peak_conn_pss_kib} or raises BenchError.
    Server CPU is Server.cpu_seconds(), so the connection's processes must be gone before
    and after: both ends wait for that.
    """
    comms = tuple(server.comms) + tuple(helpers)
    server.wait_quiescent()
    cpu0, user0 = server.cpu_seconds(), server.cpu_user_seconds()
    src = None
    want_out = stdout_bytes is not None or stdout_text is not None
    with tempfile.TemporaryFile() as errf, procmem.PeakSampler(server.pid, comms) as sampler:
        t0 = time.perf_counter()
        stdin = subprocess.DEVNULL
        if feed:
            src = ctx.user.popen(feed, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            stdin = src.stdout
        p = ctx.user.popen(argv, stdin=stdin, stderr=errf,
                           stdout=subprocess.PIPE if want_out else subprocess.DEVNULL)
        if src:
            src.stdout.close()
        try:
            # Stalls are detectable when bytes arrive here or progress() is given; an upload
            # into `wc -c` shows nothing until its end, so only the timeout bounds it.
            got, text = _drain(p, t0 + timeout, keep=stdout_text is not None, progress=progress,
                               watch=progress is not None or stdout_bytes is not None)
            if got != "stalled":  # a hung client is killed below, not waited for
                p.wait(timeout=max(1.0, t0 + timeout - time.perf_counter()))
        except subprocess.TimeoutExpired:
            got = None
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()
            if src:
                try:
                    src.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    src.kill()
                    src.wait()
        seconds = time.perf_counter() - t0
        errf.seek(0)
        err = errf.read().decode(errors="replace").strip()[-300:]
    if got is None:
        raise BenchError(f"{server.name}: transfer timed out after {timeout}s")
    if got == "stalled":
        where = f"{progress()} bytes at the destination" if progress else "stdout silent"
        raise BenchError(f"{server.name}: transfer hung (no progress for {STALL_S}s, {where})")
    if p.returncode != 0:
        raise BenchError(f"{server.name}: {' '.join(argv[-2:])[:120]} exited "
                         f"{p.returncode}: {err}")
    if stdout_bytes is not None and got != stdout_bytes:
        raise BenchError(f"{server.name}: received {got} bytes, expected {stdout_bytes}")
    if stdout_text is not None and text.strip() != stdout_text:
        raise BenchError(f"{server.name}: remote end reported {text.strip()[:80]!r}, "
                         f"expected {stdout_text!r}")
    server.wait_quiescent()
    cpu1, user1 = server.cpu_seconds(), server.cpu_user_seconds()
    return {"seconds": seconds, "server_cpu_s": cpu1 - cpu0, "server_user_s": user1 - user0,
            "peak_conn_rss_kib": sampler.peak_rss_kib, "peak_conn_pss_kib": sampler.peak_pss_kib,
            "command_cpu_s": command_cpu(err), "command_user_s": command_cpu(err, user=True)}


# An exec transfer's remote command runs under GNU time with this format, which prints the
# command's own CPU seconds on the session's stderr when it ends.
COMMAND_CPU_MARK = "hatchbench-command-cpu"


def timed_command(command):
    """`command` wrapped so that its own CPU use can be told apart from the server's."""
    return f"/usr/bin/time -f '{COMMAND_CPU_MARK} %U %S' {command}"


def command_cpu(stderr_text, user=False):
    """The CPU seconds timed_command() reported on stderr (only its user-space part with
    `user`), or None."""
    for line in stderr_text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == COMMAND_CPU_MARK:
            try:
                return float(parts[1]) + (0.0 if user else float(parts[2]))
            except ValueError:
                return None
    return None


def _drain(p, deadline, keep, progress=None, watch=False):
    """Read p.stdout to EOF by the deadline: (bytes counted, text kept if `keep`).

    ("stalled", "") when neither the byte count nor progress() moved for STALL_S seconds.
    Raises subprocess.TimeoutExpired at the deadline."""
    fd = p.stdout.fileno() if p.stdout is not None else None
    count, kept = 0, []
    if fd is not None:
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)  # fewer wake-ups of this reader
        except OSError:
            pass
    last, last_change = None, time.perf_counter()
    while True:
        now = time.perf_counter()
        if now >= deadline:
            raise subprocess.TimeoutExpired(p.args, 0)
        mark = (count, progress() if progress else None)
        if mark != last:
            last, last_change = mark, now
        elif watch and now - last_change > STALL_S:
            return "stalled", ""
        wait = min(1.0, deadline - now)
        if fd is None:
            try:
                p.wait(timeout=wait)
                return 0, ""
            except subprocess.TimeoutExpired:
                continue
        if not select.select([fd], [], [], wait)[0]:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return count, b"".join(kept).decode(errors="replace")
        count += len(chunk)
        if keep and count <= 4096:
            kept.append(chunk)


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
