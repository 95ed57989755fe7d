"""`machine` on a computer: process control plus simulated peripherals (docs/guide/device-apps.md).

`reset()` / `soft_reset()` are a stop and a re-exec of the same command line, as an OTA
restart; while serving they raise `MachineReset` so that, as on the device, they never return.
Peripherals are plain objects whose values tests can set (`Pin(4).value(1)`, `ADC(0).set(1234)`);
they read 0 by default (a `PULL_UP` input 1) and warn once that no hardware is behind them.
"""
from __future__ import annotations

import hashlib as _hashlib
import logging as _logging
import socket as _socket
import time as _time
import uuid as _uuid
from typing import Any, Dict, List, Optional, Tuple

log = _logging.getLogger("viperhttp.compat")

#: reported by `freq()`; the ESP32's default CPU clock
FREQ_HZ = 240_000_000
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
#: set by `reset()` for the process it starts again (the environment survives `execv`)
_CAUSE_ENV = "VIPERHTTP_RESET_CAUSE"


def _boot_cause() -> int:
    import os as _os

    cause = _os.environ.pop(_CAUSE_ENV, "")  # read once: a later plain restart is a power-on
    return int(cause) if cause.isdigit() else PWRON_RESET


_BOOT_CAUSE = _boot_cause()
IDLE, SLEEP, DEEPSLEEP = 0, 1, 2
_warned = [False]


def _warn_simulated(kind: str) -> None:
    if not _warned[0]:
        _warned[0] = True
        log.warning("machine.%s is simulated on this computer (no hardware behind it)", kind)


def unique_id() -> bytes:
    """6 bytes, stable for this host (from /etc/machine-id, else the MAC and host name)."""
    seed = b""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path, "rb") as f:
                seed = f.read().strip()
                break
        except OSError:
            continue
    if not seed:
        seed = f"{_uuid.getnode():x}-{_socket.gethostname()}".encode()
    return _hashlib.sha256(seed).digest()[:6]


def freq(*_args: int) -> int:
    return FREQ_HZ


class MachineReset(SystemExit):
    """Raised by `reset()` while the server runs: as on the device, `reset()` never returns, so
    the code after it does not run. The bridge treats it as `sys.exit()` in app code: requests
    still waiting get 503, the server stops (shutdown hooks run), then the process executes its
    command line again (docs/guide/device-apps.md)."""

    planned = True  # the bridge logs it as an intended stop, not an error

    def __init__(self) -> None:
        super().__init__(0)

    def __repr__(self) -> str:
        return "MachineReset()"


def reset() -> None:
    """Stop, then the process re-executes with the same argv; never returns while serving."""
    import os as _os

    import viperhttp_ota
    from viperhttp_bridge import Bridge
    _os.environ[_CAUSE_ENV] = str(SOFT_RESET)  # what `reset_cause()` says after the restart
    if Bridge.current is not None:
        viperhttp_ota._schedule_restart()
        raise MachineReset()
    viperhttp_ota._reexec()


soft_reset = reset


def reset_cause() -> int:
    """`SOFT_RESET` in a process that `reset()` started again, else `PWRON_RESET`."""
    return _BOOT_CAUSE


def idle() -> None:
    _time.sleep(0.001)


def lightsleep(ms: Optional[int] = None) -> None:
    _time.sleep((ms or 0) / 1000)


deepsleep = lightsleep


def disable_irq() -> int:
    return 0


def enable_irq(_state: int = 0) -> None:
    """No interrupts on the host."""


class Pin:
    IN, OUT, OPEN_DRAIN = 1, 3, 7
    PULL_UP, PULL_DOWN = 1, 2
    IRQ_RISING, IRQ_FALLING = 1, 2
    _levels: Dict[Any, int] = {}

    def __init__(self, pin_id: Any, mode: int = -1, pull: int = -1, value: Optional[int] = None,
                 **_kw: Any) -> None:
        _warn_simulated("Pin")
        self.id = pin_id
        if value is not None:
            Pin._levels[pin_id] = 1 if value else 0
        elif pull == Pin.PULL_UP and pin_id not in Pin._levels:
            Pin._levels[pin_id] = 1  # an idle pulled-up input reads high (a button not pressed)

    def value(self, v: Optional[int] = None) -> Optional[int]:
        if v is None:
            return Pin._levels.get(self.id, 0)
        Pin._levels[self.id] = 1 if v else 0
        return None

    __call__ = value

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)

    def init(self, mode: int = -1, pull: int = -1, *_args: Any, **_kw: Any) -> None:
        """Mode changes have no effect on a simulated pin; a pull-up makes an unset pin read 1."""
        if pull == Pin.PULL_UP and self.id not in Pin._levels:
            Pin._levels[self.id] = 1

    def irq(self, *_args: Any, **_kw: Any) -> None:
        """No edges happen on a simulated pin."""


