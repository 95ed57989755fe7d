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


def _device_tuple(t: _time.struct_time) -> Tuple[int, ...]:
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday, t.tm_yday)


def localtime(secs: Any = None) -> Tuple[int, ...]:
    """Device 8-tuple: (year, month, mday, hour, minute, second, weekday, yearday)."""
    return _device_tuple(_time.localtime(None if secs is None else int(secs)))


def gmtime(secs: Any = None) -> Tuple[int, ...]:
    """`localtime`'s 8-tuple in UTC (the device has no time zone: both are the same there)."""
    return _device_tuple(_time.gmtime(None if secs is None else int(secs)))


def mktime(t: Any) -> int:
    """Seconds for a device 8-tuple (or a 9-field one), read as local time; weekday and
    yearday are ignored, as on the device."""
    fields = tuple(t)
    if len(fields) not in (8, 9):
        raise TypeError("mktime needs an 8-tuple")
    year, month, mday, hour, minute, second = (int(v) for v in fields[:6])
    return int(_time.mktime((year, month, mday, hour, minute, second, 0, 0, -1)))


def time() -> int:
    """Whole seconds since the epoch (1970 here), an int as on the device; `time_ns()` and the
    standard `time.time()` keep the fractions."""
    return int(_time.time())


ADDED = ("ticks_ms", "ticks_us", "ticks_cpu", "ticks_add", "ticks_diff", "sleep_ms", "sleep_us")


def install() -> None:
    """Adds the device functions onto the standard `time` (CPython's own names untouched)."""
    for name in ADDED:
        if not hasattr(_time, name):
            setattr(_time, name, globals()[name])


def __getattr__(name: str) -> Any:
    # Everything else (`sleep`, `time_ns`, ...) is the standard module's.
    try:
        return getattr(_time, name)
    except AttributeError:
        raise AttributeError(f"module 'utime' has no attribute {name!r}") from None
