"""MicroPython compatibility layer: device module names served by host shims (docs/ota.md,
"The `esp32` module").

Device apps import names such as `esp32` that do not exist on a computer. `SHIMS` maps each
such top-level name to the module here that provides it, and `install_finder()` appends a
finder to the *end* of `sys.meta_path`, so it only answers for names nothing else provides: a
real package of the same name always wins. Today the layer holds `esp32` (the file-backed OTA
`Partition`); further device modules (`machine`, `uos`, `network`, ...) are added by putting a
module in this package and an entry in `SHIMS`.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any, Optional, Sequence

__all__ = ["SHIMS", "install_finder", "ShimFinder"]

#: device module name → the module of this package that implements it
SHIMS = {"esp32": "viperhttp.compat.esp32"}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> ModuleType:
        module = importlib.import_module(self.target)
        self.saved = (module.__spec__, module.__loader__)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # Already executed; the import system stamped the alias spec on it: put its own back.
        module.__spec__, module.__loader__ = self.saved


class ShimFinder(importlib.abc.MetaPathFinder):
    """Supplies `SHIMS` names; registered last on `sys.meta_path`."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Any:
        shim = SHIMS.get(fullname)
        if shim is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(shim))


def install_finder() -> None:
    """Appends the shim finder to `sys.meta_path` once (idempotent)."""
    if not any(isinstance(f, ShimFinder) for f in sys.meta_path):
        sys.meta_path.append(ShimFinder())
