"""The release binaries in a rootfs that holds nothing else.

The rootfs made here has a static busybox (/bin/sh and its other applets), the three release
binaries under /tmp/lifecycle and a sample droplet under /home/vcap: no bash (busybox has no
bash applet, and nothing stands in for it: `shell` and `launcher` fall back to /bin/sh), no /etc
(so no passwd, nsswitch.conf or hosts), no libc, no /dev, no /proc. The daemon runs in it confined to it
(chroot as root, else a user namespace with --root) as uid 4242, which has no name anywhere,
and listens on loopback in the host's network, where the real OpenSSH ssh, sftp and scp -O
drive it from outside.

Environment (set by tests/release/CMakeLists.txt):
  HATCH_RELEASE_DIR  where scripts/release installed diego-sshd, shell and launcher

Everything that waits has a timeout, so a hang fails the test instead of blocking the run.
"""

import filecmp
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

RELEASE = os.environ.get("HATCH_RELEASE_DIR", "")
PROGRAMS = ("diego-sshd", "shell", "launcher")
APP_UID = 4242  # no account of that uid exists, in the rootfs or on the host
BUSYBOX = "/bin/busybox"  # Debian's busybox-static (scripts/setup installs it)
START_TIMEOUT = 20
BASH_ONLY = "z-bash-only.sh"  # sorted after app.sh, so the scripts after it are seen to run
SH_NOTICE = "hatch: no /bin/bash in this image: profile scripts and the command run with /bin/sh"
RUN_TIMEOUT = 60

VCAP_APPLICATION = {"application_id": "a1b2c3", "application_name": "dora",
                    "space_name": "dev", "uris": ["dora.example.com"], "limits": {"mem": 256}}
VCAP_SERVICES = {"elephantsql": [{"name": "db", "credentials": {
    "uri": "postgresql://user:s3cret@db.example.com:5432/dora"}}]}
INSTANCE_GUID = "6f2a4a7e-0c1d-4b8c-9d55"

# What the runtime gives the daemon: the app's environment and user, nothing from a passwd file.
DAEMON_ENV = {
    "PATH": "/bin", "HOME": "/home/vcap", "USER": "vcap", "LANG": "C.UTF-8",
    "PORT": "8080", "INSTANCE_INDEX": "0", "INSTANCE_GUID": INSTANCE_GUID,
    "VCAP_APPLICATION": json.dumps(VCAP_APPLICATION),
    "VCAP_SERVICES": json.dumps(VCAP_SERVICES),
}


def elf_segment_types(path):
    """The p_type of every program header of a 64-bit little-endian ELF file."""
    with open(path, "rb") as f:
        head = f.read(64)
        assert head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1, f"{path}: not ELF64 LE"
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        types = []
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            types.append(struct.unpack("<I", f.read(4))[0])
        return types


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def make_rootfs(root):
    """busybox and its applets in /bin, the release in /tmp/lifecycle, a droplet in /home/vcap."""
    os.makedirs(f"{root}/bin")
    shutil.copy(BUSYBOX, f"{root}/bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True,
                             timeout=30).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", f"{root}/bin/{applet}")
    os.makedirs(f"{root}/tmp/lifecycle")
    os.chmod(f"{root}/tmp", 0o1777)
    for program in PROGRAMS:
        shutil.copy(os.path.join(RELEASE, program), f"{root}/tmp/lifecycle/{program}")
        os.chmod(f"{root}/tmp/lifecycle/{program}", 0o755)

    home = f"{root}/home/vcap"
    write(f"{home}/app/index.html", "<h1>dora</h1>\n")
    write(f"{home}/app/.profile.d/app.sh", "export APP_PROFILE_D=loaded\n")
    # What busybox's sh cannot parse: named on stderr, not sourced, the others still are.
    write(f"{home}/app/.profile.d/{BASH_ONLY}", "# rvm-style\n"
          "paths=(/home/vcap/app/bin /home/vcap/deps/0/bin)\nexport BASH_PROFILE=loaded\n")
    write(f"{home}/profile.d/buildpack.sh", "export BUILDPACK_PROFILE_D=loaded\n")
    write(f"{home}/staging_info.yml",
          '{"detected_buildpack":"staticfile",'
          '"start_command":"echo started on $PORT in $(pwd) with $APP_PROFILE_D"}\n')
    os.makedirs(f"{home}/tmp")
    os.makedirs(f"{home}/deps")
    if os.geteuid() == 0:
        # The app's user owns its home, as in a droplet (in a user namespace the test's own
        # uid is mapped to APP_UID instead).
        for dirpath, dirnames, filenames in os.walk(home):
            for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                os.lchown(name, APP_UID, APP_UID)


