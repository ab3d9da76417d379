"""Connect + auth + `exec true` latency (issue 2).

Wall time of one `ssh host true` from spawn to exit, servers interleaved round by round.
Two variants: the client's default key exchange (each server negotiates what it prefers;
OpenSSH picks sntrup761x25519, which costs more), and curve25519-sha256 pinned for all, the
like-for-like figure. The spawn overhead of the orchestrator is measured and reported, not
subtracted; it is the same for every server.
"""
import subprocess
import time

from .base import Row, Scenario, Target, median, p90
from ..user import BenchError


class Latency(Scenario):
    key = "latency"
    title = "connect + auth + exec true"
    variants = (("default kex", ()),
                ("curve25519-sha256", ("-o", "KexAlgorithms=curve25519-sha256")))

    def run(self, ctx):
        runs, warmup = (10, 1) if ctx.quick else (100, 3)
        rows = []
        ctx.details["latency"] = {"runs": runs, "warmup": warmup, "variants": {}}
        for vname, opts in self.variants:
            times, missing = {s.name: [] for s in ctx.servers}, {}
            ctx.details["latency"]["variants"][vname] = {
                "negotiated": {s.name: ctx.client.negotiated(s, opts) for s in ctx.rotated(0)}}
            cpu0 = {}
            for i in range(warmup + runs):
                if i == warmup:
                    cpu0 = {s.name: (s.pid, _server_cpu(s)) for s in ctx.servers}
                for s in ctx.rotated(i):
                    if s.name in missing:
                        continue
                    t = self._one(ctx, s, opts)
                    if isinstance(t, str):
                        missing[s.name] = t
                    elif i >= warmup:
                        times[s.name].append(t)
            ok = {k: v for k, v in times.items() if k not in missing}
            # A listener restarted meanwhile (see Context.rotated) took its CPU figure along.
            cpu = {s.name: (_server_cpu(s) - cpu0[s.name][1]) / runs * 1000
                   if s.pid == cpu0[s.name][0] else None for s in ctx.servers if s.name in ok}
            ctx.details["latency"]["variants"][vname]["ms"] = ok
            ctx.details["latency"]["variants"][vname]["server_cpu_ms"] = cpu
            for stat, fn in (("median", median), ("p90", p90)):
                rows.append(Row(f"latency.{vname}.{stat}", f"latency {stat}, {vname}", "ms",
                                "lower", {k: fn(v) for k, v in ok.items()},
                                target=Target("openssh", "<="), missing=missing, fmt="{:.2f}"))
            rows.append(Row(f"latency.{vname}.server_cpu", f"  server CPU per connection, {vname}",
                            "ms", "lower", cpu, missing=missing, fmt="{:.2f}"))
        rows += self._context_rows(ctx, runs)
        return rows

    def _one(self, ctx, server, opts):
        argv = ctx.client.ssh(server, "true", opts)
        t0 = time.perf_counter()
        try:
            r = ctx.user.run(argv, timeout=30, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except BenchError as e:
            return str(e)
        dt = (time.perf_counter() - t0) * 1000
        if r.returncode != 0:
            return r.stderr.decode(errors="replace").strip()[-200:] or f"exit {r.returncode}"
        return dt

    def _context_rows(self, ctx, runs):
        """Local costs that explain part of the figures: spawning a process, and the shell.

        hatch runs commands with /bin/bash (diego-sshd's lookup order); OpenSSH and dropbear
        run the user's login shell, /bin/sh (dash) for hatch-test.
        """
        res = {}
        for name, argv in (("spawn /bin/true", ["/bin/true"]),
                           ("bash -c true", ["/bin/bash", "-c", "true"]),
                           ("sh -c true", ["/bin/sh", "-c", "true"])):
            ts = []
            for _ in range(max(20, runs // 2)):
                t0 = time.perf_counter()
                ctx.user.run(argv, timeout=10, stdin=subprocess.DEVNULL)
                ts.append((time.perf_counter() - t0) * 1000)
            res[name] = median(ts)
        ctx.details["latency"]["local_ms"] = res
        ctx.notes.append(
            "latency includes the orchestrator's spawn of ssh ({:.2f} ms for /bin/true). hatch "
            "runs `bash -c true` ({:.2f} ms locally), OpenSSH and dropbear `sh -c true` "
            "({:.2f} ms).".format(res["spawn /bin/true"], res["bash -c true"], res["sh -c true"]))
        return []


def _server_cpu(server):
    """CPU seconds of the server so far, once every connection's process is reaped."""
    server.wait_quiescent()
    return server.cpu_seconds()
