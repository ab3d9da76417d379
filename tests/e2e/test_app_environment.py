"""Sessions that start in the app's environment (issue 7): diego-sshd -appEnvironment, for a
classic buildpack droplet, a Cloud Native Buildpacks droplet and a Docker-style app process,
with the flag on and off, driven by OpenSSH's ssh and paramiko."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import (RUN_AS, SSH_BASE, ShellReader, daemon_user, pm_exec, running_as_root, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
CREDHUB_SERVER = os.path.join(HERE, "..", "lifecycle", "credhub_server.py")

VCAP_APPLICATION = '{"application_name":"dora","host":"10.0.0.1","instance_id":"old"}'
VCAP_SERVICES = '{"elephantsql":[{"name":"pg","credentials":{"uri":"postgresql://u:pw@db:5432/d"}}]}'


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def open_up(root):
    """Everything under root readable (and dirs enterable) by the daemon's user."""
    for d, dirs, files in os.walk(root):
        os.chmod(d, 0o755)
        for f in files:
            p = os.path.join(d, f)
            os.chmod(p, os.stat(p).st_mode | 0o444)


@pytest.fixture
def home():
    """A Diego-like /home/vcap: a classic droplet (app/, deps/, profile.d/)."""
    d = tempfile.mkdtemp(prefix="hatch-e2e-home-")
    write(f"{d}/profile.d/0-buildpack.sh", "export FROM_BUILDPACK_PROFILE=bp\n")
    write(f"{d}/app/.profile.d/app.sh", 'export FROM_APP_PROFILE="app:$FROM_BUILDPACK_PROFILE"\n')
    os.makedirs(f"{d}/deps")
    os.makedirs(f"{d}/tmp")
    open_up(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def droplet_env(home, **extra):
    env = {"HOME": home, "VCAP_APPLICATION": VCAP_APPLICATION, "VCAP_SERVICES": VCAP_SERVICES,
           "INSTANCE_GUID": "guid-1", "PORT": "8080", "INSTANCE_INDEX": "2", "MARKER": "daemon"}
    env.update(extra)
    return env


def run_ok(ssh, d, command, **kw):
    r = ssh.run(d, command, text=True, **kw)
    assert r.returncode == 0, (r.returncode, r.stderr)
    return r.stdout


def env_of(output):
    out = {}
    for line in output.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v
    return out


# ---------------------------------------------------------------------------------------------
# Classic buildpack droplets


def test_off_by_default_sessions_start_in_home_without_profile_scripts(sshd_factory, ssh, home):
    d = sshd_factory.start(env=droplet_env(home))
    env = env_of(run_ok(ssh, d, "env; echo CWD=$(pwd)"))
    assert env["HOME"] == home
    assert env["CWD"] == home
    assert "FROM_APP_PROFILE" not in env
    assert "DATABASE_URL" not in env
    assert env["VCAP_APPLICATION"] == VCAP_APPLICATION


def test_classic_droplet_exec_gets_the_launch_environment(sshd_factory, ssh, home):
    d = sshd_factory.start("-appEnvironment", env=droplet_env(home))
    env = env_of(run_ok(ssh, d, "env; echo CWD=$(pwd)"))
    assert env["HOME"] == f"{home}/app"
    assert env["CWD"] == f"{home}/app"
    assert env["TMPDIR"] == f"{home}/tmp"
    assert env["DEPS_DIR"] == f"{home}/deps"
    assert env["FROM_APP_PROFILE"] == "app:bp"  # ../profile.d first, then .profile.d
    assert env["DATABASE_URL"] == "postgres://u:pw@db:5432/d"
    assert json.loads(env["VCAP_APPLICATION"]) == {
        "application_name": "dora", "host": "0.0.0.0", "instance_id": "guid-1",
        "instance_index": 2, "port": 8080}
    assert env["MARKER"] == "daemon"
    log = d.wait_log("sshd.app-environment.prepared")
    assert log["data"]["kind"] == "buildpack" and log["data"]["app_dir"] == f"{home}/app"


def test_client_env_requests_override_the_app_environment_but_not_home(sshd_factory, ssh, home):
    d = sshd_factory.start("-appEnvironment", env=droplet_env(home))
    out = run_ok(ssh, d, "echo $MARKER $LANG $HOME",
                 opts=("-o", "SetEnv=MARKER=client LANG=C HOME=/nope"))
    assert out == f"client C {home}/app\n"


def test_exit_status_stderr_and_stdin_pass_through(sshd_factory, ssh, home):
    d = sshd_factory.start("-appEnvironment", env=droplet_env(home))
    r = ssh.run(d, "cat; echo oops >&2; exit 7", input=b"from stdin\n")
    assert r.returncode == 7
    assert r.stdout == b"from stdin\n"
    assert r.stderr == b"oops\n"


def test_interactive_shell_with_pty_lands_in_the_app(sshd_factory, pm, home):
    d = sshd_factory.start("-appEnvironment", env=droplet_env(home))
    chan = pm.connect(d).get_transport().open_session(timeout=15)
    chan.get_pty(term="xterm-256color")
    chan.invoke_shell()
    reader = ShellReader(chan)
    chan.sendall(b"echo R=$FROM_APP_PROFILE:$TERM:$(pwd):$$; exit 4\n")
    reader.expect(f"R=app:bp:xterm-256color:{home}/app:")
    assert chan.recv_exit_status() == 4


def test_builtin_sftp_keeps_working_with_the_flag(sshd_factory, keys, home, shared_tmp):
    d = sshd_factory.start("-appEnvironment", env=droplet_env(home))
    write(f"{shared_tmp}/f.txt", "payload\n", 0o666)
    argv = ["sftp", *SSH_BASE[1:], "-i", keys.client_ed25519, "-P", str(d.port), "-b", "-",
            "vcap@127.0.0.1"]
    r = subprocess.run(argv,
                       input=f"get {shared_tmp}/f.txt {shared_tmp}/g.txt\n".encode(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(f"{shared_tmp}/g.txt") as f:
        assert f.read() == "payload\n"


def test_broken_platform_options_fail_every_session_clearly_and_the_daemon_keeps_serving(
        sshd_factory, ssh, home):
    d = sshd_factory.start("-appEnvironment",
                           env=droplet_env(home, VCAP_PLATFORM_OPTIONS="{not json"))
    for _ in range(2):
        r = ssh.run(d, "echo ran", text=True)
        assert r.returncode == 1
        assert r.stdout == ""
        assert r.stderr.startswith("hatch: cannot enter the app's environment: "
                                   "Invalid platform options: ")
    d.wait_log("sshd.app-environment.failed")
    # The built-ins do not need the app's environment.
    r = ssh.run(d, "scp -f /etc/hostname", input=b"\0\0\0")
    assert r.returncode == 0 and r.stdout.startswith(b"C0")


# ---------------------------------------------------------------------------------------------
# Credhub: one round trip per connection, not per session


def make_pki(d):
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt", "-days", "2", "-subj", "/CN=test-ca")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"),
                      ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr", "-subj", f"/CN={name}")
        write(f"{d}/{name}.ext", ext + "\n")
        openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.crt", "-CAkey",
                f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/{name}.crt", "-days", "2",
                "-extfile", f"{d}/{name}.ext")
    os.makedirs(f"{d}/cacerts")
    shutil.copy(f"{d}/ca.crt", f"{d}/cacerts/ca.crt")
    open_up(d)


@pytest.fixture
def credhub(home):
    d = tempfile.mkdtemp(prefix="hatch-e2e-credhub-")
    make_pki(d)
    interpolated = '{"p-mysql":[{"credentials":{"uri":"mysql://real:secret@mysql:3306/db"}}]}'
    write(f"{d}/reply.json", interpolated)
    log = f"{d}/requests.log"
    proc = subprocess.Popen(["/usr/bin/python3", CREDHUB_SERVER, f"{d}/server.crt",
                             f"{d}/server.key", f"{d}/ca.crt", log, "200", f"{d}/reply.json"],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())

    def requests():
        if not os.path.exists(log):
            return []
        with open(log) as f:
            return [json.loads(line) for line in f]
    env = droplet_env(
        home, VCAP_PLATFORM_OPTIONS=json.dumps({"credhub-uri": f"https://127.0.0.1:{port}"}),
        VCAP_SERVICES='{"p-mysql":[{"credentials":{"credhub-ref":"/c/db"}}]}',
        CF_INSTANCE_CERT=f"{d}/client.crt", CF_INSTANCE_KEY=f"{d}/client.key",
        CF_SYSTEM_CERT_PATH=f"{d}/cacerts")
    yield env, interpolated, requests
    proc.kill()
    proc.wait(5)
    shutil.rmtree(d, ignore_errors=True)


def test_credhub_is_asked_once_per_connection_not_per_session(sshd_factory, pm, credhub):
    env, interpolated, requests = credhub
    d = sshd_factory.start("-appEnvironment", env=env)
    client = pm.connect(d)
    for _ in range(3):
        out, err, status, _ = pm_exec(client, 'printf "%s\\n%s\\n" "$VCAP_SERVICES" "$DATABASE_URL"')
        assert status == 0, err
        assert out.decode() == f"{interpolated}\nmysql2://real:secret@mysql:3306/db\n"
    assert len(requests()) == 1
    assert requests()[0]["client_cn"] == "client"
    # A new connection prepares again (credentials may have rotated).
    out, _, status, _ = pm_exec(pm.connect(d), "echo $DATABASE_URL")
    assert out == b"mysql2://real:secret@mysql:3306/db\n"
    assert len(requests()) == 2


# ---------------------------------------------------------------------------------------------
# Apps with no droplet metadata (Docker images): the app process's environment


def start_app_process(cwd, env, user=RUN_AS):
    """A Docker-style app: a long-running process with its own environment and working dir,
    as the daemon's user (a number or a name)."""
    argv = ["sleep", "300"]
    if running_as_root():
        if isinstance(user, int):
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
        else:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *argv]
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
    wait_until(lambda: os.path.exists(f"/proc/{p.pid}/environ") and
               b"sleep" in open(f"/proc/{p.pid}/cmdline", "rb").read(), 5, what="app process")
    return p


