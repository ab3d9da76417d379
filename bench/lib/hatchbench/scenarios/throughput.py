"""`cat` of N MiB through an exec channel, down and up, per cipher (issue 2).

down: ssh -c C host 'head -c N /dev/zero' > (the bench, counting the bytes)
up:   head -c N /dev/zero | ssh -c C host 'wc -c' (checked against N)
MB/s = 10^6 bytes per second of wall time, connection set-up included (~1% at 512 MiB);
median of the runs, servers interleaved. Server CPU per GiB (Server.cpu_seconds(): the
server's cgroup, session commands included) shows efficiency apart from scheduling. The
remote command runs under GNU time, which reports its own CPU on stderr: "the daemon alone"
is the server's CPU less the command's, the CPU a server takes from the app beside the work
the user asked for (the same `head`/`wc` costs every server the same; on a VM where a system
call costs a microsecond, `head -c`'s 4 KiB writes are 0.7 s/GiB by themselves).
"""
from .base import (CPU_PER_GIB_TARGET, MIB, Row, Scenario, Target, median, ssh_works,
                   timed_command, timed_transfer, user_cpu_row)
from ..user import BenchError

CIPHERS = ("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com")


class Throughput(Scenario):
    key = "throughput"
    title = "exec channel throughput"

    def run(self, ctx):
        mib, runs = (64, 1) if ctx.quick else (512, 3)
        runs = ctx.runs or runs
        size = mib * MIB
        ctx.details["throughput"] = {"mib": mib, "runs": runs, "raw": {}}
        rows = []
        peak, peak_pss = {}, {}  # server -> KiB over all its transfers
        for cipher in CIPHERS:
            opts = ("-c", cipher)
            missing = {}
            for s in ctx.rotated(0):
                ok, why = ssh_works(ctx, s, "true", opts)
                if not ok:
                    missing[s.name] = f"{cipher} not negotiated: {why}"
            short = cipher.split("@")[0]
            for direction in ("down", "up"):
                raw = {s.name: [] for s in ctx.servers if s.name not in missing}
                miss = dict(missing)
                for i in range(runs):
                    for s in ctx.rotated(i):
                        if s.name in miss:
                            continue
                        try:
                            r = self._one(ctx, s, opts, direction, mib)
                        except BenchError as e:
                            miss[s.name] = str(e)
                            raw.pop(s.name, None)
                            continue
                        raw[s.name].append(r)
                        peak[s.name] = max(peak.get(s.name, 0), r["peak_conn_rss_kib"])
                        if r["peak_conn_pss_kib"] is not None:
                            peak_pss[s.name] = max(peak_pss.get(s.name, 0),
                                                   r["peak_conn_pss_kib"])
                ctx.details["throughput"]["raw"][f"{direction}.{short}"] = raw
                mbps = {k: median([size / r["seconds"] / 1e6 for r in v]) for k, v in raw.items()}
                cpu = {k: median([r["server_cpu_s"] * (1024 * MIB) / size for r in v])
                       for k, v in raw.items()}
                own = {k: median([(r["server_cpu_s"] - r["command_cpu_s"]) * (1024 * MIB) / size
                                  for r in v])
                       for k, v in raw.items() if all(r["command_cpu_s"] is not None for r in v)}
                rows.append(Row(f"throughput.{direction}.{short}",
                                f"{direction} {mib} MiB, {short}", "MB/s", "higher", mbps,
                                target=Target("openssh", ">="), missing=miss, fmt="{:.0f}"))
                rows.append(Row(f"server_cpu.{direction}.{short}",
                                f"  server CPU per GiB, {direction} {short}", "s", "lower",
                                cpu, missing=miss, fmt="{:.2f}"))
                rows.append(Row(f"server_cpu_own.{direction}.{short}",
                                f"  the daemon alone (less the command), {direction} {short}",
                                "s", "lower", own, target=CPU_PER_GIB_TARGET, missing=miss,
                                fmt="{:.2f}"))
                rows.append(user_cpu_row(f"server_user_own.{direction}.{short}",
                                         f"    of it in user space, {direction} {short}",
                                         raw, size, miss, less_command=True))
        rows.append(Row("throughput.peak_conn_rss", "peak RSS of a connection while streaming",
                        "MiB", "lower", {k: v / 1024 for k, v in peak.items()}, fmt="{:.1f}"))
        rows.append(Row("throughput.peak_conn_pss", "peak PSS of a connection while streaming",
                        "MiB", "lower", {k: v / 1024 for k, v in peak_pss.items()},
                        fmt="{:.1f}"))
        return rows

    def _one(self, ctx, server, opts, direction, mib):
        # Both ends count the bytes (the client's stdout here; `wc -c` there, as cheap as
        # `cat > /dev/null`): a server that loses data fails instead of looking fast.
        if direction == "down":
            argv = ctx.client.ssh(server, timed_command(f"head -c {mib}M /dev/zero"), opts)
            return timed_transfer(ctx, server, argv, stdout_bytes=mib * MIB,
                                  timeout=30 + mib * MIB / 5e6)
        argv = ctx.client.ssh(server, timed_command("wc -c"), opts)
        return timed_transfer(ctx, server, argv, feed=["head", "-c", f"{mib}M", "/dev/zero"],
                              stdout_text=str(mib * MIB), timeout=30 + mib * MIB / 5e6)
