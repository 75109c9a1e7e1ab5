"""Jobs for the shared-memory payload tests (test_shm.py): each imports what
it needs in its own body, as shipped jobs must."""


def echo(*args):
    """Its arguments, as they came: one, or a tuple of several."""
    return args[0] if len(args) == 1 else args


def describe(*args):
    """The type name and length of each argument, as the worker got it."""
    out = []
    for arg in args:
        if hasattr(arg, "nbytes"):
            size = arg.nbytes
        elif hasattr(arg, "__len__"):
            size = len(arg)
        else:
            size = None
        out.append((type(arg).__name__, size))
    return out


def doubled(array):
    """A new numpy array twice as large, made in the worker."""
    return array * 2


def fail_with(data):
    raise ValueError("refused %d bytes" % len(data))


def die_once(marker, data):
    """Kills its worker the first time it runs (marker does not exist), and
    answers the length and a checksum of data the second time."""
    import hashlib
    import os
    import signal
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return len(data), hashlib.sha256(data).hexdigest()


def hold(gate, started, data):
    """Says it started, then waits for gate to exist; returns len(data)."""
    import os
    import time
    open(started, "w").close()
    while not os.path.exists(gate):
        time.sleep(0.02)
    return len(data)


def memfds():
    """The worker's descriptors and mappings of ppgo segments (memfds)."""
    import os
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if "memfd:ppgo" in os.readlink("/proc/self/fd/" + fd):
                fds.append(fd)
        except OSError:
            pass
    with open("/proc/self/maps") as f:
        maps = [line for line in f if "memfd:ppgo" in line]
    return fds, maps
