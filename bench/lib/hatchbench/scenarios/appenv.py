"""What a session in the app's environment costs (issue 7: diego-sshd -appEnvironment).

A sample classic droplet is laid out in the workdir (app/, deps/, tmp/, three buildpack
profile.d scripts and one of the app's, Diego's VCAP_* variables with a database service). A
second hatch listener runs with `-inheritDaemonEnv -appEnvironment` and that droplet as its
HOME. Each round, interleaved:

  * hatch -appEnvironment: `ssh host true`, a new connection each time: the app environment is
    prepared (once per connection) and bash sources the profile scripts before `true`;
  * OpenSSH and dropbear: `ssh host '<shell> <app> true'` with hatch's lifecycle `shell` (the
    way to get the app environment without the flag: the same work, run per session);
  * hatch without the flag: `ssh host true`, the floor.

and the same three over one multiplexed connection (ControlMaster): sessions on a connection
that is already up, where hatch reuses what it prepared. Figures: median ms; ratios as usual
(hatch -appEnvironment / the others running the lifecycle shell). The row "overhead vs plain"
is hatch -appEnvironment minus hatch without it.
"""
import os
import shutil
import subprocess
import time

from .base import Row, Scenario, Target, median
from ..servers import HatchServer
from ..user import BenchError

VCAP_APPLICATION = ('{"application_name":"dora","application_id":"9f0e8d7c","instance_id":"x",'
                    '"limits":{"mem":256,"disk":1024,"fds":16384},"space_name":"dev"}')
VCAP_SERVICES = ('{"elephantsql":[{"name":"pg","label":"elephantsql","credentials":'
                 '{"uri":"postgresql://user:pw@db.example.com:5432/dora"}}]}')
PROFILE_SCRIPTS = {
    "profile.d/000_multi-supply.sh": "export PATH=$DEPS_DIR/0/bin:$PATH\n",
    "profile.d/0_ruby.sh": "export GEM_HOME=$HOME/vendor/bundle\nexport RACK_ENV=${RACK_ENV:-production}\n",
    "profile.d/1_node.sh": 'export NODE_HOME=$DEPS_DIR/1/node\n[ -d "$NODE_HOME" ] || true\n',
    "app/.profile.d/app.sh": "export APP_READY=1\n",
}


class HatchAppEnvServer(HatchServer):
    name = "hatch-appenv"

    def __init__(self, ws, binary, droplet):
        super().__init__(ws, binary)
        self.droplet = droplet

    def command(self):
        return super().command() + ["-inheritDaemonEnv", "-appEnvironment"]

    def start(self):
        env = dict(self.user.env, HOME=self.droplet, VCAP_APPLICATION=VCAP_APPLICATION,
                   VCAP_SERVICES=VCAP_SERVICES, INSTANCE_GUID="guid", PORT="8080",
                   INSTANCE_INDEX="0")
        saved, self.user.env = self.user.env, env
        try:
            super().start()
        finally:
            self.user.env = saved


