"""File transfer throughput: SFTP get/put, `scp -O` and `scp` (SFTP mode), both ways (issue 3).

Client and server share the machine, so "remote" and "local" are two files in the workdir;
each run copies the source file to a fresh destination, checks its size and deletes it.
OpenSSH serves SFTP with its own sftp-server; dropbear with the sftp-server it finds (Debian:
OpenSSH's). A server whose SFTP subsystem or scp does not answer gets "not available".
Targets (issue 3): at least OpenSSH's throughput both ways; a connection's RSS during the
transfer under 8 MiB.
"""
import os

from .base import (CPU_PER_GIB_TARGET, MIB, Row, Scenario, Target, median, user_cpu_row,
                   timed_transfer)
from ..user import BenchError

OPS = (  # key, label, tool, direction
    ("sftp.get", "sftp get", "sftp", "down"),
    ("sftp.put", "sftp put", "sftp", "up"),
    ("scp_legacy.get", "scp -O get", "scp-O", "down"),
    ("scp_legacy.put", "scp -O put", "scp-O", "up"),
    ("scp_sftp.get", "scp (SFTP) get", "scp", "down"),
    ("scp_sftp.put", "scp (SFTP) put", "scp", "up"),
)


class FileTransfer(Scenario):
    key = "files"
    title = "file transfer"
    issue = 3

    def run(self, ctx):
        mib, runs = (64, 1) if ctx.quick else (1024, 1)
        runs = ctx.runs or runs
        size = mib * MIB
        src = ctx.ws.path("src.bin")
        with open(src, "wb") as f:
            ctx.user.run(["head", "-c", f"{mib}M", "/dev/zero"], timeout=120, stdout=f)
        ctx.user.chown(src)
        d = ctx.details["files"] = {"mib": mib, "runs": runs, "raw": {}}
        rows = []
        peak_rows, peak_pss = {}, {}  # server -> KiB
        try:
            avail = {tool: self._probe(ctx, tool) for tool in ("sftp", "scp-O", "scp")}
            d["not_available"] = {t: m for t, m in avail.items() if m}
            for key, label, tool, direction in OPS:
                miss = dict(avail[tool])
                raw = {s.name: [] for s in ctx.servers if s.name not in miss}
                for i in range(runs):
                    for s in ctx.rotated(i):
                        if s.name in miss:
                            continue
                        try:
                            raw[s.name].append(self._one(ctx, s, tool, direction, src, size))
                        except BenchError as e:
                            miss[s.name] = str(e)
                            raw.pop(s.name)
                d["raw"][key] = raw
                mbps = {k: median([size / r["seconds"] / 1e6 for r in v]) for k, v in raw.items()}
                cpu = {k: median([r["server_cpu_s"] * (1024 * MIB) / size for r in v])
                       for k, v in raw.items()}
                rows.append(Row(f"files.{key}", f"{label} {_size(mib)}", "MB/s", "higher", mbps,
                                target=Target("openssh", ">="), missing=miss, fmt="{:.0f}"))
                rows.append(Row(f"files_cpu.{key}", f"  server CPU per GiB, {label}", "s",
                                "lower", cpu, target=CPU_PER_GIB_TARGET, missing=miss,
                                fmt="{:.2f}"))
                rows.append(user_cpu_row(f"files_user.{key}", f"    of it in user space, {label}",
                                         raw, size, miss))
                for k, v in raw.items():
                    peak_rows[k] = max([peak_rows.get(k, 0)] + [r["peak_conn_rss_kib"] for r in v])
                    pss = [r["peak_conn_pss_kib"] for r in v if r["peak_conn_pss_kib"] is not None]
                    if pss:
                        peak_pss[k] = max([peak_pss.get(k, 0)] + pss)
        finally:
            for f in (src, ctx.ws.path("dst.bin")):
                if os.path.exists(f):
                    os.unlink(f)
        rows.append(Row("files.peak_conn_rss", "peak RSS of a connection, file transfers", "MiB",
                        "lower", {k: v / 1024 for k, v in peak_rows.items()},
                        target=Target(None, "<=", 8.0, "hatch <= 8 MiB")
                        if "hatch" in peak_rows else None))
        rows.append(Row("files.peak_conn_pss", "peak PSS of a connection, file transfers", "MiB",
                        "lower", {k: v / 1024 for k, v in peak_pss.items()}))
        return rows

    def _argv(self, ctx, server, tool, direction, src, dst):
        if tool == "sftp":
            verb = "get" if direction == "down" else "put"
            batch = ctx.ws.write(f"{verb}.batch", f"{verb} {src} {dst}\n")
            return ctx.client.sftp(server, ["-q", "-b", batch])
        a, b = ((("remote", src), dst) if direction == "down" else (src, ("remote", dst)))
        return ctx.client.scp(server, a, b, legacy=(tool == "scp-O"), opts=["-q"])

    def _one(self, ctx, server, tool, direction, src, size):
        dst = ctx.ws.path("dst.bin")
        if os.path.exists(dst):
            os.unlink(dst)
        # The server side of a transfer includes OpenSSH's sftp-server and the scp binary
        # (hatch has both built in), so they count in the connection's memory.
        r = timed_transfer(ctx, server, self._argv(ctx, server, tool, direction, src, dst),
                           timeout=30 + size / 5e6, helpers=("sftp-server", "scp"),
                           progress=lambda: os.path.getsize(dst) if os.path.exists(dst) else -1)
        got = -1
        if os.path.exists(dst):
            got = os.path.getsize(dst)
            os.unlink(dst)
        if got != size:
            raise BenchError(f"{server.name} {tool} {direction}: copied {got} of {size} bytes")
        return r

    def _probe(self, ctx, tool):
        """{server: reason} for servers on which a 1-byte copy with `tool` fails."""
        probe = ctx.ws.write("probe.txt", "x")
        out = {}
        for s in ctx.rotated(0):
            dst = ctx.ws.path("probe.out")
            try:
                r = ctx.user.run(self._argv(ctx, s, tool, "down", probe, dst), timeout=30,
                                 stdin=open(os.devnull), capture_output=True)
                if r.returncode != 0 or not os.path.exists(dst):
                    msg = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
                    out[s.name] = f"not available ({msg[-1] if msg else 'exit %d' % r.returncode})"
            except BenchError as e:
                out[s.name] = f"not available ({e})"
            if os.path.exists(dst):
                os.unlink(dst)
        return out


def _size(mib):
    return f"{mib // 1024} GiB" if mib >= 1024 and mib % 1024 == 0 else f"{mib} MiB"
