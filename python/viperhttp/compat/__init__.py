"""MicroPython compatibility layer: device module names served by host shims
(docs/guide/device-apps.md).

Device apps import names such as `machine`, `uos` or `esp32` that do not exist on a computer.
`SHIMS` maps each such top-level name to the module that provides it (a module of this package,
or the CPython module a device name merely renames), and `install_finder()` appends a finder
to the *end* of `sys.meta_path`, so it only answers for names nothing else provides: a real
package of the same name always wins. `install()` also adds the device functions onto `time`,
`gc` and `sys`, which exist on both sides. Device-only hardware modules (`neopixel`, ...) fail
with an ImportError that says so.
"""
from __future__ import annotations

import builtins
import importlib
import importlib.util
import sys
import traceback
from types import ModuleType
from typing import TYPE_CHECKING, Any, Optional, Sequence

__all__ = ["SHIMS", "DEVICE_ONLY", "install", "install_finder", "ShimFinder", "patch_open",
           "print_exception"]

from _viperhttp_boot import DEVICE_ONLY, SHIM_TARGETS

#: device module name → the module that implements it
SHIMS = {name: ("viperhttp.compat." + name if target == "~" else target)
         for name, target in SHIM_TARGETS.items()}


# `importlib.abc.Loader` for the type checker only: at run time that module imports
# `importlib.resources` (tempfile, shutil, bz2, lzma), ~1 MiB for every app
# (docs/internals/benchmarks.md "Memory"), and the import system only calls
# `find_spec` / `create_module` / `exec_module`.
if TYPE_CHECKING:
    from importlib.abc import Loader as _Loader
else:
    _Loader = object


class _AliasLoader(_Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> ModuleType:
        module = importlib.import_module(self.target)
        self.saved = (module.__spec__, module.__loader__)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # Already executed; the import system stamped the alias spec on it: put its own back.
        module.__spec__, module.__loader__ = self.saved


class _DeviceOnlyLoader(_Loader):
    def __init__(self, name: str) -> None:
        self.name = name

    def create_module(self, spec: Any) -> Optional[ModuleType]:
        raise ImportError(
            f"{self.name!r} is a device-only MicroPython module (hardware driver) with no "
            f"host version in viperhttp; guard the import or move that code behind a check",
            name=self.name)

    def exec_module(self, module: ModuleType) -> None:
        """Never reached: `create_module` raised."""


class ShimFinder:
    """Supplies `SHIMS` names (and refuses `DEVICE_ONLY` ones); registered last on
    `sys.meta_path`."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Any:
        shim = SHIMS.get(fullname)
        if shim is not None:
            return importlib.util.spec_from_loader(fullname, _AliasLoader(shim))
        if fullname in DEVICE_ONLY:
            return importlib.util.spec_from_loader(fullname, _DeviceOnlyLoader(fullname))
        return None


def print_exception(exc: BaseException, file: Any = None) -> None:
    """The device's `sys.print_exception(exc, file=sys.stdout)`."""
    traceback.print_exception(type(exc), exc, exc.__traceback__,
                              file=sys.stdout if file is None else file)


def install_finder() -> None:
    """Appends the shim finder to `sys.meta_path` once (idempotent) and adds the device
    functions onto `time`, `gc` and `sys`."""
    if not any(isinstance(f, ShimFinder) for f in sys.meta_path):
        # The interpreter-start hook's finder (if any) steps aside for this one.
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "BootFinder"]
        sys.meta_path.append(ShimFinder())
    from . import ugc, utime
    utime.install()
    ugc.install()
    if not hasattr(sys, "print_exception"):
        sys.print_exception = print_exception  # type: ignore[attr-defined]


install = install_finder

_real_open = builtins.open


def _mapped_open(file: Any, *args: Any, **kw: Any) -> Any:
    if isinstance(file, str) and file.startswith("/"):
        from viperhttp.files import open_path
        file = open_path(file)
    return _real_open(file, *args, **kw)


def patch_open(enable: bool = True) -> None:
    """Opt-in: builtin `open()` maps absolute device paths through `vfs_root` (the default
    leaves `open()` alone, docs/guide/device-apps.md)."""
    builtins.open = _mapped_open if enable else _real_open
