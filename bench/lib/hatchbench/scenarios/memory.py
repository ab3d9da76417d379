"""Idle memory of the listener and the cost of each idle authenticated connection (issue 2).

For each server: the listener alone (no connection open), then N `ssh -N` connections held
open (each announces itself through LocalCommand once authenticated), then the server's whole
tree (listener + per-connection processes: OpenSSH's session/privsep processes, hatch's and
dropbear's per-connection children). Per connection = (tree with N - listener) / N.
RSS and PSS both; the issue's targets are stated in RSS.
"""
import subprocess
import time

from .base import Row, Scenario, Target, read_line
from .. import procmem
from ..user import BenchError


class Memory(Scenario):
    key = "memory"
    title = "memory"

    def run(self, ctx):
        n = 10
        d = ctx.details.setdefault("memory", {"connections": n})
        start = d.get("at_start", {})
        vals = {k: {} for k in ("start", "idle_rss", "idle_pss", "conn_rss", "conn_pss", "procs")}
        missing = {}
        for s in ctx.rotated(0):
            try:
                idle, loaded = self._measure(ctx, s, n)
            except BenchError as e:
                missing[s.name] = str(e)
                continue
            d[s.name] = {"idle": idle, f"with_{n}": loaded}
            if s.name in start:
                vals["start"][s.name] = start[s.name]["rss_kib"] / 1024
            vals["idle_rss"][s.name] = idle["rss_kib"] / 1024
            vals["idle_pss"][s.name] = _mib(idle["pss_kib"])
            vals["conn_rss"][s.name] = (loaded["rss_kib"] - idle["rss_kib"]) / n / 1024
            vals["conn_pss"][s.name] = (None if loaded["pss_kib"] is None or idle["pss_kib"] is None
                                        else (loaded["pss_kib"] - idle["pss_kib"]) / n / 1024)
            vals["procs"][s.name] = (len(loaded["processes"]) - len(idle["processes"])) / n
        plus1 = Target("dropbear", "<=", 1.0, "hatch <= dropbear + 1 MiB")
        return [
            Row("memory.listener_start_rss", "listener RSS, fresh", "MiB", "lower",
                vals["start"], missing=missing),
            Row("memory.listener_idle_rss", "listener RSS, idle after use", "MiB", "lower",
                vals["idle_rss"], target=plus1, missing=missing),
            Row("memory.listener_idle_pss", "listener PSS, idle after use", "MiB", "lower",
                vals["idle_pss"], missing=missing),
            Row("memory.per_conn_rss", f"RSS per idle connection (of {n})", "MiB", "lower",
                vals["conn_rss"], target=plus1, missing=missing),
            Row("memory.per_conn_pss", f"PSS per idle connection (of {n})", "MiB", "lower",
                vals["conn_pss"], missing=missing),
            Row("memory.procs_per_conn", "server processes per connection", "", None,
                vals["procs"], missing=missing, fmt="{:.0f}"),
        ]

    def _measure(self, ctx, s, n):
        if not s.wait_quiescent():
            raise BenchError(f"{s.name} still has children from earlier connections")
        idle = procmem.tree_snapshot(s.pid, s.comms)
        clients = []
        try:
            opts = ("-N", "-o", "PermitLocalCommand=yes", "-o", "LocalCommand=echo ready")
            for _ in range(n):
                p = ctx.user.popen(ctx.client.ssh(s, None, opts), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                clients.append(p)
                if read_line(p, 20) != "ready":
                    err = b""
                    if p.poll() is not None:
                        err = p.stderr.read()
                    raise BenchError(f"idle connection to {s.name} not established: "
                                     f"{err.decode(errors='replace').strip()[-200:]}")
            time.sleep(0.5)  # let post-auth work (privsep hand-over, buffers) settle
            loaded = procmem.tree_snapshot(s.pid, s.comms)
        finally:
            for p in clients:
                p.terminate()
            for p in clients:
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                p.stdout.close()
                p.stderr.close()
        return idle, loaded


def _mib(kib):
    return None if kib is None else kib / 1024
