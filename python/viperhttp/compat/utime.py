"""`utime` / the device additions to `time` (docs/guide/device-apps.md).

Ticks wrap with period 2**30 like the device's, so code that computes differences with
`ticks_diff` behaves the same; `install()` adds these functions onto the standard `time`
module (harmless: CPython's `time` has none of these names).
"""
from __future__ import annotations

import time as _time
from typing import Any, Tuple

TICKS_PERIOD = 1 << 30
_HALF = TICKS_PERIOD // 2
_ORIGIN_NS = _time.monotonic_ns()


def ticks_ms() -> int:
    return ((_time.monotonic_ns() - _ORIGIN_NS) // 1_000_000) % TICKS_PERIOD


def ticks_us() -> int:
    return ((_time.monotonic_ns() - _ORIGIN_NS) // 1_000) % TICKS_PERIOD


def ticks_cpu() -> int:
    return ticks_us()


def ticks_add(ticks: int, delta: int) -> int:
    return (ticks + delta) % TICKS_PERIOD


def ticks_diff(end: int, start: int) -> int:
    """Signed `end - start` across one wrap (the result lies in [-2**29, 2**29))."""
    return ((end - start + _HALF) % TICKS_PERIOD) - _HALF


def sleep_ms(ms: int) -> None:
    _time.sleep(ms / 1000)


def sleep_us(us: int) -> None:
    _time.sleep(us / 1_000_000)


def localtime(secs: Any = None) -> Tuple[int, ...]:
    """Device 8-tuple: (year, month, mday, hour, minute, second, weekday, yearday)."""
    t = _time.localtime(secs)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday, t.tm_yday)


ADDED = ("ticks_ms", "ticks_us", "ticks_cpu", "ticks_add", "ticks_diff", "sleep_ms", "sleep_us")


def install() -> None:
    """Adds the device functions onto the standard `time` (CPython's own names untouched)."""
    for name in ADDED:
        if not hasattr(_time, name):
            setattr(_time, name, globals()[name])


def __getattr__(name: str) -> Any:
    # Everything else (`time`, `sleep`, `gmtime`, `mktime`, ...) is the standard module's.
    try:
        return getattr(_time, name)
    except AttributeError:
        raise AttributeError(f"module 'utime' has no attribute {name!r}") from None
