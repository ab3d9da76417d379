#!/usr/bin/python3
"""The two ends of a forwarded TCP connection, for the `forward` scenario (no packages).

Run as the bench user with Debian's /usr/bin/python3 (a copy sits in the workdir). Every
mode prints one line "ready" once it can take part, and a last line of JSON with what it saw;
exit status 0 only if every byte (or every connection) arrived, 1 otherwise.

  serve-source PORT N    listen on 127.0.0.1:PORT, accept one connection, send N zero bytes
  serve-sink PORT N      listen, accept one connection, read until N bytes have arrived
  connect-source PORT N  after a line on stdin ("go"): connect, send N zero bytes
  connect-sink PORT N    after "go": connect, read until N bytes have arrived
  serve-echo PORT        listen; every connection: read one request line, send a reply, close
  connect-many PORT K    after "go": K connections at once, each sends a request, reads the
                         reply to EOF and closes; per-connection latency and failures

A receiver stops at N bytes (it does not rely on the tunnel passing on EOF) and fails if
more arrive with them; nothing moving for STALL seconds ends any mode as hung.
"""
import json
import socket
import sys
import threading
import time

STALL = 20.0
CHUNK = 1 << 20
BUF = 4 << 20


def out(**kw):
    print(json.dumps(kw), flush=True)


def listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUF)
    s.bind(("127.0.0.1", port))
    s.listen(512)
    s.settimeout(120)  # the tunnel's connection must come within this
    return s


def tune(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUF)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUF)
    c.settimeout(STALL)


def send(c, n):
    buf = memoryview(bytes(CHUNK))
    left = n
    while left:
        k = min(left, CHUNK)
        c.sendall(buf[:k])  # raises socket.timeout if the peer stops reading for STALL s
        left -= k
    c.shutdown(socket.SHUT_WR)


def recv(c, n):
    buf = bytearray(CHUNK)
    got, nonzero = 0, 0
    while got < n:
        k = c.recv_into(buf)
        if not k:
            break
        if buf.count(0, 0, k) != k:
            nonzero += 1
        got += k
    return got, nonzero


def wait_go():
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit(2)


def connect(port):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tune(c)
    c.connect(("127.0.0.1", port))
    return c


def transfer(mode, port, n):
    got, nonzero, err = 0, 0, None
    t0 = time.monotonic()
    try:
        if mode.startswith("serve"):
            ls = listener(port)
            print("ready", flush=True)
            c, _ = ls.accept()
            ls.close()
            tune(c)
        else:
            wait_go()
            t0 = time.monotonic()
            c = connect(port)
        with c:
            if mode.endswith("source"):
                send(c, n)
                got = n  # the kernel delivers what is queued after close()
            else:
                got, nonzero = recv(c, n)
    except socket.timeout:
        err = f"hung: nothing moved for {STALL:.0f}s"
    except OSError as e:
        err = f"{type(e).__name__}: {e}"
    ok = err is None and got == n and not nonzero
    out(bytes=got, expected=n, nonzero_chunks=nonzero, seconds=time.monotonic() - t0,
        error=err, ok=ok)
    return 0 if ok else 1


REQUEST = b"GET /%d\n"
REPLY = b"%d " + b"x" * 100 + b"\n"


def serve_echo(port):
    ls = listener(port)
    ls.settimeout(None)
    print("ready", flush=True)

    def one(c):
        with c:
            try:
                c.settimeout(STALL)
                req = b""
                while not req.endswith(b"\n") and len(req) < 256:
                    k = c.recv(256)
                    if not k:
                        return
                    req += k
                num = int(req.split(b"/")[1])
                c.sendall(REPLY % num)
            except (OSError, ValueError, IndexError):
                pass

    while True:
        c, _ = ls.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()


def connect_many(port, k):
    wait_go()
    lat, errors = [None] * k, [None] * k
    start = threading.Barrier(k + 1)

    def one(i):
        start.wait()
        t = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as c:
                c.sendall(REQUEST % i)
                reply = b""
                while True:
                    b = c.recv(4096)
                    if not b:
                        break
                    reply += b
            if reply != REPLY % i:
                raise ValueError(f"reply {reply[:40]!r}")
            lat[i] = (time.monotonic() - t) * 1000
        except (OSError, ValueError) as e:
            errors[i] = f"{type(e).__name__}: {e}"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    errs = [e for e in errors if e]
    out(connections=k, ok=k - len(errs), failed=len(errs), errors=sorted(set(errs))[:5],
        wall_s=wall, latency_ms=[x for x in lat if x is not None])
    return 0 if not errs else 1


def main(argv):
    mode, port = argv[0], int(argv[1])
    if mode == "serve-echo":
        return serve_echo(port)
    if mode == "connect-many":
        return connect_many(port, int(argv[2]))
    return transfer(mode, port, int(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