@pytest.fixture
def docker_app():
    d = tempfile.mkdtemp(prefix="hatch-e2e-docker-")
    os.makedirs(f"{d}/srv/app")
    open_up(d)
    procs = []

    def start(**kw):
        p = start_app_process(f"{d}/srv/app", {"PATH": "/usr/bin:/bin", "APP_MODE": "docker",
                                               "HOME": "/root-of-image"}, **kw)
        procs.append(p)
        return p
    yield f"{d}/srv/app", start
    for p in procs:
        p.kill()
        p.wait(5)
    shutil.rmtree(d, ignore_errors=True)


def test_process_app_named_by_pid_gives_its_environment_and_working_dir(
        sshd_factory, ssh, docker_app):
    app_dir, start = docker_app
    app = start()
    d = sshd_factory.start("-appEnvironment", f"-appPid={app.pid}", env={"MARKER": "daemon"})
    env = env_of(run_ok(ssh, d, "env; echo CWD=$(pwd)", opts=("-o", "SetEnv=FROM_CLIENT=1")))
    assert env["APP_MODE"] == "docker"
    assert env["CWD"] == app_dir
    assert env["HOME"] == "/root-of-image"  # the app's own, not the daemon's
    assert env["FROM_CLIENT"] == "1"
    assert "MARKER" not in env  # the daemon's environment is not the app's
    # An interactive shell gets its terminal type.
    r = ssh.run(d, "echo $TERM", opts=("-tt",), text=True)
    assert r.stdout.strip() == "xterm" or r.stdout.strip() == os.environ.get("TERM", "xterm")
    assert d.wait_log("sshd.app-environment.prepared")["data"]["kind"] == "process"


