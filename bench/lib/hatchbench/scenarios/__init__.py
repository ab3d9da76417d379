"""Every scenario, in the order they run. Add a class here to add it to `bench/run`.

forward.py: issue 4's -L/-R throughput and 100 short connections through one tunnel.
appenv.py: issue 7's cost of a session in the app's environment (-appEnvironment).
sandbox.py: issue 14's cost of confining a session (baseline filter, -readOnly).
record.py: issue 14's cost of the audit trail and of session recordings.
floor.py: issue 15's floor: an exec download's bytes moved with no SSH (the kernel, the cipher).
"""
from .appenv import AppEnvironment
from .files import FileTransfer
from .floor import Floor
from .forward import Forward
from .latency import Latency
from .memory import Memory
from .record import Recording
from .sandbox import Sandbox
from .throughput import Throughput

ALL = (Latency, Memory, Throughput, Floor, FileTransfer, Forward, AppEnvironment, Sandbox,
       Recording)
BY_KEY = {cls.key: cls for cls in ALL}
