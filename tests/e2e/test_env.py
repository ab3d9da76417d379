"""Session environment and secret hygiene (issue 2, "Sessions": Environment; "Command line":
keys never readable in /proc)."""

import os

import pytest

from conftest import (RawReplies, daemon_user, descendants, pm_exec, proc_read, proc_stat,
                      read_channel)


def session_environ(run):
    """The session process's initial environment (what the daemon gave execve), read from
    /proc/$$/environ of the shell itself: bash adds PWD/SHLVL/_ only for its children."""
    out = run("cat /proc/$$/environ; :")  # `; :` keeps bash from exec'ing cat
    env = {}
    for entry in out.split(b"\0"):
        if entry:
            k, _, v = entry.decode().partition("=")
            env[k] = v
    return env


def ssh_environ(ssh, daemon, opts=(), env=None):
    def run(cmd):
        r = ssh.run(daemon, cmd, opts=opts, env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout
    return session_environ(run)


def pm_environ(client, environment=None, get_pty=False):
    return session_environ(
        lambda cmd: pm_exec(client, cmd, environment=environment, get_pty=get_pty)[0])


def test_default_environment_without_inherit_is_exactly_the_four_variables(sshd_factory, ssh):
    d = sshd_factory.start(inherit=False, env={"MARKER": "42", "LANG": "C"})
    name, home = daemon_user()
    assert ssh_environ(ssh, d) == {"PATH": "/bin:/usr/bin", "LANG": "en_US.UTF-8",
                                   "HOME": home, "USER": name}


def test_inherit_daemon_env_passes_its_env_but_not_its_path(sshd_factory, ssh):
    d = sshd_factory.start(env={"MARKER": "42", "PATH": "/opt/daemon/bin:/usr/bin:/bin",
                                "VCAP_APPLICATION": '{"name":"app"}'})
    env = ssh_environ(ssh, d)
    name, home = daemon_user()
    assert env["MARKER"] == "42"
    assert env["VCAP_APPLICATION"] == '{"name":"app"}'
    assert env["PATH"] == "/bin:/usr/bin"
    assert env["LANG"] == "en_US.UTF-8"
    assert (env["HOME"], env["USER"]) == (home, name)
    assert "TERM" not in env


def test_inherited_lang_replaces_the_default(sshd_factory, ssh):
    # Order (issue 2): defaults, then the daemon's env minus PATH.
    d = sshd_factory.start(env={"LANG": "C.UTF-8"})
    assert ssh_environ(ssh, d)["LANG"] == "C.UTF-8"


def test_home_and_user_come_from_the_daemons_env_as_diego(sshd_factory, ssh):
    d = sshd_factory.start(env={"HOME": "/tmp", "USER": "someone"})
    env = ssh_environ(ssh, d)
    assert (env["HOME"], env["USER"]) == ("/tmp", "someone")


def test_home_and_user_from_passwd_when_daemon_has_none(sshd_factory, ssh):
    d = sshd_factory.start(env={"HOME": None, "USER": None})
    name, home = daemon_user()
    env = ssh_environ(ssh, d)
    assert (env["HOME"], env["USER"]) == (home, name)


def test_session_starts_in_home(sshd, ssh):
    r = ssh.run(sshd, "pwd")
    assert r.stdout.decode().strip() == daemon_user()[1]


def test_openssh_setenv_sets_and_overrides_path_and_lang(sshd, ssh):
    env = ssh_environ(ssh, sshd, opts=("-o", "SetEnv=FOO=bar PATH=/custom/bin:/bin LANG=C"))
    assert env["FOO"] == "bar"
    assert env["PATH"] == "/custom/bin:/bin"
    assert env["LANG"] == "C"


def test_openssh_sendenv_passes_a_local_variable(sshd, ssh):
    local = dict(os.environ, HATCH_E2E_SENT="from the client", LC_HATCH="x y")
    env = ssh_environ(ssh, sshd, opts=("-o", "SendEnv=HATCH_E2E_SENT LC_*"), env=local)
    assert env["HATCH_E2E_SENT"] == "from the client"
    assert env["LC_HATCH"] == "x y"


def test_client_env_cannot_override_home_or_user(sshd, ssh, pm):
    name, home = daemon_user()
    env = ssh_environ(ssh, sshd, opts=("-o", "SetEnv=HOME=/root USER=root"))
    assert (env["HOME"], env["USER"]) == (home, name)
    c = pm.connect(sshd)
    env = pm_environ(c, environment={"HOME": "/evil", "USER": "evil", "OK": "1"})
    assert (env["HOME"], env["USER"], env["OK"]) == (home, name, "1")


def test_env_request_replies(sshd, pm):
    # An accepted env request succeeds; HOME/USER get a failure reply; the channel lives on.
    c = pm.connect(sshd)
    t = c.get_transport()
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    assert raw.request(chan, "env", "GOOD", "1") is True
    assert raw.request(chan, "env", "HOME", "/x") is False
    assert raw.request(chan, "env", "USER", "x") is False
    assert raw.request(chan, "env", "BAD=NAME", "x") is False
    assert raw.request(chan, "env", "", "x") is False
    chan.exec_command("echo $GOOD $HOME")
    out, _ = read_channel(chan)
    assert out == f"1 {daemon_user()[1]}\n".encode()


def vm_rss_kib(pid):
    for line in proc_read(pid, "status").decode().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_env_flood_is_refused_and_the_connection_stays_small(sshd, pm):
    # 10,000 env requests of 20 KB (200 MB) once grew a connection to 400 MiB. The session
    # keeps at most 128 names and 256 KiB; the rest get a failure reply.
    c = pm.connect(sshd)
    t = c.get_transport()
    pm_exec(c, "true")
    conn = [p for p in descendants(sshd.pid) if (proc_stat(p) or (0, 0))[1] == sshd.pid][0]
    before = vm_rss_kib(conn)
    raw = RawReplies(t)
    chan = t.open_session(timeout=15)
    value = "v" * 20000
    for i in range(10000):
        raw.request(chan, "env", f"FLOOD{i}", value, want_reply=False)
    assert raw.request(chan, "env", "LAST", value) is False  # past the byte limit: refused
    grown = vm_rss_kib(conn) - before
    assert grown < 16 * 1024, f"the connection grew by {grown} KiB"
    chan.exec_command("env | grep -c '^FLOOD'")
    out, _ = read_channel(chan)
    assert 0 < int(out) <= 13  # 256 KiB holds 13 of them
    sshd.wait_log("sshd.session.env-refused")
    assert len(sshd.find_logs("sshd.session.env-refused")) == 1
    assert value not in "".join(sshd.stdout_lines)


def test_paramiko_environment_reaches_the_process(sshd, pm):
    c = pm.connect(sshd)
    env = pm_environ(c, environment={"FOO": "bar baz", "PATH": "/x:/bin:/usr/bin"})
    assert env["FOO"] == "bar baz"
    assert env["PATH"] == "/x:/bin:/usr/bin"


def test_term_comes_from_pty_req(sshd, pm):
    c = pm.connect(sshd)
    chan = c.get_transport().open_session(timeout=15)
    chan.get_pty(term="screen-256color")
    chan.exec_command("tr '\\0' '\\n' < /proc/$$/environ | grep ^TERM=; :")
    out, _ = read_channel(chan)
    assert out.replace(b"\r\n", b"\n") == b"TERM=screen-256color\n"


def test_each_session_has_its_own_environment(sshd, pm):
    c = pm.connect(sshd)
    t = c.get_transport()
    # Session 1 sets FOO and stays open while session 2 runs on the same connection.
    first = t.open_session(timeout=15)
    first.update_environment({"FOO": "from-session-1"})
    first.exec_command("echo $FOO; read line; echo $line")
    first.settimeout(10)
    assert first.recv(100) == b"from-session-1\n"
    out, _, status, _ = pm_exec(c, "echo ${FOO-unset}")
    assert (out, status) == (b"unset\n", 0)
    # And a later session after session 1 ended does not see it either.
    first.sendall(b"bye\n")
    first.shutdown_write()
    assert read_channel(first)[0] == b"bye\n"
    assert pm_exec(c, "echo ${FOO-unset}")[0] == b"unset\n"
    # Nor does a session of another connection.
    c2 = pm.connect(sshd)
    assert pm_exec(c2, "echo ${FOO-unset}")[0] == b"unset\n"


# ---------------------------------------------------------------------------------------------
# Secrets


def secret_fragments(daemon):
    """Pieces of the key texts that must not be readable anywhere: every base64 line of the
    host key, the authorized key's blob."""
    frags = [line for line in daemon.host_key_text.splitlines()
             if len(line) >= 32 and not line.startswith("-----")]
    frags.append(daemon.auth_key_text.split()[1])
    frags.append(daemon.auth_key_text.split()[1][:40])
    return [f.encode() for f in frags]


def assert_no_secret(blob, daemon, where):
    assert blob is not None, f"{where} unreadable"
    for f in secret_fragments(daemon):
        assert f not in blob, f"key material in {where}"


def test_keys_from_flags_not_readable_in_proc(sshd, ssh):
    assert_no_secret(proc_read(sshd.pid, "cmdline"), sshd, "daemon cmdline")
    assert_no_secret(proc_read(sshd.pid, "environ"), sshd, "daemon environ")
    # The non-secret flags stay readable.
    assert b"-inheritDaemonEnv" in proc_read(sshd.pid, "cmdline")
    # The session and its parent (the connection process) have nothing either.
    r = ssh.run(sshd, "cat /proc/$$/environ; echo; cat /proc/$PPID/cmdline; echo; "
                      "cat /proc/$PPID/environ; echo; env")
    assert r.returncode == 0
    assert_no_secret(r.stdout, sshd, "session")


def test_keys_from_env_not_readable_in_proc(sshd_factory, ssh):
    d = sshd_factory.start(secrets_in_env=True)
    # The keys given by env were used: the client authenticates.
    r = ssh.run(d, "cat /proc/$$/environ; :")
    assert r.returncode == 0, r.stderr
    # Not even the names reach a session (the daemon's own block may keep them, emptied).
    assert b"SSHD_HOSTKEY" not in r.stdout and b"SSHD_AUTHKEY" not in r.stdout
    assert_no_secret(r.stdout, d, "session environ")
    r = ssh.run(d, "cat /proc/$PPID/environ /proc/$PPID/cmdline")
    assert_no_secret(r.stdout, d, "connection process")
    assert_no_secret(proc_read(d.pid, "environ"), d, "daemon environ")
    assert_no_secret(proc_read(d.pid, "cmdline"), d, "daemon cmdline")


def test_env_keys_override_flags(sshd_factory, ssh, keys):
    # -authorizedKey names the RSA key, SSHD_AUTHKEY the ed25519 key: the env wins.
    d = sshd_factory.make(authorized_key="rsa")
    d.env["SSHD_AUTHKEY"] = keys.pub(keys.client_ed25519)
    d.spawn()
    sshd_factory.started.append(d)
    assert d.wait_started()
    assert ssh.run(d, "true", key=keys.client_ed25519).returncode == 0
    assert ssh.run(d, "true", key=keys.client_rsa).returncode == 255


def test_keys_in_separate_flag_word_are_scrubbed(sshd_factory, ssh, keys):
    # Go's flag package also takes `-hostKey VALUE` as two words.
    d = sshd_factory.make(host_key=None, authorized_key=None)
    d.host_key_text = keys.text(keys.host_ed25519)
    d.auth_key_text = keys.pub(keys.client_ed25519)
    d.args += ["-hostKey", d.host_key_text, "--authorizedKey", d.auth_key_text]
    d.spawn()
    sshd_factory.started.append(d)
    assert d.wait_started(), d.stderr_text()
    assert ssh.run(d, "true").returncode == 0
    assert_no_secret(proc_read(d.pid, "cmdline"), d, "daemon cmdline")


def test_logs_never_contain_key_material(sshd, ssh, pm):
    ssh.run(sshd, "echo hi")
    c = pm.connect(sshd)
    pm_exec(c, "echo hi")
    sshd.stop()
    everything = "\n".join(sshd.stdout_lines + sshd.stderr_lines).encode()
    assert everything
    assert_no_secret(everything, sshd, "logs")


MEM_SCAN = r'''
import re, sys
pid, needle = sys.argv[1], bytes.fromhex(sys.argv[2])
try:
    maps = open(f"/proc/{pid}/maps").read().splitlines()
    mem = open(f"/proc/{pid}/mem", "rb", 0)
except OSError as e:
    print("unreadable", e.errno); sys.exit(0)
for line in maps:
    lo, hi, perm = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line).groups()
    if "r" not in perm:
        continue
    try:
        mem.seek(int(lo, 16)); data = mem.read(int(hi, 16) - int(lo, 16))
    except OSError:
        continue
    if needle in data:
        print("found"); sys.exit(0)
print("not found")
'''


def test_session_cannot_read_the_host_key_from_daemon_memory(sshd_factory, ssh, keys,
                                                              shared_tmp):
    from cryptography.hazmat.primitives import serialization
    d = sshd_factory.start(host_key="ed25519")
    key = serialization.load_ssh_private_key(keys.text(keys.host_ed25519).encode(), None)
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    script = os.path.join(shared_tmp, "scan.py")
    with open(script, "w") as f:
        f.write(MEM_SCAN)
    r = ssh.run(d, f"/usr/bin/python3 {script} $PPID {seed.hex()}; "
                   f"/usr/bin/python3 {script} {d.pid} {seed.hex()}", timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"found" not in r.stdout.replace(b"not found", b""), r.stdout
