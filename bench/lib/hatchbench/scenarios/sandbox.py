"""What confining a session costs (issue 14: the baseline syscall filter and -readOnly).

Three more hatch listeners beside the run's: `-syscallFilter=false` (no confinement, the
floor), the default (no_new_privs + the baseline seccomp filter) and `-readOnly` (+ Landlock
and the metadata filter). Each gets a multiplexed connection (ControlMaster), and each round,
interleaved, one `exec true` session runs on each: the session start is all that differs.
Figures: median wall ms per session and the server's CPU per session (from each listener's
cgroup, when the run has one: the child applying the sandbox and the bash it execs, which
then runs under the filter), and the difference to the unconfined floor.
"""
import subprocess

from .appenv import AppEnvironment
from .base import Row, median
from ..servers import HatchServer
from ..user import BenchError


class HatchVariant(HatchServer):
    def __init__(self, ws, binary, name, flags):
        self.name = name  # before Server.__init__, which names the log after it
        super().__init__(ws, binary)
        self.flags = flags

    def command(self):
        return super().command() + list(self.flags)


VARIANTS = (("hatch-unconfined", ("-syscallFilter=false",)),
            ("hatch-baseline", ()),
            ("hatch-read-only", ("-readOnly",)))


class Sandbox(AppEnvironment):
    key = "sandbox"
    title = "session confinement (baseline filter, -readOnly)"
    issue = 14

    def run(self, ctx):
        runs, warmup = (20, 2) if ctx.quick else (200, 5)
        hatch = next(s for s in ctx.servers if s.name == "hatch")
        servers = [HatchVariant(ctx.ws, hatch.binary, n, f) for n, f in VARIANTS]
        for s in servers:
            s.cgroup = hatch.cgroup
            s.start()
        try:
            self._check(ctx, servers)
            commands = {s.name: (s, "true") for s in servers}
            cpu0 = {s.name: s.cgroup.seconds(s.name) if s.cgroup else None for s in servers}
            times = self._measure(ctx, commands, runs, warmup, mux=True)
            cpu = {s.name: (s.cgroup.seconds(s.name) - cpu0[s.name]) / (runs + warmup) * 1000
                   if s.cgroup else None for s in servers}
        finally:
            for s in servers:
                s.stop()
        wall = {n: median(v) for n, v in times.items()}
        ctx.details["sandbox"] = {"runs": runs, "warmup": warmup, "session_ms": times,
                                  "server_cpu_ms_per_session": cpu}
        floor = VARIANTS[0][0]
        rows = []
        for name, _ in VARIANTS[1:]:
            label = name.replace("hatch-", "")
            rows.append(Row(f"sandbox.{label}.wall", f"session start, {label}: median wall",
                            "ms", None, {"hatch": wall[name]}, fmt="{:.2f}"))
            rows.append(Row(f"sandbox.{label}.wall_overhead",
                            f"  vs unconfined ({wall[floor]:.2f} ms)", "ms", None,
                            {"hatch": wall[name] - wall[floor]}, fmt="{:+.3f}"))
            if cpu[name] is not None:
                rows.append(Row(f"sandbox.{label}.cpu_overhead",
                                f"  server CPU per session vs unconfined ({cpu[floor]:.2f} ms)",
                                "ms", None, {"hatch": cpu[name] - cpu[floor]}, fmt="{:+.3f}"))
        ctx.notes.append("sandbox: multiplexed `exec true` sessions on three extra hatch "
                         "listeners (-syscallFilter=false, default, -readOnly); overheads are "
                         "against the unconfined one.")
        return rows

    def _check(self, ctx, servers):
        """The confinement is really on (else the figures mean nothing)."""
        ro = servers[2]
        r = ctx.user.run(ctx.client.ssh(ro, "touch /tmp/hatch-bench-ro"), timeout=30,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode == 0 or b"read-only session" not in r.stderr:
            raise BenchError(f"sandbox: the -readOnly session could write: {r.stderr[-300:]!r}")
