"""Log level and `gzip_static` (docs/internals/logging.md, docs/internals/static-files.md#gzip;
docs/internals/framework.md).

The log level maps onto the Python logger ``viperhttp`` and onto the runtime's
own level: the runtime queues its records (warnings, errors, access lines) and
the bridge forwards them into ``logging`` (see `forward_native_logs`).
`gzip_static` runs in Python: it is a one-off, start-time tool, and the stdlib
``gzip`` module is the well-kept piece for it.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Optional, Union

from . import _native

LOG_OFF, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE = range(6)
_NAMES = {"off": LOG_OFF, "error": LOG_ERROR, "warn": LOG_WARN, "warning": LOG_WARN,
          "info": LOG_INFO, "debug": LOG_DEBUG, "trace": LOG_TRACE}
_CANONICAL = ["off", "error", "warn", "info", "debug", "trace"]
#: viperhttp level → Python logging level (TRACE is below DEBUG).
_PY_LEVELS = [logging.CRITICAL + 10, logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG, 5]
_current = [LOG_INFO]


def listen_address(host: str, port: int) -> str:
    """`host:port` as log lines show a listening address: an IPv6 host in brackets
    (`[::1]:8000`), as in a URL, so the port is not read as part of the address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def set_log_level(level: Union[int, str]) -> Dict[str, object]:
    """`set_log_level(int | name | digits)`; unknown or out of range → `ValueError("log level out
    of range")`. A digit string (`"2"`, what a query parameter gives) is its number, as the
    original's C code took it."""
    if isinstance(level, str) and level.strip().isdigit():
        level = int(level.strip())
    if isinstance(level, str):
        value = _NAMES.get(level.strip().lower())
    elif isinstance(level, int) and not isinstance(level, bool):
        value = level if LOG_OFF <= level <= LOG_TRACE else None
    else:
        value = None
    if value is None:
        raise ValueError("log level out of range")
    _current[0] = value
    logging.getLogger("viperhttp").setLevel(_PY_LEVELS[value])
    sync_native_logging()
    return get_log_level()


def get_log_level() -> Dict[str, object]:
    return {"value": _current[0], "name": _CANONICAL[_current[0]]}


def reset_log_level() -> None:
    """Back to the default (INFO); used by `viperhttp.reset()`."""
    set_log_level(LOG_INFO)


# --- runtime records into Python logging (docs/internals/logging.md) -------------------------------------

#: runtime level number (1 error … 5 trace) → Python logging level
_FROM_NATIVE = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: 5}
_access_on = [False]


def _has_app_handler(logger: logging.Logger) -> bool:
    """`Logger.hasHandlers()`, except the stderr fallback the bridge installs when the app
    configured no logging (marked `_viperhttp_default`): that one shows warnings and startup
    lines, but does not turn the per-request access line on."""
    current: Optional[logging.Logger] = logger
    while current is not None:
        if any(not getattr(h, "_viperhttp_default", False) for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent  # type: ignore[assignment]
    return False


def access_log_wanted() -> bool:
    """docs/internals/logging.md: `viperhttp.access` enabled for INFO and a handler configured."""
    access = logging.getLogger("viperhttp.access")
    return access.isEnabledFor(logging.INFO) and _has_app_handler(access)


def sync_native_logging() -> None:
    """Tell the runtime the level to forward and whether to format access lines."""
    _native._log_config(_current[0], _access_on[0])


def refresh_access_log() -> None:
    """Re-evaluate `access_log_wanted()` (the bridge calls this at start and once a second) and
    tell the runtime when the answer changed."""
    wanted = access_log_wanted()
    if wanted != _access_on[0]:
        _access_on[0] = wanted
        sync_native_logging()


def forward_native_logs(max_records: int = 2000) -> int:
    """Drain queued runtime records into `logging` (logger `viperhttp.<module>`); returns
    how many. Called by the bridge once per poll turn when records wait, and every 100 ms."""
    records = _native._log_drain(max_records)
    get_logger = logging.getLogger
    for level, name, message in records:
        get_logger(name).log(_FROM_NATIVE.get(level, logging.INFO), "%s", message)
    return len(records)


_GZIP_EXTS = (".html", ".htm", ".css", ".js", ".json", ".txt", ".svg", ".xml")
_MAX_DEPTH = 8


def gzip_static(root: Optional[str] = None, min_size: int = 1024, level: int = 6) -> Dict[str, int]:
    """Pre-build `<file>.gz` siblings under `root` (docs/internals/static-files.md#gzip): depth ≤ 8, the
    listed extensions, size ≥ `min_size`; skips `.gz` files and siblings that are non-empty and not
    older; writes through a temp file + rename. Returns the counters dict."""
    import gzip  # late: a one-off tool; most apps never call it

    if root is not None and not isinstance(root, str):
        raise TypeError("root must be str")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
        raise ValueError("min_size must be >= 0")
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
        raise ValueError("level must be 0..9")
    from .files import resolve_path  # vfs_root mapping (docs/guide/device-apps.md#device-paths-vfs_root)

    base = resolve_path(root) if root is not None else (os.environ.get("VIPERHTTP_VFS_ROOT") or os.getcwd())
    stats = {"files_seen": 0, "gzipped": 0, "skipped_small": 0, "skipped_existing": 0,
             "skipped_ext": 0, "errors": 0}
    if not os.path.isdir(base):
        raise OSError(5, "EIO", base)  # walk failure → OSError(EIO)
    base_depth = base.rstrip(os.sep).count(os.sep)
    for dirpath, dirnames, filenames in os.walk(base):
        if dirpath.rstrip(os.sep).count(os.sep) - base_depth >= _MAX_DEPTH:
            dirnames[:] = []
        for name in filenames:
            if name.endswith(".gz"):
                continue
            stats["files_seen"] += 1
            path = os.path.join(dirpath, name)
            if not name.lower().endswith(_GZIP_EXTS):
                stats["skipped_ext"] += 1
                continue
            try:
                st = os.stat(path)
                if st.st_size < min_size:
                    stats["skipped_small"] += 1
                    continue
                gz = path + ".gz"
                try:
                    gst = os.stat(gz)
                    if gst.st_size > 0 and gst.st_mtime >= st.st_mtime:
                        stats["skipped_existing"] += 1
                        continue
                except FileNotFoundError:
                    pass
                tmp = gz + ".tmp"
                with open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=level) as dst:
                    while True:
                        chunk = src.read(65536)
                        if not chunk:
                            break
                        dst.write(chunk)
                os.replace(tmp, gz)
                stats["gzipped"] += 1
            except OSError:
                stats["errors"] += 1
    return stats