class AppEnvironment(Scenario):
    key = "appenv"
    title = "session in the app's environment (-appEnvironment)"
    issue = 7

    def run(self, ctx):
        runs, warmup = (10, 1) if ctx.quick else (60, 3)
        droplet = self._droplet(ctx)
        shell = self._lifecycle_shell(ctx)
        hatch = next(s for s in ctx.servers if s.name == "hatch")
        appenv = HatchAppEnvServer(ctx.ws, hatch.binary, droplet)
        appenv.cgroup = None
        appenv.start()
        try:
            self._check(ctx, appenv)
            commands = {"hatch": (appenv, "true"), "hatch plain": (hatch, "true")}
            for s in ctx.servers:
                if s.name != "hatch" and shell:
                    commands[s.name] = (s, f"{shell} {droplet}/app true")
            fresh = self._measure(ctx, commands, runs, warmup, mux=False)
            muxed = self._measure(ctx, commands, runs, warmup, mux=True)
        finally:
            appenv.stop()
        ctx.details["appenv"] = {"runs": runs, "warmup": warmup, "droplet": droplet,
                                 "new_connection_ms": fresh, "multiplexed_ms": muxed}
        missing = {s.name: "no lifecycle shell binary" for s in ctx.servers
                   if s.name != "hatch" and not shell}
        rows = []
        for label, data in (("new connection", fresh), ("multiplexed session", muxed)):
            med = {k: median(v) for k, v in data.items() if v}
            values = {s.name: med.get(s.name) for s in ctx.servers}
            rows.append(Row(f"appenv.{label.split()[0]}.median",
                            f"app env session, {label}, median", "ms", "lower", values,
                            target=Target("openssh", "<="), missing=missing, fmt="{:.2f}"))
            overhead = med["hatch"] - med["hatch plain"]
            rows.append(Row(f"appenv.{label.split()[0]}.overhead",
                            f"  overhead vs plain hatch session, {label}", "ms", None,
                            {"hatch": overhead}, fmt="{:.2f}"))
        ctx.notes.append(
            "appenv: hatch runs its sessions through -appEnvironment (prepared once per "
            "connection, profile scripts sourced per session); OpenSSH and dropbear run "
            "hatch's lifecycle `shell` in each session, the way to get the app's environment "
            "without the flag.")
        return rows

    def _droplet(self, ctx):
        root = ctx.ws.path("droplet")
        for rel, text in PROFILE_SCRIPTS.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        for d in ("deps/0/bin", "deps/1", "tmp", "app/vendor"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        for d, dirs, files in os.walk(root):
            os.chmod(d, 0o755)
            ctx.user.chown(d)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
                ctx.user.chown(os.path.join(d, f))
        return root

    def _lifecycle_shell(self, ctx):
        """hatch's lifecycle `shell`, built beside diego-sshd; copied where the user can run it."""
        hatch = next(s for s in ctx.servers if s.name == "hatch")
        src = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(hatch.binary))),
                           "lifecycle", "shell")
        if not os.access(src, os.X_OK):
            src = os.path.join(os.path.dirname(hatch.binary), "shell")
        if not os.access(src, os.X_OK):
            ctx.notes.append(f"appenv: no lifecycle shell next to {hatch.binary}; "
                             "OpenSSH/dropbear rows are empty")
            return None
        dst = ctx.ws.path("lifecycle-shell")
        shutil.copy2(src, dst)
        os.chmod(dst, 0o755)
        return dst

    def _check(self, ctx, appenv):
        """The session really is in the app's environment (else the figures mean nothing)."""
        r = ctx.user.run(ctx.client.ssh(appenv, 'echo "$APP_READY $DATABASE_URL"'), timeout=30,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        want = "1 postgres://user:pw@db.example.com:5432/dora"
        if r.stdout.decode().strip() != want:
            raise BenchError(f"-appEnvironment session is not in the app's environment: "
                             f"{r.stdout!r} {r.stderr.decode(errors='replace')[-300:]}")

    def _measure(self, ctx, commands, runs, warmup, mux):
        names = list(commands)
        times = {n: [] for n in names}
        masters = {}
        try:
            if mux:
                for n, (server, _) in commands.items():
                    masters[n] = self._master(ctx, server, n)
            for i in range(warmup + runs):
                for n in names[i % len(names):] + names[:i % len(names)]:
                    server, command = commands[n]
                    opts = ("-S", masters[n][1], "-o", "ControlMaster=no") if mux else ()
                    argv = ctx.client.ssh(server, command, opts)
                    t0 = time.perf_counter()
                    r = ctx.user.run(argv, timeout=30, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    dt = (time.perf_counter() - t0) * 1000
                    if r.returncode != 0:
                        raise BenchError(f"appenv: {n}: {r.stderr.decode(errors='replace')[-300:]}")
                    if i >= warmup:
                        times[n].append(dt)
        finally:
            for proc, sock in masters.values():
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        return times

    def _master(self, ctx, server, name):
        sock = ctx.ws.path(f"mux-{name.replace(' ', '-')}")
        argv = ctx.client.ssh(server, None, ("-M", "-S", sock, "-N", "-o", "ControlPersist=no"))
        proc = ctx.user.popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"appenv: control master for {name} did not start")
            time.sleep(0.02)
        return proc, sock
