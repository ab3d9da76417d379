"""TCP forwarding: 1 GiB through `ssh -N -L` and `ssh -N -R`, both ways, and 100 short
connections at once through one -L tunnel (issue 4).

Both ends of every forwarded connection are fwdpeer.py (Debian's python3, as the bench
user, copied into the workdir): a target listening on a free loopback port, and a peer that
connects to the tunnel's listening port (the ssh client's for -L, the server's for -R).
The receiver counts the bytes and checks they are the zeros sent: a transfer that loses,
adds or changes a byte fails instead of looking fast; nothing moving for 20 s fails as hung.

The tunnel is `ssh -N -o ExitOnForwardFailure=yes -L|-R 127.0.0.1:F:127.0.0.1:T` with the
run's client options; it is ready when port F is in LISTEN state (/proc/net/tcp: polling it
with connect() would open a forwarded connection). Timing starts then: key exchange and
authentication are not in the MB/s (they are in the latency scenario). Server CPU (the
server's cgroup) covers the transfer and the connection's teardown; peak RSS/PSS are the
connection's processes (the listener left out), sampled every 100 ms.

Directions, in SSH terms: "server->client" is data the server sends on the channel.
  -L server->client: the target (beside the server) sends, the local peer receives.
  -L client->server: the local peer sends into the tunnel, the target receives.
  -R server->client: a peer connected to the server's port sends, the target (beside the
                     client) receives.
  -R client->server: the target beside the client sends back to that peer.
"""
import json
import os
import subprocess
import tempfile
import time

from .. import procmem
from ..servers import free_port
from ..user import BenchError
from .base import (CPU_PER_GIB_TARGET, MIB, Row, Scenario, Target, median, p90,
                   read_line, user_cpu_row)

PY = "/usr/bin/python3"  # Debian's: the bench user cannot run root's pyenv
PEER_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))),
                        "fwdpeer.py")

OPS = (  # key, label, -L/-R, mode of the target (port T), mode of the peer (port F)
    ("L.down", "-L server->client", "L", "serve-source", "connect-sink"),
    ("L.up", "-L client->server", "L", "serve-sink", "connect-source"),
    ("R.down", "-R server->client", "R", "serve-sink", "connect-source"),
    ("R.up", "-R client->server", "R", "serve-source", "connect-sink"),
)
CONNS = 100


