"""`esp32.NVS` on the host: the device's non-volatile key/value store, one JSON file per
namespace (docs/guide/device-apps.md).

Files live in `<vfs_root>/.nvs/<namespace>.json` (`./.nvs/` when `vfs_root` is unset, like the
OTA directory). As on the device, `set_*` changes are kept in memory until `commit()`, and a
missing key raises `OSError(ENOENT)`. Values are 32-bit signed ints or blobs (bytes).
"""
from __future__ import annotations

import base64
import errno
import json
import os
import threading
from typing import Any, Dict, Optional

__all__ = ["NVS"]

_LOCK = threading.Lock()
_MAX_NAME = 15  # the device's key and namespace length limit


def _dir() -> str:
    # The root as resolved once (`vfs_base`): a relative `vfs_root` must not follow a later
    # `uos.chdir`, which moves the process's working directory with the device's.
    from viperhttp.files import vfs_base
    base = vfs_base()
    return os.path.join(base if base is not None else ".", ".nvs")


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME:
        raise ValueError(f"{what} must be a str of 1..{_MAX_NAME} characters")
    if "/" in name or name.startswith("."):
        raise ValueError(f"invalid {what}")
    return name


class NVS:
    def __init__(self, namespace: str) -> None:
        self.namespace = _check_name(namespace, "namespace")
        self._path = os.path.join(_dir(), self.namespace + ".json")
        self._data: Dict[str, Dict[str, Any]] = self._load()

    def _load(self) -> Dict[str, Dict[str, Any]]:
        try:
            with open(self._path) as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _get(self, key: str, kind: str) -> Any:
        entry = self._data.get(_check_name(key, "key"))
        if entry is None or entry.get("t") != kind:
            raise OSError(errno.ENOENT, "ESP_ERR_NVS_NOT_FOUND")
        return entry["v"]

    def set_i32(self, key: str, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not -2**31 <= value < 2**31:
            raise ValueError("value must be a 32-bit signed int")
        self._data[_check_name(key, "key")] = {"t": "i32", "v": value}

    def get_i32(self, key: str) -> int:
        return int(self._get(key, "i32"))

    def set_blob(self, key: str, value: Any) -> None:
        data = value.encode() if isinstance(value, str) else bytes(value)
        self._data[_check_name(key, "key")] = {"t": "blob", "v": base64.b64encode(data).decode()}

    def get_blob(self, key: str, buffer: Optional[bytearray] = None) -> Any:
        """Device form `get_blob(key, buf)` fills `buf` and returns the length; without a
        buffer the bytes are returned."""
        data = base64.b64decode(self._get(key, "blob"))
        if buffer is None:
            return data
        n = min(len(buffer), len(data))
        buffer[:n] = data[:n]
        return len(data)

    def erase_key(self, key: str) -> None:
        if self._data.pop(_check_name(key, "key"), None) is None:
            raise OSError(errno.ENOENT, "ESP_ERR_NVS_NOT_FOUND")

    def commit(self) -> None:
        """Writes the namespace atomically (temporary file + rename)."""
        with _LOCK:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            tmp = f"{self._path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(self._data, f)
            os.replace(tmp, self._path)
