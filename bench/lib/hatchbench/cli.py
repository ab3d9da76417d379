"""bench/run's main: options, build, start the three servers, run the scenarios, report.

Every server is stopped on any exit path (normal end, error, Ctrl-C, SIGTERM, SIGHUP);
every command has a timeout. Exit status: 0 when the run completed (targets missed or not),
1 on an error that stopped it, 2 for bad options.
"""
import argparse
import datetime
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

from . import procmem, report
from .scenarios import ALL, BY_KEY
from .scenarios.base import Context
from .servers import DropbearServer, HatchServer, OpenSshServer
from .sshclient import SshClient
from .user import BenchError, BenchUser
from .workspace import Workspace

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
REPO = os.path.dirname(BENCH_DIR)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/run", description=(
        "Benchmark hatch's diego-sshd against OpenSSH's sshd and dropbear on loopback."))
    ap.add_argument("--quick", action="store_true",
                    help="fewer runs and 64 MiB transfers (well under a minute)")
    ap.add_argument("--build-dir", default=None,
                    help="CMake build dir to build diego-sshd in (default: build/)")
    ap.add_argument("--static", action="store_true",
                    help="build the release flavour (-DHATCH_STATIC=ON, Release) in --build-dir "
                         "(default then: build-bench-static): what ships in /tmp/lifecycle")
    ap.add_argument("--no-build", action="store_true",
                    help="use the diego-sshd already in --build-dir without building")
    ap.add_argument("--hatch", metavar="BINARY", help="benchmark this diego-sshd binary")
    ap.add_argument("--scenarios", default=",".join(c.key for c in ALL),
                    help="comma-separated subset of: %(default)s")
    ap.add_argument("--runs", type=int, metavar="N",
                    help="runs per transfer (default 3 for exec transfers, 1 for files and forwards)")
    ap.add_argument("--results-dir", default=os.path.join(BENCH_DIR, "results"),
                    help="where the JSON result goes (default: %(default)s)")
    ap.add_argument("--wait-idle", type=int, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS for the CPUs to be mostly idle (other "
                         "builds on a shared machine skew every figure)")
    ap.add_argument("--realtime", action="store_true",
                    help="run every server, client and command with SCHED_RR priority 1 (root "
                         "only): on a machine busy with other work, the figures then look like "
                         "an idle machine's; other work gets what RT throttling leaves (5%%)")
    ap.add_argument("--cpus", metavar="LIST",
                    help="pin the bench to these CPUs (e.g. 1 or 0,1); with --realtime, "
                         "--cpus 1 leaves CPU 0 to the other work")
    ap.add_argument("--keep-workdir", action="store_true",
                    help="keep the temporary directory (keys, configs, server logs)")
    args = ap.parse_args(argv)
    keys = [k for k in args.scenarios.split(",") if k]
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(BY_KEY)}")
    args.scenario_classes = [BY_KEY[k] for k in keys]
    if args.build_dir is None:
        args.build_dir = os.path.join(REPO, "build-bench-static" if args.static else "build")
    return args


def build(args):
    """Returns (binary, build info)."""
    if args.hatch:
        return os.path.realpath(args.hatch), {"binary": args.hatch}
    bdir = os.path.realpath(args.build_dir)
    if not args.no_build:
        cache = os.path.join(bdir, "CMakeCache.txt")
        if not os.path.exists(cache):
            log(f"configuring {bdir}")
            flavour = (["-DHATCH_STATIC=ON", "-DHATCH_TESTS=OFF", "-DCMAKE_BUILD_TYPE=Release"]
                       if args.static else [])
            _run_build(["cmake", "-S", REPO, "-B", bdir, "-G", "Ninja"] + flavour, 600)
        elif args.static and "HATCH_STATIC:BOOL=ON" not in open(cache).read():
            raise BenchError(f"--static: {bdir} is configured without HATCH_STATIC=ON")
        log(f"building diego-sshd in {bdir}")
        _run_build(["cmake", "--build", bdir, "--target", "diego-sshd", "shell"], 1800)
    binary = os.path.join(bdir, "sshd", "diego-sshd")
    if not os.access(binary, os.X_OK):
        raise BenchError(f"no diego-sshd at {binary} (build it, or pass --hatch BINARY)")
    info = {"binary": binary, "build_dir": bdir}
    try:
        with open(os.path.join(bdir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith(("CMAKE_BUILD_TYPE:", "HATCH_STATIC:")):
                    key = "build_type" if line.startswith("CMAKE") else "static"
                    info[key] = line.split("=", 1)[1].strip()
    except OSError:
        pass
    return binary, info


def _run_build(argv, timeout):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)} timed out after {timeout}s")
    if r.returncode != 0:
        tail = "\n".join(r.stdout.decode(errors="replace").splitlines()[-30:])
        raise BenchError(f"{' '.join(argv)} failed:\n{tail}")


