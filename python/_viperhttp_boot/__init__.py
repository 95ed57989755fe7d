"""Interpreter-start hook of the MicroPython compatibility layer (docs/guide/device-apps.md).

The wheel's `viperhttp_compat.pth` runs `install()` when any interpreter of the environment
starts, so a device app that imports `machine` or `uos` *before* `viperhttp` still finds them.
This module only imports the standard library: it registers a cheap finder (last on
`sys.meta_path`) that knows the device names and loads `viperhttp.compat` only when one of them
is actually imported. The name tables live here, and `viperhttp.compat` uses them.
"""
from __future__ import annotations

import sys
from typing import Any, Optional, Sequence

#: device module name → the module that provides it ("~" = `viperhttp.compat.<name>`)
SHIM_TARGETS = {
    "esp32": "~", "esp": "~", "machine": "~", "network": "~", "uos": "~", "uasyncio": "~",
    "utime": "~", "ujson": "~", "micropython": "~", "urandom": "~",
    # same-named CPython modules under the device's names
    "ubinascii": "binascii", "uhashlib": "hashlib", "ucollections": "collections",
    "ustruct": "struct", "ure": "re", "uio": "io", "usocket": "socket", "uselect": "select",
    "ussl": "ssl", "uerrno": "errno", "uzlib": "zlib", "uheapq": "heapq", "usys": "sys",
    "uarray": "array",
}

#: hardware drivers with no host meaning: importing one raises a clear ImportError
DEVICE_ONLY = frozenset({"uctypes", "framebuf", "bluetooth", "ubluetooth", "neopixel", "onewire",
                         "dht", "ds18x20", "esp32_ulp", "espnow"})


class BootFinder:
    """Last on `sys.meta_path`; hands device names to `viperhttp.compat`'s finder."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Any = None) -> Any:
        if fullname not in SHIM_TARGETS and fullname not in DEVICE_ONLY:
            return None
        from viperhttp.compat import ShimFinder, install_finder
        install_finder()
        return ShimFinder().find_spec(fullname, path, target)


def install() -> None:
    if not any(type(f).__name__ in ("BootFinder", "ShimFinder") for f in sys.meta_path):
        sys.meta_path.append(BootFinder())