@pytest.mark.skipif(not running_as_root(), reason="needs a user of its own (root starts it)")
def test_process_app_is_found_automatically(sshd_factory, ssh, docker_app):
    """The app's user has the app, the daemon and its sessions: the oldest outside hatch is
    the app. A uid of its own keeps other tests' processes out of the picture."""
    app_dir, start = docker_app
    uid = 50000 + os.getpid() % 10000
    app = start(user=uid)
    time.sleep(0.05)
    later = start(user=uid)  # a younger process of the same user is not the app
    d = sshd_factory.make("-appEnvironment", env={"HOME": "/", "USER": "app"})
    d.command = lambda: ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                         "--inh-caps=-all", "--bounding-set=-all", d.binary, *d.args]
    d.spawn()
    sshd_factory.started.append(d)
    assert d.wait_started(), d.stderr_text()
    env = env_of(run_ok(ssh, d, "env; echo CWD=$(pwd)"))
    assert env["APP_MODE"] == "docker" and env["CWD"] == app_dir
    assert later.pid != app.pid


def test_unreadable_app_process_is_a_clear_error(sshd_factory, ssh):
    d = sshd_factory.start("-appEnvironment", "-appPid=1", env={"HOME": "/"})
    r = ssh.run(d, "echo ran", text=True)
    assert r.returncode == 1
    assert r.stderr.startswith("hatch: cannot enter the app's environment: "
                               "cannot read the environment of app process 1: ")
    r = ssh.run(d, "echo ran", text=True)  # next connection: same answer, daemon fine
    assert r.returncode == 1


