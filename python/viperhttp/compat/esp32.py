"""`esp32` for the host: `Partition` backed by two OTA slot files (docs/internals/ota.md).

The device's `esp32.Partition` API (`Partition(Partition.RUNNING)`, `find`, `info`,
`readblocks`/`writeblocks`, `ioctl`, `set_boot`, `get_next_update`,
`mark_app_valid_cancel_rollback`) over `<ota_dir>/ota_0.bin`, `ota_1.bin` and `state.json`.
Slots are sparse files of `slot_size` bytes (default 64 MiB) with 4096-byte blocks; erasing a
block fills it with 0xFF as flash does. `state.json` records `running`, `boot` and `valid`; the
slot recorded as `boot` becomes `running` when a process first touches the slots.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any, Dict, List, Optional, Tuple

from .nvs import NVS

__all__ = ["Partition", "configure_slots", "slot_dir", "SLOT_SIZE_DEFAULT", "BLOCK_SIZE", "NVS",
           "raw_temperature", "mcu_temperature", "wake_on_touch", "wake_on_ext0"]

#: what the temperature functions report: no sensor on a computer (docs/guide/device-apps.md)
_TEMPERATURE_C = 40


def mcu_temperature() -> int:
    """Chip temperature in °C: a fixed plausible value on the host."""
    return _TEMPERATURE_C


def raw_temperature() -> int:
    """The ESP32's raw reading, in °F like the device."""
    return _TEMPERATURE_C * 9 // 5 + 32


def wake_on_touch(_wake: bool) -> None:
    """No deep sleep to wake from on the host."""


def wake_on_ext0(*_args: Any, **_kw: Any) -> None:
    """No deep sleep to wake from on the host."""

SLOT_SIZE_DEFAULT = 64 * 1024 * 1024
BLOCK_SIZE = 4096
_SLOTS = 2


