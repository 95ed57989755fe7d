"""`gc.mem_free()` / `gc.mem_alloc()` on the host (docs/guide/device-apps.md).

A computer has no fixed heap, so the figures come from the process: `mem_alloc()` is the
resident set size and `mem_free()` the memory the system reports available (Linux
`MemAvailable`), falling back to a fixed 1 GiB budget minus `mem_alloc()` elsewhere. A leak
shows up as a rising `mem_alloc()`, which is what device health routes and leak probes use.
"""
from __future__ import annotations

import gc as _gc
import os as _os
import resource as _resource

_BUDGET = 1 << 30


def mem_alloc() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        # ru_maxrss is in KiB on Linux/BSD (a peak, which is monotonic-enough for probes).
        return int(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss) * 1024


def mem_free() -> int:
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return max(_BUDGET - mem_alloc(), 0)


def threshold(*_args: int) -> int:
    """Device `gc.threshold()`: no allocation threshold on the host; returns -1 (unset)."""
    return -1


def install() -> None:
    """Adds the device functions onto the standard `gc` module."""
    for name, fn in (("mem_free", mem_free), ("mem_alloc", mem_alloc), ("threshold", threshold)):
        if not hasattr(_gc, name):
            setattr(_gc, name, fn)