def test_app_flags_without_app_environment_are_a_startup_error(sshd_factory):
    rc, stderr, _ = sshd_factory.run_to_exit("-appPid=5")
    assert rc == 1
    assert stderr == ["diego-sshd: -appDir and -appPid need -appEnvironment"]


# ---------------------------------------------------------------------------------------------
# Cloud Native Buildpacks droplets: <layers>/config/metadata.toml, the layers' launch
# environment, their profile scripts and the app's .profile, in <workspace>

CNB_METADATA = """buildpack-default-process-type = "web"

[[buildpacks]]
  id = "paketo-buildpacks/node-engine"
  version = "3.2.1"
  api = "0.7"
  homepage = "https://github.com/paketo-buildpacks/node-engine"

[[buildpacks]]
  id = "paketo-buildpacks/npm-install"
  version = "1.5.0"
  api = "0.7"

[[buildpacks]]
  id = "paketo-buildpacks/npm-start"
  version = "1.1.5"
  api = "0.7"

[[processes]]
  type = "web"
  command = ["node", "server.js"]
  args = []
  direct = false
  buildpack-id = "paketo-buildpacks/npm-start"

[[processes]]
  type = "worker"
  command = ["node", "worker.js"]
  args = []
  direct = false
  buildpack-id = "paketo-buildpacks/npm-start"
"""


