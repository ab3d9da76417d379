#!/usr/bin/python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/seed-*.

The seeds are small valid (and a few almost-valid) inputs that start each target inside its
grammar; libFuzzer mutates from there. Regression inputs for fixed crashes are kept beside them
as corpus/<target>/regress-* and are not written by this script. Run it after changing a seed:
    /usr/bin/python3 fuzz/seeds.py
"""
import os
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- SFTP: a client's byte stream (uint32 length, type, id, fields)
def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def u32(n):
    return struct.pack(">I", n)


def u64(n):
    return struct.pack(">Q", n)


def pkt(t, body=b""):
    return struct.pack(">IB", len(body) + 1, t) + body


INIT = pkt(1, u32(3))
H0 = s(b"\x00\x00\x00\x00")  # a guess at the first handle's bytes; mutation finds the rest


def req(t, rid, body=b""):
    return pkt(t, u32(rid) + body)


def ext(rid, name, body=b""):
    return pkt(200, u32(rid) + s(name) + body)


ATTR_PERM = u32(4) + u32(0o644)
ATTR_ALL = u32(0xF) + u64(10) + u32(0) + u32(0) + u32(0o600) + u32(1) + u32(2)
sftp = {
    "init": INIT,
    "init-twice": INIT + INIT,
    "realpath": INIT + req(16, 1, s(".")) + req(16, 2, s("../x/./y")),
    "write-read": INIT + req(3, 1, s("f") + u32(0x1A) + ATTR_PERM)
    + req(6, 2, H0 + u64(0) + s("hello")) + req(5, 3, H0 + u64(0) + u32(100))
    + req(8, 4, H0) + req(10, 5, H0 + ATTR_ALL) + req(4, 6, H0),
    "dirs": INIT + req(14, 1, s("d") + u32(0)) + req(11, 2, s("d")) + req(12, 3, H0)
    + req(4, 4, H0) + req(15, 5, s("d")),
    "names": INIT + req(3, 1, s("a") + u32(0x0A) + u32(0)) + req(4, 2, H0)
    + req(18, 3, s("a") + s("b")) + req(20, 4, s("b") + s("l")) + req(19, 5, s("l"))
    + req(7, 6, s("l")) + req(17, 7, s("b")) + req(9, 8, s("b") + ATTR_ALL)
    + req(13, 9, s("b")),
    "extensions": INIT + ext(1, "limits@openssh.com") + ext(2, "statvfs@openssh.com", s("."))
    + ext(3, "expand-path@openssh.com", s("~/x")) + ext(4, "home-directory", s(""))
    + ext(5, "users-groups-by-id@openssh.com", s(u32(0)) + s(u32(0))),
    "extensions-write": INIT + req(3, 1, s("a") + u32(0x0B) + u32(0))
    + ext(2, "fsync@openssh.com", H0) + ext(3, "fstatvfs@openssh.com", H0)
    + ext(4, "hardlink@openssh.com", s("a") + s("h"))
    + ext(5, "posix-rename@openssh.com", s("h") + s("r"))
    + ext(6, "lsetstat@openssh.com", s("r") + ATTR_PERM)
    + req(3, 7, s("c") + u32(0x1A) + u32(0))
    + ext(8, "copy-data", H0 + u64(0) + u64(0) + s(b"\x00\x00\x00\x01") + u64(0)),
    "unknown": INIT + req(99, 1) + ext(2, "nope@example.com"),
    "before-init": req(16, 1, s(".")),
}
for name, data in sftp.items():
    write("sftp_server", name, data)

# ---- scp
write("scp_control_line", "t", "T1700000000 0 1700000001 0")
write("scp_control_line", "c", "C0644 12 file.txt")
write("scp_control_line", "d", "D0755 0 dir")
write("scp_control_line", "e", "E")
write("scp_control_line", "big", "C0600 9223372036854775807 x")
write("scp_command", "sink", "scp -t .")
write("scp_command", "source", "scp -r -p -f -- 'a b' \"c\\\"d\" e\\ f")
write("scp_command", "path", "/usr/bin/scp -v -d -t /tmp/x")
write("scp_command", "shell", "scp -t $HOME; ls")
# scp sink: first byte = flags (1 -r, 2 -p, 4 -d, 8 target "dir"), then the stream
write("scp_sink", "file", b"\x00" + b"C0644 5 a\nhello\x00")
write("scp_sink", "times", b"\x02" + b"T1700000000 0 1700000000 0\nC0600 3 b\nabc\x00")
write("scp_sink", "recursive",
      b"\x01" + b"D0755 0 d\nC0644 2 f\nhi\x00E\nC0644 0 g\n\x00")
write("scp_sink", "into-dir", b"\x0c" + b"C0644 1 x\nz\x00")
write("scp_sink", "error", b"\x00" + b"\x01scp: remote error\n")

# ---- terminal modes: (opcode, uint32) ... TTY_OP_END
def mode(op, arg):
    return bytes([op]) + u32(arg)


write("terminal_modes", "openssh",
      mode(1, 3) + mode(2, 28) + mode(3, 127) + mode(4, 21) + mode(5, 4) + mode(30, 0)
      + mode(36, 1) + mode(42, 1) + mode(50, 1) + mode(51, 1) + mode(53, 1) + mode(70, 1)
      + mode(72, 1) + mode(90, 0) + mode(91, 1) + mode(128, 38400) + mode(129, 38400)
      + b"\x00")
write("terminal_modes", "stop", mode(11, 0) + mode(17, 255) + b"\xa0" + u32(0))
write("terminal_modes", "truncated", mode(1, 3) + b"\x02\x00\x00")

# ---- keys: throwaway keys made here (a fresh pair each run; nothing uses them)
def keygen(kind, bits, fmt):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k")
        cmd = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "fuzz@seed", "-f", path]
        if bits:
            cmd += ["-b", str(bits)]
        if fmt:
            cmd += ["-m", fmt]
        subprocess.run(cmd, check=True)
        with open(path) as priv, open(path + ".pub") as pub:
            return priv.read(), pub.read().strip()


for kind, bits, fmt in [("ed25519", 0, ""), ("ecdsa", 256, "PEM"), ("rsa", 1024, "PKCS8")]:
    priv, pub = keygen(kind, bits, fmt)
    write("host_key", kind, priv)
    write("authorized_key", kind, pub)
    if kind == "ed25519":
        write("authorized_key", "options",
              'from="10.0.0.1",command="echo hi there" ' + pub)
write("authorized_key", "badbase64", "ssh-rsa AAAA!!!")
write("host_key", "pem-garbage",
      "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n")

# ---- lifecycle
write("staging_info", "yaml", "detected_buildpack: ruby\nstart_command: bundle exec rails s\n"
      "config:\n  entrypoint_prefix: /bin/x\n")
write("staging_info", "json", '{"detected_buildpack":"","start_command":"./app","config":{}}')
write("staging_info", "tags", "--- !ruby/object:Foo\nstart_command: 123\nx: &a [1, *a]\n---\nb: 2\n")
write("go_json", "object", '{"a":[1,2.5e10,-0,true,false,null],"b":{"c":"\\u00e9\\ud83d\\ude00<>&"}}')
write("go_json", "numbers", '[1e21, 1e-7, 123456789012345678901234567890, 0.000001, -1.5E+3]')
write("go_json", "bad-utf8", b'"\xff\xfe\xc3"')
write("go_json", "dup", '{"k":1,"k":2}')
write("vcap", "app",
      '{"application_id":"x","port":8080,"instance_index":0,"limits":{"mem":1024}}\x008080\x003')
write("vcap", "services",
      '{"elephantsql":[{"credentials":{"uri":"postgresql://u:p!@host:5432/db?ssl=true"}}],'
      '"cleardb":[{"credentials":{"uri":"MySQL://a@b/c"}}]}\x00x\x00-1')
write("vcap", "platform", '{"Credhub-URI":"https://credhub:8844"}')
write("go_url", "postgres", "postgres://user:p%21ss@[::1]:5432/db?sslmode=disable#frag")
write("go_url", "opaque", "mailto:user@example.com")
write("go_url", "escapes", "mysql://us%20er:pa%2Fss@host%2Ename:3306/a%2Fb;c?q=%zz")
write("cnb_metadata", "full", """[[buildpacks]]
id = "paketo-buildpacks/node-engine"
api = "0.7"

[[buildpacks]]
id = "x/y"
api = "v0.4"

[[processes]]
type = "web"
command = ["node", "server.js"]
args = ["--port", "8080"]
direct = true
buildpack-id = "x/y"

[[processes]]
type = "worker"
command = "bash -c 'run'"
""")
write("cnb_metadata", "badapi", '[[buildpacks]]\nid = "a"\napi = "one"\n')
write("credhub_interpolation", "refs",
      '{"p":[{"credentials":{"credhub-ref":"/c/db"},"name":"db"}]}\x00'
      '{"p":[{"credentials":{"password":"s"}}]}')
write("credhub_interpolation", "null", "null\x00")
write("credhub_flags", "all", "\x01-credhubConnectAttempts=0x1f\x00--credhubRetryDelay\x001m30.5s"
      "\x00-appPid=12\x00-processType=web\x00--\x00rest")
write("credhub_flags", "help", "\x00-h")
write("credhub_flags", "bad", "\x00-credhubRetryDelay=1.5.5s\x00-credhubConnectAttempts=1_000")
