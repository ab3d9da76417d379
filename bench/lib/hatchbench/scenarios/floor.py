"""The floor of an exec transfer's server CPU on this machine (issue 15).

tools/floor.c does only what every SSH server must do per byte. Downloads: read the source
(pipe: the command's 1 MiB pipe, as for `head -c N /dev/zero` down an exec channel; tcp: a
loopback socket, as from an -L tunnel's target), 256 KiB at a time, seal each 32 KiB packet
in place with the cipher (OpenSSL EVP, a nonce per packet), send it to a loopback TCP reader.
Upload (up): read a loopback TCP socket 256 KiB at a time, open each 32 KiB packet in place,
write to the command's 1 MiB pipe. File upload (file): the same into a new file, 32 KiB per
write, as the sftp and scp built-ins write (the floor of files.py's put rows, which pay the
file system's work too). No SSH framing, window or poll loop: a lower bound for
throughput.py's "the daemon alone" rows and forward.py's server->client rows, measured in
the same run. Its own CPU (getrusage, the source and the reader excluded) per GiB, median of
the runs; `none` is the kernel's part alone (the pipe or socket, and the loopback TCP stack,
whose receive side runs on the sender's CPU).
"""
import os
import subprocess

from .base import MIB, Row, Scenario, median
from ..user import BenchError

CIPHERS = ("none", "aes128-gcm", "chacha20-poly1305")
SOURCES = {"pipe": "pipe -> TCP", "tcp": "TCP -> TCP", "up": "TCP -> pipe (upload)",
           "file": "TCP -> file (put)"}
SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools",
                      "floor.c")


class Floor(Scenario):
    key = "floor"
    title = "the floor: moving an exec transfer's bytes with no SSH (pipe, cipher, TCP)"
    issue = 15

    def run(self, ctx):
        mib, runs = (64, 1) if ctx.quick else (512, 3)
        runs = ctx.runs or runs
        binary = ctx.ws.path("floor")
        r = subprocess.run(["cc", "-O2", "-o", binary, SOURCE, "-lcrypto"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0:
            raise BenchError(f"floor: cc failed: {r.stdout.decode(errors='replace')[-300:]}")
        os.chmod(binary, 0o755)
        cases = [(src, c) for src in SOURCES for c in CIPHERS]
        raw = {f"{src}.{c}": [] for src, c in cases}
        for _ in range(runs):
            for src, c in cases:
                argv = [binary, src, c, str(mib * MIB)]
                if src == "file":
                    argv.append(ctx.ws.path("floor-put.bin"))
                out = ctx.user.check_output(argv, timeout=60 + mib / 5)
                tag, cpu, moved = out.split()
                if tag != "floor" or int(moved) != mib * MIB:
                    raise BenchError(f"floor: {src} {c}: moved {moved} bytes, "
                                     f"expected {mib * MIB}")
                raw[f"{src}.{c}"].append(float(cpu) * 1024 / mib)
        ctx.details["floor"] = {"mib": mib, "runs": runs, "cpu_s_per_gib": raw}
        return [Row(f"floor.{k}", f"floor CPU per GiB, no SSH: {SOURCES[k.split('.')[0]]}, "
                    f"{k.split('.', 1)[1]}", "s", None, {"hatch": median(v)}, fmt="{:.2f}")
                for k, v in raw.items()]