class CnbDroplet:
    """A Paketo Node.js droplet as cnbapplifecycle leaves it: <root>/layers (node-engine's
    `node` layer with bin/, lib/, env/, env.launch/ and profile.d/, npm-install's
    `launch-modules` layer; npm-start has no layers) and the app in <root>/workspace."""

    def __init__(self, root):
        self.root = root
        self.layers = f"{root}/layers"
        self.workspace = f"{root}/workspace"
        self.node = f"{self.layers}/paketo-buildpacks_node-engine/node"
        self.modules = f"{self.layers}/paketo-buildpacks_npm-install/launch-modules"
        self.metadata = f"{self.layers}/config/metadata.toml"

    def build(self):
        write(self.metadata, CNB_METADATA)
        node, modules = self.node, self.modules
        write(f"{node}/bin/node", '#!/bin/sh\necho "node v20.11.1 $*"\n', 0o755)
        write(f"{node}/lib/libnode.so.115", "")
        write(f"{self.layers}/paketo-buildpacks_node-engine/node.toml",
              "[types]\n  launch = true\n")
        # env/: build and launch; env.launch/: launch only; env.launch/<type>/: that process.
        write(f"{node}/env/NODE_HOME.default", node)
        write(f"{node}/env.launch/NODE_ENV.default", "production")
        write(f"{node}/env.launch/NODE_VERBOSE.default", "false")  # the daemon's "true" stays
        write(f"{node}/env.launch/NODE_OPTIONS.override", "--use-openssl-ca")
        write(f"{node}/env.launch/MANPATH.append", f"{node}/share/man")
        write(f"{node}/env.launch/MANPATH.delim", ":")
        write(f"{node}/env.launch/NODE_PATH.prepend", f"{node}/lib/node_modules")
        write(f"{node}/env.launch/NODE_PATH.delim", ":")
        write(f"{node}/env.launch/NPM_CONFIG_LOGLEVEL", "error")  # API 0.7: no suffix overrides
        write(f"{node}/env.launch/IGNORED.bogus", "never")
        write(f"{node}/env.launch/web/NODE_OPTIONS.append", "--max-http-header-size=16384")
        write(f"{node}/env.launch/web/NODE_OPTIONS.delim", " ")
        write(f"{node}/env.launch/web/WEB_CONCURRENCY.override", "2")
        write(f"{node}/env.launch/worker/WEB_CONCURRENCY.override", "1")
        write(f"{node}/profile.d/0_memory_available.sh",
              'export MEMORY_AVAILABLE=512\nexport ORDER="${ORDER}node "\n')
        write(f"{node}/profile.d/web/1_web.sh", 'export ORDER="${ORDER}node/web "\n')
        write(f"{node}/profile.d/worker/1_worker.sh", 'export ORDER="${ORDER}node/worker "\n')
        write(f"{modules}/node_modules/.bin/hello", "#!/bin/sh\necho hello from npm\n", 0o755)
        write(f"{modules}/env.launch/PATH.append", f"{modules}/node_modules/.bin")
        write(f"{modules}/env.launch/PATH.delim", ":")
        write(f"{modules}/env.launch/NODE_PROJECT_PATH.default", self.workspace)
        write(f"{modules}/profile.d/npm.sh", 'export ORDER="${ORDER}npm "\n')
        write(f"{self.workspace}/server.js", "require('http').createServer().listen(8080)\n")
        write(f"{self.workspace}/.profile",
              'export ORDER="${ORDER}app"\nexport FROM_APP_PROFILE="$NODE_HOME:$MEMORY_AVAILABLE"\n')
        open_up(self.root)
        return self

    def env(self, **extra):
        """The daemon's environment as cnbapplifecycle's Diego task gives it."""
        env = {"HOME": self.root, "VCAP_APPLICATION": VCAP_APPLICATION,
               "VCAP_SERVICES": VCAP_SERVICES, "INSTANCE_GUID": "guid-1", "PORT": "8080",
               "INSTANCE_INDEX": "2", "MARKER": "daemon", "CNB_LAYERS_DIR": self.layers,
               "CNB_APP_DIR": self.workspace, "CNB_PLATFORM_API": "0.12",
               "CNB_DEPRECATION_MODE": "quiet", "NODE_VERBOSE": "true",
               "NODE_OPTIONS": "--from-daemon", "MANPATH": "/usr/share/man",
               "NODE_PATH": "/opt/global/node_modules"}
        env.update(extra)
        return env


@pytest.fixture
def cnb():
    d = tempfile.mkdtemp(prefix="hatch-e2e-cnb-")
    yield CnbDroplet(d).build()
    shutil.rmtree(d, ignore_errors=True)


