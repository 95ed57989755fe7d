"""`micropython`: the compiler hints are identities, the memory helpers no-ops or reports
(docs/guide/device-apps.md)."""
from __future__ import annotations

import sys as _sys
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def const(value: Any) -> Any:
    return value


def native(fn: F) -> F:
    return fn


def viper(fn: F) -> F:
    return fn


def asm_thumb(fn: F) -> F:
    return fn


def alloc_emergency_exception_buf(_size: int) -> None:
    """No-op: CPython allocates tracebacks on demand."""


def opt_level(*_args: int) -> int:
    return 0


def mem_info(*_args: Any) -> None:
    from .ugc import mem_alloc, mem_free
    print(f"stack: n/a\nGC: total: {mem_alloc() + mem_free()}, used: {mem_alloc()}, "
          f"free: {mem_free()}", file=_sys.stdout)


def qstr_info(*_args: Any) -> None:
    print("qstr pool: n/a on the host", file=_sys.stdout)


def stack_use() -> int:
    return 0


def heap_lock() -> int:
    return 0


def heap_unlock() -> int:
    return 0


def kbd_intr(_chr: int) -> None:
    """No-op: Ctrl-C is a signal on the host."""


def schedule(fn: Callable[[Any], Any], arg: Any) -> None:
    """Runs `fn(arg)` soon on the serving loop (thread-safe), or at once when none runs."""
    from viperhttp_bridge import Bridge
    bridge = Bridge.current
    if bridge is None or not bridge.call_soon_threadsafe(fn, arg):
        fn(arg)