def listening(port):
    """True if something listens on TCP `port` (any address)."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False


def _stop(p, grace=3):
    if p is None:
        return
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for f in (p.stdin, p.stdout):
        if f:
            try:
                f.close()
            except OSError:
                pass


def _result(p):
    """The last JSON line a fwdpeer printed (after it exited), or None."""
    try:
        text = p.stdout.read().decode(errors="replace").strip().splitlines()
        return json.loads(text[-1]) if text else None
    except (ValueError, OSError):
        return None


class Forward(Scenario):
    key = "forward"
    title = "TCP forwarding: -L/-R throughput, 100 connections through one tunnel"
    issue = 4

    def run(self, ctx):
        mib, runs = (64, 1) if ctx.quick else (1024, 1)
        runs = ctx.runs or runs
        bursts = 1 if ctx.quick else 9  # one burst is ~0.1 s: the median of 9 is steady
        size = mib * MIB
        with open(PEER_SRC) as f:
            self.peer = ctx.ws.write("fwdpeer.py", f.read(), 0o755)
        d = ctx.details["forward"] = {"mib": mib, "runs": runs, "bursts": bursts,
                                      "connections": CONNS, "raw": {}}
        rows, peak_rss, peak_pss = [], {}, {}
        szl = f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"
        for key, label, fwd, tmode, pmode in OPS:
            raw, miss = {s.name: [] for s in ctx.servers}, {}
            for i in range(runs):
                for s in ctx.rotated(i):
                    if s.name in miss:
                        continue
                    try:
                        r = self._transfer(ctx, s, fwd, tmode, pmode, size)
                    except BenchError as e:
                        miss[s.name] = str(e)
                        raw.pop(s.name, None)
                        continue
                    raw[s.name].append(r)
                    peak_rss[s.name] = max(peak_rss.get(s.name, 0), r["peak_conn_rss_kib"])
                    if r["peak_conn_pss_kib"] is not None:
                        peak_pss[s.name] = max(peak_pss.get(s.name, 0), r["peak_conn_pss_kib"])
            d["raw"][key] = raw
            mbps = {k: median([size / r["seconds"] / 1e6 for r in v]) for k, v in raw.items()}
            cpu = {k: median([r["server_cpu_s"] * (1024 * MIB) / size for r in v])
                   for k, v in raw.items()}
            rows.append(Row(f"forward.{key}", f"{label} {szl}", "MB/s", "higher", mbps,
                            target=Target("openssh", ">="), missing=miss, fmt="{:.0f}"))
            rows.append(Row(f"forward_cpu.{key}", f"  server CPU per GiB, {label}", "s",
                            "lower", cpu, target=CPU_PER_GIB_TARGET, missing=miss, fmt="{:.2f}"))
            rows.append(user_cpu_row(f"forward_user.{key}", f"    of it in user space, {label}",
                                     raw, size, miss))
        rows.append(Row("forward.peak_conn_rss", "peak RSS of a forwarding connection", "MiB",
                        "lower", {k: v / 1024 for k, v in peak_rss.items()}))
        rows.append(Row("forward.peak_conn_pss", "peak PSS of a forwarding connection", "MiB",
                        "lower", {k: v / 1024 for k, v in peak_pss.items()}))
        rows += self._bursts(ctx, bursts)
        return rows

    # --- one tunnel --------------------------------------------------------------------
    def _tunnel(self, ctx, server, fwd, fport, tport, errf):
        """Start `ssh -N -L|-R`; return the process once port F listens."""
        spec = f"127.0.0.1:{fport}:127.0.0.1:{tport}"
        argv = ctx.client.ssh(server, None, ["-N", "-o", "ExitOnForwardFailure=yes",
                                             f"-{fwd}", spec])
        p = ctx.user.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=errf)
        deadline = time.monotonic() + 20
        while not listening(fport):
            if p.poll() is not None or time.monotonic() > deadline:
                _stop(p)
                errf.seek(0)
                err = errf.read().decode(errors="replace").strip()[-300:]
                how = (f"exited {p.returncode}" if p.returncode is not None and
                       time.monotonic() <= deadline else "not listening after 20 s")
                raise BenchError(f"{server.name}: ssh -{fwd} tunnel {how}: {err}")
            time.sleep(0.01)
        return p

    def _peer(self, ctx, *args, go=False):
        p = ctx.user.popen([PY, self.peer] + [str(a) for a in args],
                           stdin=subprocess.PIPE if go else subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if read_line(p, 15) != "ready":
            _stop(p)
            raise BenchError(f"fwdpeer {args[0]} did not start")
        return p

    def _transfer(self, ctx, server, fwd, tmode, pmode, size):
        tport, fport = free_port(), free_port()
        while fport == tport:
            fport = free_port()
        timeout = 30 + size / 5e6
        target = peer = ssh = None
        server.wait_quiescent()
        try:
            with tempfile.TemporaryFile() as errf, \
                    procmem.PeakSampler(server.pid, server.comms) as sampler:
                target = self._peer(ctx, tmode, tport, size)
                peer = self._peer(ctx, pmode, fport, size, go=True)
                ssh = self._tunnel(ctx, server, fwd, fport, tport, errf)
                cpu0, user0 = server.cpu_seconds(), server.cpu_user_seconds()
                t0 = time.perf_counter()
                peer.stdin.write(b"go\n")
                peer.stdin.flush()
                recv, send = (target, peer) if tmode == "serve-sink" else (peer, target)
                try:
                    recv.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise BenchError(f"{server.name}: -{fwd} transfer timed out after "
                                     f"{timeout:.0f}s")
                seconds = time.perf_counter() - t0
                try:
                    send.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
                res = _result(recv)
                if res is None or not res.get("ok"):
                    errf.seek(0)
                    err = errf.read().decode(errors="replace").strip()[-200:]
                    if res is None:
                        why = f"receiver exited {recv.returncode} without a result"
                    elif res.get("error"):
                        why = f"{res['error']} ({res['bytes']} of {size} bytes arrived)"
                    elif res.get("nonzero_chunks"):
                        why = f"{res['nonzero_chunks']} chunks arrived altered"
                    else:
                        why = f"{res['bytes']} of {size} bytes arrived"
                    raise BenchError(f"{server.name}: -{fwd} transfer failed: {why}"
                                     + (f"; ssh: {err}" if err else ""))
                _stop(ssh)
                ssh = None
                server.wait_quiescent()
                cpu1, user1 = server.cpu_seconds(), server.cpu_user_seconds()
            return {"seconds": seconds, "server_cpu_s": cpu1 - cpu0,
                    "server_user_s": user1 - user0,
                    "peak_conn_rss_kib": sampler.peak_rss_kib,
                    "peak_conn_pss_kib": sampler.peak_pss_kib}
        finally:
            for p in (peer, target, ssh):
                _stop(p)

    # --- 100 short connections ---------------------------------------------------------
    def _bursts(self, ctx, bursts):
        raw, miss = {s.name: [] for s in ctx.servers}, {}
        for i in range(bursts):
            for s in ctx.rotated(i):
                if s.name in miss:
                    continue
                try:
                    raw[s.name].append(self._burst(ctx, s))
                except BenchError as e:
                    miss[s.name] = str(e)
                    raw.pop(s.name, None)
        ctx.details["forward"]["raw"]["burst"] = raw
        wall = {k: median([r["wall_s"] * 1000 for r in v]) for k, v in raw.items()}
        rate = {k: median([(r["ok"]) / r["wall_s"] for r in v]) for k, v in raw.items()}
        lats = {k: sorted(x for r in v for x in r["latency_ms"]) for k, v in raw.items()}
        failed = {k: float(sum(r["failed"] for r in v)) for k, v in raw.items()}
        cpu = {k: median([r["server_cpu_s"] * 1000 / CONNS for r in v]) for k, v in raw.items()}
        for k, v in raw.items():
            errs = sorted({e for r in v for e in r["errors"]})
            if errs:
                ctx.notes.append(f"forward: {k}: {int(failed[k])} of {CONNS * len(v)} "
                                 f"connections through -L failed: {'; '.join(errs)[:300]}")
        n = f"{CONNS} conns via one -L"
        return [
            Row("forward.burst.wall", f"{n}: wall time", "ms", "lower", wall, missing=miss),
            Row("forward.burst.rate", f"{n}: connections/s", "1/s", "higher", rate,
                target=Target("openssh", ">="), missing=miss, fmt="{:.0f}"),
            Row("forward.burst.p50", f"{n}: latency p50", "ms", "lower",
                {k: median(v) for k, v in lats.items()}, missing=miss),
            Row("forward.burst.p90", f"{n}: latency p90", "ms", "lower",
                {k: p90(v) for k, v in lats.items()}, missing=miss),
            Row("forward.burst.failed", f"{n}: failed connections", "", "lower", failed,
                target=Target(None, "<=", 0.0, "none fails"), missing=miss, fmt="{:.0f}"),
            Row("forward.burst.cpu", f"  server CPU per connection, {n}", "ms", "lower", cpu,
                missing=miss, fmt="{:.2f}"),
        ]

    def _burst(self, ctx, server):
        tport, fport = free_port(), free_port()
        while fport == tport:
            fport = free_port()
        echo = peer = ssh = None
        server.wait_quiescent()
        try:
            with tempfile.TemporaryFile() as errf:
                echo = self._peer(ctx, "serve-echo", tport)
                peer = self._peer(ctx, "connect-many", fport, CONNS, go=True)
                ssh = self._tunnel(ctx, server, "L", fport, tport, errf)
                cpu0 = server.cpu_seconds()
                peer.stdin.write(b"go\n")
                peer.stdin.flush()
                try:
                    peer.wait(timeout=150)
                except subprocess.TimeoutExpired:
                    raise BenchError(f"{server.name}: {CONNS} connections through -L took "
                                     f"over 150 s")
                res = _result(peer)
                if res is None:
                    raise BenchError(f"{server.name}: connect-many exited {peer.returncode} "
                                     f"without a result")
                if ssh.poll() is not None:
                    errf.seek(0)
                    res["errors"].append("ssh exited: " + errf.read().decode(
                        errors="replace").strip()[-200:])
                _stop(ssh)
                ssh = None
                server.wait_quiescent()
                res["server_cpu_s"] = server.cpu_seconds() - cpu0
                return res
        finally:
            for p in (peer, echo, ssh):
                _stop(p)
