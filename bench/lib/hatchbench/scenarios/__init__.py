"""Every scenario, in the order they run. Add a class here to add it to `bench/run`.

Issue 4's forwards (-L/-R throughput, 100 short connections through one tunnel) go in a
forwards.py beside these, with the same shape: probe, interleave servers, return Rows.
"""
from .appenv import AppEnvironment
from .files import FileTransfer
from .latency import Latency
from .memory import Memory
from .throughput import Throughput

ALL = (Latency, Memory, Throughput, FileTransfer, AppEnvironment)
BY_KEY = {cls.key: cls for cls in ALL}