def cpu_busy(window=2.0):
    """Fraction of the bench's CPUs' time spent busy over `window` seconds (/proc/stat)."""
    mine = {f"cpu{c}" for c in os.sched_getaffinity(0)}

    def sample():
        total = idle = 0
        with open("/proc/stat") as f:
            for line in f:
                fields = line.split()
                if fields and fields[0] in mine:
                    v = [int(x) for x in fields[1:]]
                    total += sum(v)
                    idle += v[3] + v[4]  # idle + iowait
        return total, idle
    t0, i0 = sample()
    time.sleep(window)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def wait_idle(max_wait, threshold=0.3):
    """Wait (up to max_wait s) for two consecutive 2 s windows below `threshold` busy."""
    deadline, calm = time.monotonic() + max_wait, 0
    busy = cpu_busy()
    while time.monotonic() < deadline:
        calm = calm + 1 if busy < threshold else 0
        if calm >= 2:
            log(f"CPUs idle enough ({busy:.0%} busy)")
            return busy
        log(f"waiting for idle CPUs ({busy:.0%} busy)")
        busy = cpu_busy()
    log(f"still {busy:.0%} busy after {max_wait}s; measuring anyway")
    return busy


def set_scheduling(args):
    """--cpus and --realtime, for this process and so for everything it starts.

    Nice values do not help here: with autogroup scheduling every session (each server's
    and each connection's, after setsid) competes as its own group, whatever its nice value.
    A real-time policy is inherited across fork, setsid and exec, and outranks all of them.
    """
    try:
        if args.cpus:
            cpus = {int(c) for c in args.cpus.split(",") if c.strip()}
            os.sched_setaffinity(0, cpus)
        if args.realtime:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
    except (OSError, ValueError) as e:
        raise BenchError(f"--cpus/--realtime: {e}")


def scheduling_text():
    policy = {os.SCHED_OTHER: "normal", os.SCHED_RR: "SCHED_RR 1",
              os.SCHED_FIFO: "SCHED_FIFO"}.get(os.sched_getscheduler(0), "?")
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    return f"{policy}, CPUs {cpus}"


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


def host_info():
    info = {"uname": " ".join(platform.uname()), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def git_info():
    def git(*a):
        try:
            return subprocess.run(["git", "-C", REPO, *a], capture_output=True, timeout=10,
                                  text=True).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return {"commit": git("rev-parse", "HEAD"),
            "sshd_dirty": bool(git("status", "--porcelain", "--", "sshd"))}


def accessible_binary(user, ws, binary):
    """The bench user must be able to run the binary; copy it into the workdir if not."""
    if user.run(["test", "-x", binary], timeout=10).returncode == 0:
        return binary
    copy = ws.path("diego-sshd")
    shutil.copy2(binary, copy)
    user.chown(copy)
    return copy


def main(argv):
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_exit)
    t_start = time.monotonic()
    user, servers, ws, cgroup = None, [], None, None
    try:
        binary, build_info = build(args)
        user = BenchUser()
        set_scheduling(args)
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)  # sshd checks its privsep dir exists
        ws = Workspace(user, keep=args.keep_workdir)
        ws.make_keys()
        binary = accessible_binary(user, ws, binary)
        servers = [HatchServer(ws, binary), OpenSshServer(ws), DropbearServer(ws)]
        cgroup = procmem.CgroupCpu(f"hatch-bench.{os.getpid()}")
        if cgroup.available():
            for s in servers:
                s.cgroup = cgroup
        at_start = {}
        for s in servers:
            log(f"starting {s.version}")
            s.start()
            time.sleep(0.2)
            at_start[s.name] = procmem.tree_snapshot(s.pid, s.comms)
        busy_start = wait_idle(args.wait_idle) if args.wait_idle else cpu_busy(1.0)
        ctx = Context(user, ws, SshClient(ws), servers, args.quick, args.runs)
        ctx.details["memory"] = {"at_start": at_start}
        ctx.details["cpu_accounting"] = (cgroup.kind if cgroup.available() else
                                         "listener utime+stime+cutime+cstime")
        run = {"t_start": t_start, "build": build_info, "busy_start": busy_start,
               "scheduling": scheduling_text(),
               "load_start": os.getloadavg(), "quick": args.quick}
        rows, failed, interrupted = run_scenarios(args.scenario_classes, ctx)
        finish(args, ctx, servers, rows, failed, interrupted, run)
        return 130 if interrupted else 0
    except BenchError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if user:
            user.stop_all()
        for s in servers:
            s.stop()
            s.cleanup()
        if cgroup:
            cgroup.remove()
        if ws:
            ws.remove()
            if args.keep_workdir:
                log(f"workdir kept: {ws.dir}")