class ADC:
    ATTN_0DB, ATTN_2_5DB, ATTN_6DB, ATTN_11DB = 0, 1, 2, 3
    WIDTH_9BIT, WIDTH_10BIT, WIDTH_11BIT, WIDTH_12BIT = 0, 1, 2, 3
    _values: Dict[Any, int] = {}

    def __init__(self, pin: Any, **_kw: Any) -> None:
        _warn_simulated("ADC")
        self.id = getattr(pin, "id", pin)

    def set(self, raw: int) -> None:
        """Test hook: the value the next reads return (0..4095, 12-bit like the ESP32)."""
        ADC._values[self.id] = int(raw)

    def read(self) -> int:
        return ADC._values.get(self.id, 0)

    def read_u16(self) -> int:
        return min(self.read() * 16, 65535)

    def read_uv(self) -> int:
        return self.read() * 3_300_000 // 4095

    def atten(self, _value: int) -> None:
        """No analog front end to configure."""

    width = atten


class _Simulated:
    """PWM, I2C, SPI, UART, Timer: accept their configuration, do nothing, read empty."""

    def __init__(self, *_args: Any, **kw: Any) -> None:
        _warn_simulated(type(self).__name__)
        self._config = dict(kw)

    def init(self, *_args: Any, **kw: Any) -> None:
        self._config.update(kw)

    def deinit(self) -> None:
        self._config.clear()


class PWM(_Simulated):
    def freq(self, value: Optional[int] = None) -> Optional[int]:
        if value is None:
            return int(self._config.get("freq", 0))
        self._config["freq"] = value
        return None

    def duty(self, value: Optional[int] = None) -> Optional[int]:
        if value is None:
            return int(self._config.get("duty", 0))
        self._config["duty"] = value
        return None

    def duty_u16(self, value: Optional[int] = None) -> Optional[int]:
        if value is None:
            return int(self._config.get("duty_u16", 0))
        self._config["duty_u16"] = value
        return None


class I2C(_Simulated):
    def scan(self) -> List[int]:
        return []

    def readfrom(self, _addr: int, nbytes: int, *_a: Any) -> bytes:
        return bytes(nbytes)

    def writeto(self, _addr: int, buf: bytes, *_a: Any) -> int:
        return len(buf)

    def readfrom_mem(self, _addr: int, _mem: int, nbytes: int, **_kw: Any) -> bytes:
        return bytes(nbytes)

    def writeto_mem(self, _addr: int, _mem: int, _buf: bytes, **_kw: Any) -> None:
        """Writes go nowhere."""


SoftI2C = I2C


class SPI(_Simulated):
    def read(self, nbytes: int, write: int = 0) -> bytes:
        return bytes(nbytes)

    def write(self, buf: bytes) -> None:
        """Writes go nowhere."""

    def write_readinto(self, _out: bytes, into: bytearray) -> None:
        into[:] = bytes(len(into))


SoftSPI = SPI


class UART(_Simulated):
    def any(self) -> int:
        return 0

    def read(self, _n: int = -1) -> Optional[bytes]:
        return None

    def readline(self) -> Optional[bytes]:
        return None

    def write(self, buf: bytes) -> int:
        return len(buf)


class Timer(_Simulated):
    ONE_SHOT, PERIODIC = 0, 1


class WDT:
    """Watchdog: `feed()` is a no-op (the host process is supervised differently)."""

    def __init__(self, *_args: Any, **_kw: Any) -> None:
        _warn_simulated("WDT")

    def feed(self) -> None:
        """Nothing to feed."""


class RTC:
    """`datetime()` from the host clock: (year, month, day, weekday, hours, minutes, seconds,
    subseconds); setting it is accepted and ignored (the host clock is the system's)."""

    def __init__(self, *_args: Any) -> None:
        pass

    def datetime(self, value: Optional[Tuple[int, ...]] = None) -> Optional[Tuple[int, ...]]:
        if value is not None:
            return None
        now = _time.time()
        t = _time.localtime(now)
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_wday, t.tm_hour, t.tm_min, t.tm_sec,
                int((now % 1) * 1_000_000))

    def init(self, *_args: Any) -> None:
        """Accepted and ignored."""