CNB_PROBE = "env; echo CWD=$(pwd); echo WHICH_NODE=$(command -v node); node --version; hello"


def test_cnb_droplet_exec_gets_the_layers_launch_environment(sshd_factory, ssh, cnb):
    d = sshd_factory.start("-appEnvironment", env=cnb.env())
    out = run_ok(ssh, d, CNB_PROBE)
    env = env_of(out)
    node = cnb.node
    # bin/ and lib/ of every layer; npm-install's PATH.append after the daemon's PATH.
    assert env["PATH"] == f"{node}/bin:/bin:/usr/bin:{cnb.modules}/node_modules/.bin"
    assert env["LD_LIBRARY_PATH"] == f"{node}/lib"
    assert env["WHICH_NODE"] == f"{node}/bin/node"
    assert out.endswith("node v20.11.1 --version\nhello from npm\n")
    # Env files, per suffix.
    assert env["NODE_HOME"] == node                          # env/, .default
    assert env["NODE_ENV"] == "production"                   # .default, unset before
    assert env["NODE_VERBOSE"] == "true"                     # .default, set before: kept
    assert env["MANPATH"] == f"/usr/share/man:{node}/share/man"                # .append
    assert env["NODE_PATH"] == f"{node}/lib/node_modules:/opt/global/node_modules"  # .prepend
    assert env["NPM_CONFIG_LOGLEVEL"] == "error"             # no suffix, API 0.7: override
    assert env["NODE_PROJECT_PATH"] == cnb.workspace
    assert "IGNORED" not in env and "NODE_PATH.delim" not in env
    # env.launch/web/ after env.launch/: the web process's settings.
    assert env["NODE_OPTIONS"] == "--use-openssl-ca --max-http-header-size=16384"
    assert env["WEB_CONCURRENCY"] == "2"
    # Profile scripts: per buildpack and layer profile.d/ then profile.d/web/, then .profile,
    # each seeing the layers' environment; the command runs in the workspace.
    assert env["ORDER"] == "node node/web npm app"
    assert env["FROM_APP_PROFILE"] == f"{node}:512"
    assert env["CWD"] == cnb.workspace
    assert env["PWD"] == cnb.workspace
    # The services, as for every droplet.
    assert env["DATABASE_URL"] == "postgres://u:pw@db:5432/d"
    assert json.loads(env["VCAP_APPLICATION"]) == {
        "application_name": "dora", "host": "0.0.0.0", "instance_id": "guid-1",
        "instance_index": 2, "port": 8080}
    # The launcher's own settings do not reach the app; nothing else of the daemon's is lost.
    assert not [k for k in env if k.startswith("CNB_")], env
    assert env["MARKER"] == "daemon"
    assert env["HOME"] == cnb.root
    log = d.wait_log("sshd.app-environment.prepared")
    assert log["data"]["kind"] == "cnb" and log["data"]["app_dir"] == cnb.workspace


def test_cnb_process_type_from_the_daemons_environment(sshd_factory, ssh, cnb):
    d = sshd_factory.start("-appEnvironment", env=cnb.env(CNB_PROCESS_TYPE="worker"))
    env = env_of(run_ok(ssh, d, "env"))
    assert env["WEB_CONCURRENCY"] == "1"
    assert env["NODE_OPTIONS"] == "--use-openssl-ca"  # no env.launch/web/
    assert env["ORDER"] == "node node/worker npm app"
    assert "CNB_PROCESS_TYPE" not in env