class _SlotStore:
    """Where the slots live and the boot state, loaded once per process (per directory)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.configured_dir: Optional[str] = None
        self.slot_size = SLOT_SIZE_DEFAULT
        self.loaded_dir: Optional[str] = None
        self.state: Dict[str, Any] = {}

    def directory(self) -> str:
        if self.configured_dir is not None:
            from viperhttp.files import resolve_path
            return resolve_path(self.configured_dir)
        from viperhttp.files import vfs_base
        base = vfs_base()  # resolved once: a later `uos.chdir` does not move it
        if base is not None:
            return os.path.join(base, ".ota")
        return os.path.abspath(".ota")

    def load(self) -> Dict[str, Any]:
        with self.lock:
            directory = self.directory()
            if self.loaded_dir == directory:
                return self.state
            os.makedirs(directory, exist_ok=True)
            state = {"running": 0, "boot": 0, "valid": True}
            try:
                with open(os.path.join(directory, "state.json")) as fh:
                    stored = json.load(fh)
                for key in state:
                    if key in stored:
                        state[key] = stored[key]
            except (OSError, ValueError):
                pass
            state["boot"] = _slot_number(state["boot"])
            state["running"] = state["boot"]  # this process "booted" from the boot slot
            self.loaded_dir, self.state = directory, state
            self.save()
            return state

    def save(self) -> None:
        directory = self.loaded_dir or self.directory()
        tmp = os.path.join(directory, "state.json.tmp")
        with open(tmp, "w") as fh:
            json.dump({"running": f"ota_{self.state['running']}", "boot": f"ota_{self.state['boot']}",
                       "valid": bool(self.state["valid"])}, fh)
        os.replace(tmp, os.path.join(directory, "state.json"))

    def path(self, slot: int) -> str:
        self.load()
        path = os.path.join(self.loaded_dir or self.directory(), f"ota_{slot}.bin")
        size = os.path.getsize(path) if os.path.exists(path) else -1
        if size != self.slot_size:
            with open(path, "ab") as fh:
                fh.truncate(self.slot_size)  # sparse: no disk space until written
        return path


_STORE = _SlotStore()


def _slot_number(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _SLOTS:
        return value
    if isinstance(value, str) and value in ("ota_0", "ota_1"):
        return int(value[-1])
    return 0


def configure_slots(ota_dir: Optional[str] = None, slot_size: Optional[int] = None) -> None:
    """Sets the slot directory (a host path, or a VFS path under `vfs_root`) and/or the slot
    size in bytes (a positive multiple of 4096); the state is reloaded on next use."""
    if slot_size is not None:
        if not isinstance(slot_size, int) or isinstance(slot_size, bool):
            raise TypeError("ota_slot_size must be int")
        if slot_size <= 0 or slot_size % BLOCK_SIZE:
            raise ValueError("ota_slot_size must be a positive multiple of 4096")
    if ota_dir is not None and not isinstance(ota_dir, str):
        raise TypeError("ota_dir must be str")
    with _STORE.lock:
        if ota_dir is not None:
            _STORE.configured_dir = ota_dir
        if slot_size is not None:
            _STORE.slot_size = slot_size
        _STORE.loaded_dir = None


def slot_dir() -> str:
    """The directory holding the slot files and `state.json`."""
    _STORE.load()
    return _STORE.loaded_dir or _STORE.directory()


class Partition:
    """One OTA slot, with the device's `esp32.Partition` methods."""

    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id: Any, block_size: int = BLOCK_SIZE) -> None:  # noqa: A002 (device API)
        if block_size != BLOCK_SIZE:
            raise ValueError("block_size must be 4096")
        state = _STORE.load()
        if id == Partition.BOOT and not isinstance(id, bool):
            self.slot = state["boot"]
        elif id == Partition.RUNNING and not isinstance(id, bool):
            self.slot = state["running"]
        elif isinstance(id, str) and id in ("ota_0", "ota_1"):
            self.slot = int(id[-1])
        else:
            raise ValueError("partition not found")

    @classmethod
    def find(cls, type: int = TYPE_APP, subtype: int = 0xFF, label: Optional[str] = None) -> List["Partition"]:  # noqa: A002
        """The app slots matching `subtype` (0xFF = any) and `label`."""
        if type != cls.TYPE_APP:
            return []
        out = []
        for slot in range(_SLOTS):
            if subtype not in (0xFF, 0x10 + slot) or (label is not None and label != f"ota_{slot}"):
                continue
            out.append(cls(f"ota_{slot}"))
        return out

    @property
    def capacity(self) -> int:
        return _STORE.slot_size

    @property
    def path(self) -> str:
        """The slot file (host extra)."""
        return _STORE.path(self.slot)

    def info(self) -> Tuple[int, int, int, int, str, bool]:
        size = _STORE.slot_size
        return (self.TYPE_APP, 0x10 + self.slot, self.slot * size, size, f"ota_{self.slot}", False)

    def _check(self, block_num: int, offset: int, length: int) -> int:
        start = block_num * BLOCK_SIZE + offset
        if block_num < 0 or offset < 0 or start + length > _STORE.slot_size:
            raise OSError(22, "EINVAL")
        return start

    def readblocks(self, block_num: int, buf: Any, offset: int = 0) -> None:
        view = memoryview(buf).cast("B")
        start = self._check(block_num, offset, len(view))
        with open(self.path, "rb") as fh:
            fh.seek(start)
            data = fh.read(len(view))
        view[:len(data)] = data

    def writeblocks(self, block_num: int, buf: Any, offset: Optional[int] = None) -> None:
        """Without `offset` the blocks are erased first (as the device does); with it, the
        bytes are written in place."""
        data = bytes(buf)
        start = self._check(block_num, offset or 0, len(data))
        if offset is None:
            for block in range(block_num, block_num + (len(data) + BLOCK_SIZE - 1) // BLOCK_SIZE):
                self.ioctl(6, block)
        with open(self.path, "r+b") as fh:
            fh.seek(start)
            fh.write(data)

    def ioctl(self, cmd: int, arg: Any = None) -> Any:
        if cmd in (1, 2, 3):  # init, deinit, sync
            return 0
        if cmd == 4:
            return _STORE.slot_size // BLOCK_SIZE
        if cmd == 5:
            return BLOCK_SIZE
        if cmd == 6:
            start = self._check(int(arg), 0, BLOCK_SIZE)
            with open(self.path, "r+b") as fh:
                fh.seek(start)
                fh.write(b"\xff" * BLOCK_SIZE)
            return 0
        return None

    def set_boot(self) -> None:
        with _STORE.lock:
            state = _STORE.load()
            state["boot"] = self.slot
            state["valid"] = False
            _STORE.save()

    def get_next_update(self) -> "Partition":
        return Partition(f"ota_{(self.slot + 1) % _SLOTS}")

    @staticmethod
    def mark_app_valid_cancel_rollback() -> None:
        with _STORE.lock:
            state = _STORE.load()
            state["valid"] = True
            _STORE.save()

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Partition) and other.slot == self.slot

    def __hash__(self) -> int:
        return hash(("ota", self.slot))

    def __repr__(self) -> str:
        t, st, addr, size, label, enc = self.info()
        return (f"<Partition type={t}, subtype={st}, address={addr}, size={size}, "
                f"label={label}, encrypted={int(enc)}>")