def confinement_prefix(root):
    """The argv prefix that runs a program of the rootfs as APP_UID, confined to it."""
    if os.geteuid() == 0:
        return [shutil.which("chroot"), f"--userspec={APP_UID}:{APP_UID}", root]
    return [shutil.which("unshare"), f"--map-user={APP_UID}", f"--map-group={APP_UID}",
            f"--root={root}"]


@pytest.fixture(scope="module")
def workdir():
    d = tempfile.mkdtemp(prefix="hatch-release-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def release():
    assert RELEASE, "HATCH_RELEASE_DIR must name the directory scripts/release installed into"
    for program in PROGRAMS:
        assert os.access(os.path.join(RELEASE, program), os.X_OK), f"{program} is not built"
    return RELEASE


@pytest.fixture(scope="module")
def rootfs(workdir, release):
    root = os.path.join(workdir, "rootfs")
    os.mkdir(root, 0o755)
    make_rootfs(root)
    return root


@pytest.fixture(scope="module")
def confined(rootfs):
    """A function running argv inside the rootfs; skips when the machine forbids confinement."""
    prefix = confinement_prefix(rootfs)
    probe = subprocess.run([*prefix, "/bin/sh", "-c", "id -u"], capture_output=True, text=True,
                           timeout=RUN_TIMEOUT)
    if probe.returncode != 0:
        how = "chroot" if os.geteuid() == 0 else "unshare --user --root"
        pytest.skip(f"this machine forbids {how}: {probe.stderr.strip()}")
    assert probe.stdout.strip() == str(APP_UID)

    def run(argv, **kw):
        kw.setdefault("env", DAEMON_ENV)
        return subprocess.run([*prefix, *argv], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, **kw)
    run.prefix = prefix
    return run


@pytest.fixture(scope="module")
def keys(workdir):
    d = os.path.join(workdir, "keys")
    os.mkdir(d, 0o700)
    for name, kind in (("host", "rsa"), ("client", "ed25519")):
        extra = ["-b", "3072", "-m", "PEM"] if kind == "rsa" else []
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"{name}@release",
                        *extra, "-f", os.path.join(d, name)], check=True, timeout=60)
    return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_banner(port):
    """The server's identification line, or None while nothing accepts on the port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(5)
            return s.recv(256).split(b"\r\n")[0].decode()
    except OSError:
        return None


class Sshd:
    """diego-sshd started in the rootfs with the runtime's flags; its output is collected."""

    def __init__(self, confined, keys, *flags):
        self.keys = keys
        self.port = free_port()
        with open(os.path.join(keys, "host")) as f:
            host_key = f.read()
        with open(os.path.join(keys, "client.pub")) as f:
            authorized_key = f.read().strip()
        with open(os.path.join(keys, "host.pub")) as f:
            host_pub = " ".join(f.read().split()[:2])
        self.known_hosts = os.path.join(keys, f"known_hosts_{self.port}")
        with open(self.known_hosts, "w") as f:
            f.write(f"[127.0.0.1]:{self.port} {host_pub}\n")
        self.output = []
        self.proc = subprocess.Popen(
            [*confined.prefix, "/tmp/lifecycle/diego-sshd", f"-address=127.0.0.1:{self.port}",
             f"-hostKey={host_key}", f"-authorizedKey={authorized_key}", "-inheritDaemonEnv",
             "-logLevel=info", *flags],
            env=DAEMON_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.reader = threading.Thread(target=self._collect, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        self.banner = None
        while self.banner is None:
            assert self.proc.poll() is None, f"diego-sshd exited: {self.log()}"
            assert time.monotonic() < deadline, f"diego-sshd did not accept: {self.log()}"
            self.banner = read_banner(self.port)
            time.sleep(0.05)

    def _collect(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.output.append(line.decode("utf-8", "replace").rstrip("\n"))

    def log(self):
        return "\n".join(self.output)

    def client_options(self, port_flag):
        return ["-F", "none", port_flag, str(self.port), "-i", os.path.join(self.keys, "client"),
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
                "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.known_hosts}"]

    def ssh(self, command):
        return subprocess.run(["ssh", *self.client_options("-p"), "vcap@127.0.0.1", command],
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("diego-sshd did not exit within 20s of SIGTERM")
        self.reader.join(5)
        return rc


@pytest.fixture(scope="module")
def sshd(confined, keys):
    daemon = Sshd(confined, keys)
    yield daemon
    assert daemon.stop() == 0, daemon.log()


@pytest.fixture(scope="module")
def app_sshd(confined, keys):
    """The daemon as Diego starts it for `cf ssh`: sessions in the app's environment."""
    daemon = Sshd(confined, keys, "-appEnvironment")
    yield daemon
    assert daemon.stop() == 0, daemon.log()


def assert_told_sh_and_bash_only_named(stderr):
    """The one notice that sh is used, and the script sh cannot parse named as needing bash."""
    lines = stderr.splitlines()
    assert lines.count(SH_NOTICE) == 1, stderr
    named = [line for line in lines if BASH_ONLY in line]
    assert len(named) == 1, stderr
    assert named[0].startswith(f"hatch: .profile.d/{BASH_ONLY} not sourced: it needs bash, "
                               "and /bin/sh cannot parse it: "), stderr


def env_value(output, name):
    for line in output.splitlines():
        if line.startswith(name + "="):
            return line[len(name) + 1:]
    return None


# ---------------------------------------------------------------------------------------------


def test_release_binaries_are_static_executables(release):
    for program in PROGRAMS:
        path = os.path.join(release, program)
        types = elf_segment_types(path)
        assert 3 not in types, f"{program} names a program interpreter (PT_INTERP)"
        assert 2 not in types, f"{program} has a dynamic section (PT_DYNAMIC)"
        ldd = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=30)
        assert "not a dynamic executable" in ldd.stdout + ldd.stderr, ldd


def test_rootfs_holds_only_busybox_the_release_and_the_droplet(rootfs):
    assert sorted(os.listdir(rootfs)) == ["bin", "home", "tmp"]
    for dirpath, _, filenames in os.walk(rootfs):
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), rootfs)
            if os.path.islink(os.path.join(dirpath, name)):
                assert os.readlink(os.path.join(dirpath, name)) == "busybox", rel
                continue
            assert (rel == "bin/busybox" or rel.startswith("tmp/lifecycle/")
                    or rel.startswith("home/vcap/")), f"unexpected file {rel}"
    assert not os.path.lexists(os.path.join(rootfs, "bin/bash"))


def test_programs_print_their_versions_in_the_rootfs(confined):
    sshd_version = confined(["/tmp/lifecycle/diego-sshd", "-version"])
    assert sshd_version.returncode == 0, sshd_version.stderr
    assert "diego-sshd (hatch)" in sshd_version.stdout
    assert "libssh 0.11" in sshd_version.stdout
    assert "OpenSSL 3" in sshd_version.stdout
    shell_version = confined(["/tmp/lifecycle/shell", "-version"])
    assert shell_version.returncode == 0, shell_version.stderr
    assert "OpenSSL 3" in shell_version.stdout


def test_daemon_identifies_as_diego_sshd(sshd):
    assert sshd.banner == "SSH-2.0-diego-sshd"


def test_ssh_runs_a_command_through_busybox_sh(sshd):
    r = sshd.ssh('sh --help 2>&1 | head -n 1; ls /; id -u; echo "$HOME $USER $PORT"; exit 3')
    assert r.returncode == 3, r.stderr + sshd.log()
    lines = r.stdout.splitlines()
    assert lines[0].startswith("BusyBox v"), r.stdout
    assert lines[1:] == ["bin", "home", "tmp", str(APP_UID), "/home/vcap vcap 8080"], r.stdout


def test_sftp_uploads_lists_renames_and_downloads(sshd, workdir, rootfs):
    local = os.path.join(workdir, "sftp")
    os.mkdir(local)
    with open(os.path.join(local, "up.bin"), "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024 + 17))
    batch = (f"mkdir /home/vcap/sftp\ncd /home/vcap/sftp\nput {local}/up.bin\n"
             "rename up.bin moved.bin\nls -l\n"
             f"get moved.bin {local}/down.bin\nrm moved.bin\nrmdir /home/vcap/sftp\n")
    r = subprocess.run(["sftp", *sshd.client_options("-P"), "-b", "-", "vcap@127.0.0.1"],
                       input=batch, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr + sshd.log()
    assert "moved.bin" in r.stdout
    assert filecmp.cmp(os.path.join(local, "up.bin"), os.path.join(local, "down.bin"),
                       shallow=False)
    assert not os.path.exists(os.path.join(rootfs, "home/vcap/sftp"))


def test_scp_legacy_protocol_copies_a_tree_both_ways(sshd, workdir, rootfs):
    local = os.path.join(workdir, "scp")
    os.makedirs(os.path.join(local, "tree/sub"))
    with open(os.path.join(local, "tree/a.txt"), "w") as f:
        f.write("alpha\n")
    with open(os.path.join(local, "tree/sub/b.bin"), "wb") as f:
        f.write(os.urandom(200_000))
    scp = ["scp", "-O", "-r", *sshd.client_options("-P")]
    up = subprocess.run([*scp, os.path.join(local, "tree"), "vcap@127.0.0.1:/home/vcap/tree"],
                        capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert up.returncode == 0, up.stderr + sshd.log()
    down = subprocess.run([*scp, "vcap@127.0.0.1:/home/vcap/tree", os.path.join(local, "back")],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert down.returncode == 0, down.stderr + sshd.log()
    for rel in ("a.txt", "sub/b.bin"):
        assert filecmp.cmp(os.path.join(local, "tree", rel), os.path.join(local, "back", rel),
                           shallow=False), rel
        assert filecmp.cmp(os.path.join(local, "tree", rel),
                           os.path.join(rootfs, "home/vcap/tree", rel), shallow=False), rel
    shutil.rmtree(os.path.join(rootfs, "home/vcap/tree"))


def test_port_forward_reaches_a_service_on_loopback(sshd):
    # ssh -W is a direct-tcpip channel, as -L opens for each connection; the daemon's name
    # lookup (c-ares in a child) runs in the rootfs too.
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def echo_once():
            conn, _ = server.accept()
            with conn:
                conn.sendall(conn.recv(64).upper())
        thread = threading.Thread(target=echo_once, daemon=True)
        thread.start()
        r = subprocess.run(["ssh", *sshd.client_options("-p"), "-W", f"127.0.0.1:{port}",
                            "vcap@127.0.0.1"], input="ping", capture_output=True, text=True,
                           timeout=RUN_TIMEOUT)
        thread.join(RUN_TIMEOUT)
    assert r.stdout == "PING", r.stderr + sshd.log()


def test_shell_rebuilds_the_app_environment_over_ssh(sshd):
    names = ("HOME", "TMPDIR", "DEPS_DIR", "DATABASE_URL", "APP_PROFILE_D",
             "BUILDPACK_PROFILE_D", "BASH_PROFILE", "VCAP_APPLICATION")
    script = "".join(f'echo "{n}=${n}"; ' for n in names) + 'echo "PWD=$(pwd)"; echo "SHELL0=$0"'
    r = sshd.ssh(f"/tmp/lifecycle/shell /home/vcap/app '{script}'")
    assert r.returncode == 0, r.stdout + r.stderr + sshd.log()
    # No bash here: busybox's sh sourced the POSIX scripts and ran the command.
    assert env_value(r.stdout, "SHELL0") == "sh"
    assert env_value(r.stdout, "BASH_PROFILE") == ""
    assert_told_sh_and_bash_only_named(r.stderr)
    assert env_value(r.stdout, "HOME") == "/home/vcap/app"
    assert env_value(r.stdout, "PWD") == "/home/vcap/app"
    assert env_value(r.stdout, "TMPDIR") == "/home/vcap/tmp"
    assert env_value(r.stdout, "DEPS_DIR") == "/home/vcap/deps"
    assert env_value(r.stdout, "DATABASE_URL") == "postgres://user:s3cret@db.example.com:5432/dora"
    assert env_value(r.stdout, "APP_PROFILE_D") == "loaded"
    assert env_value(r.stdout, "BUILDPACK_PROFILE_D") == "loaded"
    vcap = json.loads(env_value(r.stdout, "VCAP_APPLICATION"))
    assert vcap["host"] == "0.0.0.0"
    assert vcap["instance_id"] == INSTANCE_GUID
    assert vcap["instance_index"] == 0
    assert vcap["port"] == 8080
    assert vcap["application_name"] == "dora"


def test_launcher_starts_the_app_as_the_runtime_does(confined):
    # The runtime starts the app from /home/vcap, where staging_info.yml names the command.
    r = confined(["/bin/sh", "-c", "cd /home/vcap && exec /tmp/lifecycle/launcher app '' ''"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == ["Invoking pre-start scripts.", "Invoking start command.",
                                     "started on 8080 in /home/vcap/app with loaded"], r.stdout
    assert_told_sh_and_bash_only_named(r.stderr)


def test_shell_without_a_command_runs_sh_in_the_app_dir(confined):
    # The interactive default is sh; without a terminal it reads its commands from stdin.
    r = confined(["/tmp/lifecycle/shell"], input='echo "$0 in $(pwd) with $APP_PROFILE_D"\n')
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "sh in /home/vcap/app with loaded\n"
    assert_told_sh_and_bash_only_named(r.stderr)


def test_shell_runs_a_droplet_without_bash_only_scripts_quietly_but_for_the_notice(confined,
                                                                                 rootfs):
    app = f"{rootfs}/home/vcap/posix-app"
    write(f"{app}/.profile.d/posix.sh", 'export POSIX_PROFILE="$(pwd)"\n')
    if os.geteuid() == 0:
        for path in (app, f"{app}/.profile.d", f"{app}/.profile.d/posix.sh"):
            os.lchown(path, APP_UID, APP_UID)
    try:
        r = confined(["/tmp/lifecycle/shell", "/home/vcap/posix-app", 'echo "$POSIX_PROFILE"'])
    finally:
        shutil.rmtree(app)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "/home/vcap/posix-app\n"
    assert r.stderr == SH_NOTICE + "\n"


def test_app_environment_sessions_run_with_sh(app_sshd):
    # The daemon's -appEnvironment prepares the same launch as `shell`: $HOME/app's droplet.
    r = app_sshd.ssh('echo "$0 $HOME $APP_PROFILE_D ${BASH_PROFILE:-none} $(pwd)"; exit 4')
    assert r.returncode == 4, r.stdout + r.stderr + app_sshd.log()
    assert r.stdout == "sh /home/vcap/app loaded none /home/vcap/app\n"
    assert_told_sh_and_bash_only_named(r.stderr)
