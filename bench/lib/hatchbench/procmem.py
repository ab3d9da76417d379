"""Memory and CPU of a server's process tree, read from /proc.

A server's tree is its listener plus every descendant whose comm is one of the server's own
names (e.g. 'sshd'): per-connection children and privsep helpers count, the commands a
session runs (head, cat, sh) do not.

RSS counts shared pages (libcrypto, the daemon's text) in full in every process; PSS divides
each shared page among the processes that map it, so summing PSS over a tree does not count
them twice. smaps_rollup of a non-dumpable process (OpenSSH's children) is readable only by
root; without it PSS is None and RSS comes from /proc/<pid>/status.
"""
import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # comm may hold spaces and parentheses: split after the last ')'.
    rest = data[data.rindex(")") + 2:].split()
    return rest  # rest[0] is field 3 (state)


def children_map():
    """{ppid: [pid, ...]} for every process visible now."""
    m = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry))[1])
        except (OSError, ValueError, IndexError):
            continue
        m.setdefault(ppid, []).append(int(entry))
    return m


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def descendants(pid, cmap=None):
    cmap = children_map() if cmap is None else cmap
    out, todo = [], list(cmap.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(cmap.get(p, []))
    return out


def server_pids(listener, comms):
    """The listener and its descendants that run the server's own program."""
    return [listener] + [p for p in descendants(listener) if comm(p) in comms]


def memory(pid):
    """{'rss_kib', 'pss_kib'} of one process (pss_kib None if smaps_rollup is unreadable)."""
    rss = pss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    if rss is None:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
        except OSError:
            return None
    return {"rss_kib": rss, "pss_kib": pss}


def tree_snapshot(listener, comms):
    """Per-process memory of the server's tree and the sums."""
    procs, rss, pss = [], 0, 0
    for p in server_pids(listener, comms):
        m = memory(p)
        if m is None:
            continue  # exited meanwhile
        procs.append({"pid": p, "comm": comm(p), **m})
        rss += m["rss_kib"] or 0
        pss = None if pss is None or m["pss_kib"] is None else pss + m["pss_kib"]
    return {"rss_kib": rss, "pss_kib": pss, "processes": procs}


def cpu_seconds(listener):
    """utime+stime of the listener plus every child it has reaped (cutime+cstime).

    A connection's child is counted once the listener has reaped it, so read this after
    wait_quiescent(). The session's commands are included (their parent reaped them).
    """
    f = _stat_fields(listener)
    # fields 14..17 (utime stime cutime cstime) are rest[11..14]
    return sum(int(x) for x in f[11:15]) / CLK_TCK


def cpu_user_seconds(listener):
    """The user-space part of cpu_seconds(): utime plus cutime."""
    f = _stat_fields(listener)
    return (int(f[11]) + int(f[13])) / CLK_TCK


def wait_quiescent(listener, comms, timeout=5.0):
    """Wait until the listener has no children left (all connections reaped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not descendants(listener):
            return True
        time.sleep(0.02)
    return False


class PeakSampler:
    """Samples the connection's summed RSS and PSS every `interval` s from a thread.

    The listener is left out, so peak_rss_kib / peak_pss_kib are what the connection's own
    processes cost at their largest (PSS None when smaps_rollup is unreadable).
    """

    def __init__(self, listener, comms, interval=0.1):
        import threading
        self.listener, self.comms, self.interval = listener, comms, interval
        self.peak_rss_kib = 0
        self.peak_pss_kib = None  # stays None if no sample could read every process's PSS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            rss, pss = 0, 0
            for p in server_pids(self.listener, self.comms)[1:]:
                m = memory(p)
                if m:
                    rss += m["rss_kib"] or 0
                    # A process in the middle of exec() may refuse smaps_rollup for a moment:
                    # that sample then has no PSS figure, the others still count.
                    pss = None if pss is None or m["pss_kib"] is None else pss + m["pss_kib"]
            self.peak_rss_kib = max(self.peak_rss_kib, rss)
            if pss is not None:
                self.peak_pss_kib = max(self.peak_pss_kib or 0, pss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class CgroupCpu:
    """Exact CPU time of a server and everything it ever started, from a cgroup of its own.

    The listener's cutime misses processes that their parent never reaps: OpenSSH's
    session process (the one doing the crypto) outlives its privsep monitor and is reaped by
    init, so its CPU would not count. A cgroup counts every process forked inside it. Needs
    root and a writable cgroup v1 `cpuacct` or cgroup2 hierarchy; without them,
    available() is False and callers fall back to cpu_seconds(listener).
    """

    ROOTS = (("/sys/fs/cgroup/cpuacct", "cpuacct.usage", 1e-9),
             ("/sys/fs/cgroup/unified", "cpu.stat", 1e-6),
             ("/sys/fs/cgroup", "cpu.stat", 1e-6))

    def __init__(self, run_name):
        self.base = self.file = self.scale = None
        if os.geteuid() != 0:
            return
        for root, file, scale in self.ROOTS:
            if os.path.exists(os.path.join(root, file)) and os.access(root, os.W_OK):
                try:
                    base = os.path.join(root, run_name)
                    os.mkdir(base)
                except OSError:
                    continue
                self.base, self.file, self.scale = base, file, scale
                self.kind = "cgroup v1 cpuacct" if file == "cpuacct.usage" else "cgroup2 cpu.stat"
                return

    def available(self):
        return self.base is not None

    def attach(self, name, pid):
        d = os.path.join(self.base, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def pids(self, name):
        with open(os.path.join(self.base, name, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]

    def seconds(self, name):
        with open(os.path.join(self.base, name, self.file)) as f:
            text = f.read()
        if self.file == "cpu.stat":
            for line in text.splitlines():
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) * self.scale
            return 0.0
        return int(text) * self.scale

    def user_seconds(self, name):
        """The part of seconds() spent in user space (the rest is the kernel's: system calls,
        page faults and the interrupt work that ran while the group's processes did)."""
        if self.file == "cpu.stat":
            with open(os.path.join(self.base, name, self.file)) as f:
                for line in f.read().splitlines():
                    if line.startswith("user_usec"):
                        return int(line.split()[1]) * self.scale
            return 0.0
        with open(os.path.join(self.base, name, "cpuacct.usage_user")) as f:
            return int(f.read()) * self.scale

    def remove(self):
        """rmdir the run's cgroups (empty once their processes have exited)."""
        if not self.base:
            return
        for _ in range(50):
            try:
                for name in os.listdir(self.base):
                    p = os.path.join(self.base, name)
                    if os.path.isdir(p):
                        os.rmdir(p)
                os.rmdir(self.base)
                return
            except OSError:
                time.sleep(0.1)  # a process still exiting
