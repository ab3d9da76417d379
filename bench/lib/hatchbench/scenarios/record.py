"""What the audit trail and session recordings cost (issue 14: -auditLog, -recordSessions).

Three hatch listeners beside the bench's own (the same binary, the same keys):
  * "unaudited": -auditLog=none (no trail, no recording): the floor;
  * "audited": the defaults (the trail on stdout, to the server's log file), no recording;
  * "recorded": -recordSessions=<workdir>/casts with -recordMaxBytes above the transfer, so
    the whole transfer is recorded (escaped as JSON, hashed, written to disk).
Measured, interleaved, on each:
  * exec down N MiB (`head -c N /dev/zero`, no pty; 1 GiB, 64 MiB with --quick): MB/s and
    server CPU per GiB (the listener's reaped children);
  * an interactive session: `ssh -tt host 'seq 1 200000'` (1.3 MB through a pty: output,
    the terminal's echo, a file per session), wall time median;
  * session start: `ssh -tt host true`, wall time median (creating the file and its header).
Rows carry hatch's figures only; the ratio rows are recorded / unaudited and audited /
unaudited.
"""
import os
import shutil
import subprocess
import time

from .base import MIB, Row, Scenario, median, timed_transfer
from ..servers import HatchServer
from ..user import BenchError


class HatchVariant(HatchServer):
    def __init__(self, ws, binary, name, flags):
        self.name = f"hatch-{name}"
        super().__init__(ws, binary)
        self.flags = flags

    def command(self):
        return super().command() + list(self.flags)


class Recording(Scenario):
    key = "record"
    title = "audit trail and session recording (-auditLog, -recordSessions)"
    issue = 14

    def run(self, ctx):
        mib, runs = (64, 1) if ctx.quick else (1024, 3)
        runs = ctx.runs or runs
        lat_runs = 5 if ctx.quick else 30
        hatch = next(s for s in ctx.servers if s.name == "hatch")
        casts = ctx.ws.path("casts")
        os.makedirs(casts, exist_ok=True)
        os.chmod(casts, 0o755)
        ctx.user.chown(casts)
        variants = {
            "unaudited": HatchVariant(ctx.ws, hatch.binary, "unaudited", ["-auditLog=none"]),
            "audited": HatchVariant(ctx.ws, hatch.binary, "audited", []),
            "recorded": HatchVariant(ctx.ws, hatch.binary, "recorded",
                                     [f"-recordSessions={casts}",
                                      f"-recordMaxBytes={4 * mib * MIB}"]),
        }
        for v in variants.values():
            v.cgroup = None
            v.start()
        raw = {n: {"exec": [], "pty": [], "start": []} for n in variants}
        try:
            names = list(variants)
            for i in range(runs):
                for n in names[i % 3:] + names[:i % 3]:
                    s = variants[n]
                    argv = ctx.client.ssh(s, f"head -c {mib}M /dev/zero")
                    raw[n]["exec"].append(timed_transfer(ctx, s, argv, stdout_bytes=mib * MIB,
                                                         timeout=60 + mib * MIB / 5e6))
                    self._clear(casts)
            for i in range(lat_runs + 1):
                for n in names[i % 3:] + names[:i % 3]:
                    s = variants[n]
                    pty = self._timed(ctx, s, "seq 1 200000")
                    start = self._timed(ctx, s, "true")
                    if i > 0:  # the first round warms caches
                        raw[n]["pty"].append(pty)
                        raw[n]["start"].append(start)
                self._clear(casts)
        finally:
            for v in variants.values():
                v.stop()
            shutil.rmtree(casts, ignore_errors=True)
        ctx.details["record"] = {"mib": mib, "runs": runs, "latency_runs": lat_runs, "raw": raw}

        def mbps(n):
            return median([mib * MIB / r["seconds"] / 1e6 for r in raw[n]["exec"]])

        def cpu(n):
            return median([r["server_cpu_s"] * 1024 / mib for r in raw[n]["exec"]])

        rows = []
        for n in names:
            rows.append(Row(f"record.exec.{n}", f"exec down {mib} MiB, hatch {n}", "MB/s",
                            "higher", {"hatch": mbps(n)}, fmt="{:.0f}"))
        for n in names:
            rows.append(Row(f"record.cpu.{n}", f"  server CPU per GiB, hatch {n}", "s",
                            "lower", {"hatch": cpu(n)}, fmt="{:.2f}"))
        for n in names:
            rows.append(Row(f"record.pty.{n}", f"pty session `seq 1 200000`, hatch {n}", "ms",
                            "lower", {"hatch": median(raw[n]["pty"])}, fmt="{:.1f}"))
        for n in names:
            rows.append(Row(f"record.start.{n}", f"session `ssh -tt true`, hatch {n}", "ms",
                            "lower", {"hatch": median(raw[n]["start"])}, fmt="{:.1f}"))
        for n in ("audited", "recorded"):
            for what, f, label in (("exec", mbps, "exec MB/s"), ("cpu", cpu, "CPU per GiB")):
                rows.append(Row(f"record.ratio.{what}.{n}", f"  {label}: {n} / unaudited", "x",
                                None, {"hatch": f(n) / f("unaudited")}, fmt="{:.2f}"))
            for what, label in (("pty", "pty session"), ("start", "session start")):
                rows.append(Row(f"record.ratio.{what}.{n}", f"  {label}: {n} / unaudited", "x",
                                None, {"hatch": median(raw[n][what]) /
                                       median(raw["unaudited"][what])}, fmt="{:.2f}"))
        ctx.notes.append(
            "record: three hatch listeners (-auditLog=none; defaults; -recordSessions with the "
            "cap above the transfer); server CPU from the listener's reaped children.")
        return rows

    def _timed(self, ctx, server, command):
        argv = ctx.client.ssh(server, command, ("-tt",))
        t0 = time.perf_counter()
        r = ctx.user.run(argv, timeout=60, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
        dt = (time.perf_counter() - t0) * 1000
        if r.returncode != 0:
            raise BenchError(f"record: {server.name}: {r.stderr.decode(errors='replace')[-300:]}")
        return dt

    @staticmethod
    def _clear(casts):
        for f in os.listdir(casts):
            try:
                os.unlink(os.path.join(casts, f))
            except OSError:
                pass