def test_cnb_interactive_shell_with_pty_lands_in_the_workspace(sshd_factory, ssh, pm, cnb):
    d = sshd_factory.start("-appEnvironment", env=cnb.env())
    chan = pm.connect(d).get_transport().open_session(timeout=15)
    chan.get_pty(term="xterm-256color")
    chan.invoke_shell()
    reader = ShellReader(chan)
    reader.send("echo R=$ORDER:$TERM:$(pwd):$(command -v node):$WEB_CONCURRENCY:$DATABASE_URL;"
                " exit 4\n")
    reader.expect(f"R=node node/web npm app:xterm-256color:{cnb.workspace}:{cnb.node}/bin/node:"
                  "2:postgres://u:pw@db:5432/d")
    assert chan.recv_exit_status() == 4
    # OpenSSH with a terminal: the command runs on it, in the same environment.
    r = ssh.run(d, "test -t 0 && echo tty:$ORDER:$(pwd)", opts=("-tt",), text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace("\r\n", "\n") == f"tty:node node/web npm app:{cnb.workspace}\n"


def test_cnb_droplet_without_the_flag_gets_no_layer_environment(sshd_factory, ssh, cnb):
    d = sshd_factory.start(env=cnb.env())
    r = ssh.run(d, "env; echo CWD=$(pwd); echo WHICH_NODE=$(command -v node)", text=True)
    assert r.returncode == 0, r.stderr
    env = env_of(r.stdout)
    assert env["CWD"] == cnb.root  # the daemon user's HOME, not the workspace
    assert env["PATH"] == "/bin:/usr/bin"
    assert not env["WHICH_NODE"].startswith(cnb.root)  # empty, or a node of the machine's
    for name in ("NODE_HOME", "LD_LIBRARY_PATH", "ORDER", "WEB_CONCURRENCY", "DATABASE_URL",
                 "FROM_APP_PROFILE"):
        assert name not in env, name
    assert env["CNB_LAYERS_DIR"] == cnb.layers  # the daemon's environment, untouched
    assert env["NODE_OPTIONS"] == "--from-daemon"
    assert env["VCAP_APPLICATION"] == VCAP_APPLICATION
    assert not d.find_logs("sshd.app-environment.prepared")


def test_corrupt_cnb_metadata_fails_sessions_clearly_while_transfers_keep_working(
        sshd_factory, ssh, pm, keys, cnb, shared_tmp):
    write(cnb.metadata, '[[buildpacks]]\n  id = "paketo-buildpacks/node-engine\n', 0o644)
    d = sshd_factory.start("-appEnvironment", env=cnb.env())
    prefix = ("hatch: cannot enter the app's environment: corrupt CNB metadata "
              f"{cnb.metadata}: line 2, column ")
    for _ in range(2):  # every connection, the daemon still serving
        r = ssh.run(d, "echo ran", text=True)
        assert r.returncode == 1
        assert r.stdout == ""
        assert r.stderr.startswith(prefix), r.stderr
        assert r.stderr.endswith("\n") and r.stderr.count("\n") == 1, r.stderr
    assert d.wait_log("sshd.app-environment.failed")["data"]["error"].startswith(
        f"corrupt CNB metadata {cnb.metadata}")
    # A shell with a terminal: the same message on it, and exit status 1.
    chan = pm.connect(d).get_transport().open_session(timeout=15)
    chan.get_pty()
    chan.invoke_shell()
    ShellReader(chan).expect(prefix)
    assert chan.recv_exit_status() == 1
    # The built-ins do not need the app's environment: scp and sftp work.
    r = ssh.run(d, f"scp -f {cnb.workspace}/server.js", input=b"\0\0\0")
    assert r.returncode == 0 and r.stdout.startswith(b"C0644 44 server.js\n"), r.stdout
    argv = ["sftp", *SSH_BASE[1:], "-i", keys.client_ed25519, "-P", str(d.port), "-b", "-",
            "vcap@127.0.0.1"]
    r = subprocess.run(argv, input=f"get {cnb.workspace}/server.js {shared_tmp}/s.js\n".encode(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(f"{shared_tmp}/s.js") as f:
        assert f.read() == "require('http').createServer().listen(8080)\n"
    assert d.alive()