def run_scenarios(classes, ctx):
    """Rows of every scenario; one that fails is recorded and the next one runs.

    Ctrl-C or SIGTERM ends the run early but still reports what was measured.
    """
    rows, failed, interrupted = [], {}, None
    for cls in classes:
        sc = cls()
        ctx.scenario = sc.key
        log(f"{sc.key}: {sc.title} (issue {sc.issue})")
        t0 = time.monotonic()
        try:
            rows += sc.run(ctx)
        except BenchError as e:
            failed[sc.key] = str(e)
            log(f"{sc.key} failed: {e}")
        except (KeyboardInterrupt, SystemExit) as e:
            interrupted = f"interrupted during {sc.key} ({type(e).__name__})"
            log(interrupted)
            break
        log(f"{sc.key}: {time.monotonic() - t0:.0f}s")
    ctx.user.stop_all()
    return rows, failed, interrupted


def finish(args, ctx, servers, rows, failed, interrupted, run):
    """Print the table and notes; write the JSON result."""
    load_end = os.getloadavg()
    busy_start, busy_end = run["busy_start"], cpu_busy(1.0)
    load_start = run["load_start"]
    print()
    print(f"hatch bench ({'quick' if args.quick else 'full'}) on {host_info().get('cpu', '?')}"
          f", {os.cpu_count()} CPUs; other load: {busy_start:.0%} busy before, "
          f"{busy_end:.0%} after (loadavg {load_start[0]:.2f} -> {load_end[0]:.2f})"
          + f"; bench scheduling: {run['scheduling']}")
    print("servers: " + "; ".join(f"{s.name} = {s.version}" for s in servers))
    print()
    print(report.table(rows, servers))
    notes = report.footnotes(rows)
    if interrupted:
        notes.append(f"  {interrupted}: the table is partial")
    for key, why in failed.items():
        notes.append(f"  scenario {key} failed: {why}")
    for ev in ctx.server_events:
        notes.append(f"  {ev['server']} exited ({ev['how']}) during {ev['scenario']} and was "
                     f"restarted; figures of that scenario mix two listeners")
    neg = ctx.details.get("latency", {}).get("variants", {}).get("default kex", {})
    for name, algs in neg.get("negotiated", {}).items():
        notes.append(f"  {name}: default kex {algs.get('kex')}, host key "
                     f"{algs.get('hostkey')}, cipher {algs.get('cipher_s2c')}")
    notes += [f"  {n}" for n in ctx.notes]
    if max(busy_start, busy_end) > 0.3:
        notes.append("  the machine was busy with other work (over 30% CPU before or after "
                     "the run): wall-time figures are noisy; server CPU is steadier")
    if notes:
        print()
        print("notes:")
        print("\n".join(notes))

    now = datetime.datetime.now()
    result = {
        "date": now.isoformat(timespec="seconds"),
        "mode": ("quick" if args.quick else "full") + (" (interrupted)" if interrupted else ""),
        "host": host_info(), "loadavg": {"start": load_start, "end": load_end},
        "cpu_busy": {"start": busy_start, "end": busy_end}, "scheduling": run["scheduling"],
        "git": git_info(), "build": run["build"],
        "servers": {s.name: {"version": s.version} for s in servers},
        "rows": {r.key: r.to_json() for r in rows},
        "failed_scenarios": failed, "interrupted": interrupted,
        "server_events": ctx.server_events, "notes": ctx.notes, "details": ctx.details,
        "duration_s": round(time.monotonic() - run["t_start"], 1),
    }
    name = now.strftime("%Y-%m-%dT%H%M%S") + ("-quick" if args.quick else "") + ".json"
    try:
        os.makedirs(args.results_dir, exist_ok=True)
        out = os.path.join(args.results_dir, name)
        report.write_json(out, result)
        print(f"\nresult: {out} ({result['duration_s']:.0f}s)")
    except OSError as e:
        log(f"cannot write the result into {args.results_dir}: {e}")
