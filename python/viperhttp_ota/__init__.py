"""OTA updates on a computer (docs/internals/ota.md): the original's manager functions and HTTP endpoints
over two file-backed slots reached through the `esp32.Partition` interface.

One session per process: `ota_begin` opens it on the next update slot, `ota_write` appends
strictly sequentially while a running SHA-256 is fed, `ota_finalize` checks size and hash,
records the new boot slot, calls the apply hook and, with `reboot=True`, stops the server
gracefully and re-executes the process.
"""
from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Union

from viperhttp.compat.esp32 import BLOCK_SIZE, Partition, configure_slots

__all__ = ["OTAError", "ota_status", "ota_begin", "ota_write", "ota_finalize", "ota_abort", "ota_apply",
           "ota_mark_app_valid", "install_ota_routes", "set_apply_hook", "configure"]

log = logging.getLogger("viperhttp.ota")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class OTAError(Exception):
    """An OTA failure answered as JSON `{"detail": detail}` with `status_code`."""

    def __init__(self, detail: str, status_code: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code


class _Session:
    def __init__(self, sid: int, partition: Partition, expected_size: Optional[int],
                 expected_sha256: Optional[str]) -> None:
        self.id = sid
        self.partition = partition
        self.capacity = partition.capacity
        self.expected_size = expected_size
        self.expected_sha256 = expected_sha256
        self.written = 0
        self.erased_blocks = 0
        self.sha = hashlib.sha256()
        self.started = time.monotonic()


class _Manager:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.session: Optional[_Session] = None
        self.next_id = 0
        self.last_result: Optional[Dict[str, Any]] = None
        self.last_error: Optional[str] = None
        self.apply_hook: Optional[Callable[[str, int], Any]] = None


_M = _Manager()


def _fail(detail: str, status_code: int = 400) -> OTAError:
    _M.last_error = detail
    return OTAError(detail, status_code)


def _partition_dict(p: Optional[Partition]) -> Optional[Dict[str, Any]]:
    if p is None:
        return None
    raw = list(p.info())
    return {"raw": raw, "type": raw[0], "subtype": raw[1], "address": raw[2], "size": raw[3],
            "label": raw[4], "encrypted": raw[5]}


def _partitions() -> Dict[str, Any]:
    try:
        running = Partition(Partition.RUNNING)
        return {"running_partition": _partition_dict(running),
                "boot_partition": _partition_dict(Partition(Partition.BOOT)),
                "next_update_partition": _partition_dict(running.get_next_update())}
    except OSError as exc:
        raise _fail(f"ota partition unavailable: {exc}", 500) from None


def _session_dict(s: _Session) -> Dict[str, Any]:
    remaining = pct = None
    if s.expected_size is not None:
        remaining = max(s.expected_size - s.written, 0)
        pct = 100.0 if s.expected_size == 0 else round(100.0 * s.written / s.expected_size, 2)
    return {"id": s.id, "active": True, "partition": _partition_dict(s.partition),
            "capacity_bytes": s.capacity, "block_size": BLOCK_SIZE,
            "block_count": s.capacity // BLOCK_SIZE, "written_bytes": s.written,
            "expected_size": s.expected_size, "remaining_bytes": remaining, "progress_pct": pct,
            "expected_sha256": s.expected_sha256,
            "elapsed_ms": int((time.monotonic() - s.started) * 1000)}


def ota_status() -> Dict[str, Any]:
    """The status snapshot (docs/internals/ota.md)."""
    with _M.lock:
        out: Dict[str, Any] = {"supported": True, "active": _M.session is not None}
        out.update(_partitions())
        out["last_result"] = _M.last_result
        out["last_error"] = _M.last_error
        out["session"] = None if _M.session is None else _session_dict(_M.session)
        return out


def _check_sha(value: Any, name: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value):
        raise _fail(f"{name} must be 64 hex characters")
    return value.lower()


def ota_begin(expected_size: Any = None, expected_sha256: Any = None, force: bool = False) -> Dict[str, Any]:
    """Opens a session on the next update slot; returns the status."""
    with _M.lock:
        if _M.session is not None and not force:
            raise _fail("ota session already active", 409)
        try:
            partition = Partition(Partition.RUNNING).get_next_update()
            capacity = partition.capacity
        except OSError as exc:
            raise _fail(f"ota partition unavailable: {exc}", 500) from None
        if expected_size is not None:
            if isinstance(expected_size, bool) or not isinstance(expected_size, int):
                raise _fail("expected_size must be an integer")
            if expected_size < 0:
                raise _fail("expected_size must be >= 0")
            if expected_size > capacity:
                raise _fail("expected_size exceeds partition capacity")
        sha = _check_sha(expected_sha256, "expected_sha256")
        if _M.session is not None:
            log.info("ota_session_replaced %d", _M.session.id)
        _M.next_id += 1
        _M.session = _Session(_M.next_id, partition, expected_size, sha)
        _M.last_error = None
        return ota_status()


def ota_write(data: Union[bytes, bytearray, memoryview, str], offset: Any = None) -> Dict[str, Any]:
    """Appends `data` (str is UTF-8 encoded) at `written_bytes`; `offset`, if given, must
    equal it. Empty data is a no-op. Returns the status."""
    with _M.lock:
        s = _M.session
        if s is None:
            raise _fail("ota session is not active", 409)
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise _fail("data must be bytes or str")
        data = bytes(data)
        if offset is not None:
            if isinstance(offset, bool) or not isinstance(offset, int):
                raise _fail("offset must be an integer")
            if offset != s.written:
                raise _fail(f"offset mismatch: expected {s.written}, got {offset}", 409)
        if not data:
            return ota_status()
        end = s.written + len(data)
        if s.expected_size is not None and end > s.expected_size:
            raise _fail("chunk exceeds expected_size")
        if end > s.capacity:
            raise _fail("chunk exceeds partition capacity")
        try:
            _write_at(s, data)
        except OSError as exc:
            raise _fail(f"ota write failed: {exc}", 500) from None
        s.sha.update(data)
        s.written = end
        return ota_status()


def _write_at(s: _Session, data: bytes) -> None:
    """Erases each block before its first byte is written, then writes in place."""
    end = s.written + len(data)
    last_block = (end - 1) // BLOCK_SIZE
    while s.erased_blocks <= last_block:
        s.partition.ioctl(6, s.erased_blocks)
        s.erased_blocks += 1
    block, offset = divmod(s.written, BLOCK_SIZE)
    s.partition.writeblocks(block, data, offset)


def ota_finalize(set_boot: bool = True, reboot: bool = False, strict_size: bool = True,
                 sha256: Any = None) -> Dict[str, Any]:
    """Verifies size and SHA-256, optionally records the slot as the boot slot (then calls the
    apply hook) and optionally re-executes the process; returns the result. `sha256` is a late
    expected hash (documentation alias). A failure leaves the session active."""
    with _M.lock:
        s = _M.session
        if s is None:
            raise _fail("ota session is not active", 409)
        late = _check_sha(sha256, "sha256")
        if late is not None and s.expected_sha256 is not None and late != s.expected_sha256:
            raise _fail("sha256 conflicts with expected_sha256")
        wanted = late or s.expected_sha256
        if s.written == 0:
            raise _fail("no firmware bytes written", 409)
        if strict_size and s.expected_size is not None and s.written != s.expected_size:
            raise _fail("written size does not match expected_size", 409)
        digest = s.sha.hexdigest()
        if wanted is not None and digest != wanted:
            raise _fail("sha256 mismatch", 409)
        if reboot and not _can_restart():
            raise _fail("reset unavailable: the server is not running", 500)
        if set_boot:
            try:
                s.partition.set_boot()
            except OSError as exc:
                raise _fail(f"set boot partition failed: {exc}", 500) from None
        result = {"ok": True, "session_id": s.id, "written_bytes": s.written,
                  "expected_size": s.expected_size, "sha256": digest, "set_boot": bool(set_boot),
                  "reboot": bool(reboot), "partition": _partition_dict(s.partition)}
        _M.session = None
        _M.last_result = result
        hook = _M.apply_hook
        path, size = s.partition.path, s.written
    if set_boot and hook is not None:
        try:
            hook(path, size)
        except Exception as exc:
            log.error("ota_apply_hook_error %r", exc, exc_info=True)
            _M.last_error = f"apply hook failed: {exc}"
    if reboot:
        _schedule_restart()
    return result


def ota_abort() -> Dict[str, Any]:
    """Drops the session, if any."""
    with _M.lock:
        s = _M.session
        if s is None:
            return {"ok": True, "aborted": False, "active": False}
        _M.session = None
        _M.last_error = "aborted"
        return {"ok": True, "aborted": True, "session_id": s.id, "active": False}


def ota_apply(data: Union[bytes, str], expected_sha256: Any = None, set_boot: bool = True,
              reboot: bool = False) -> Dict[str, Any]:
    """`begin(len(data), expected_sha256, force=True)` + one write + strict finalize; any
    failure aborts the session and re-raises."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        ota_begin(len(data), expected_sha256, force=True)
        ota_write(data)
        return ota_finalize(set_boot=set_boot, reboot=reboot, strict_size=True)
    except BaseException as exc:
        detail = exc.detail if isinstance(exc, OTAError) else None
        ota_abort()
        if detail is not None:
            _M.last_error = detail
        raise


def ota_mark_app_valid() -> Dict[str, Any]:
    """Cancels the rollback of the running image."""
    try:
        Partition.mark_app_valid_cancel_rollback()
    except OSError as exc:
        raise _fail(f"mark valid failed: {exc}", 500) from None
    return {"ok": True}


def set_apply_hook(hook: Optional[Callable[[str, int], Any]]) -> None:
    """`hook(slot_file_path, size)` runs after each successful finalize with `set_boot=True`
    (None removes it). Applying the image is deployment-specific: by default nothing is done."""
    if hook is not None and not callable(hook):
        raise TypeError("hook must be callable")
    _M.apply_hook = hook


def configure(ota_dir: Optional[str] = None, slot_size: Optional[int] = None) -> None:
    """Slot directory and size (the `ota_dir` / `ota_slot_size` settings of `app.run`)."""
    configure_slots(ota_dir, slot_size)


# --- restart --------------------------------------------------------------------------------------

_RESTART = {"armed": False}


def _can_restart() -> bool:
    from viperhttp_bridge import Bridge
    return Bridge.current is not None


def _argv() -> List[str]:
    """The command line to run again: `sys.orig_argv` (3.10+) keeps `-m pkg`, `-c`, `-X`,
    `-W`, `-O`, `-u`; older Pythons only have the script's `sys.argv`."""
    orig = getattr(sys, "orig_argv", None)
    if orig:
        return list(orig)
    return [sys.executable] + sys.argv


def _flush_logging() -> None:
    for ref in list(getattr(logging, "_handlerList", ())):
        handler = ref()
        if handler is not None:
            try:
                handler.flush()
            except Exception:
                pass


def _reexec() -> None:
    """Ends this process as a normal exit would (logging flushed, the atexit handlers run) and
    executes the same command line again in its place (same pid)."""
    argv = _argv()
    log.info("ota_reexec %s", argv)
    _flush_logging()
    atexit.unregister(_reexec_at_exit)
    atexit._run_exitfuncs()  # logging.shutdown() and the app's own handlers, in LIFO order
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def _reexec_at_exit() -> None:
    # Only reached when run() did not re-execute itself (the non-blocking `start()` form).
    if _RESTART["armed"]:
        _reexec()


def restart_pending() -> bool:
    """True once a `reboot=True` finalize asked for a restart; `viperhttp_bridge.run()` calls
    `_reexec()` when it has finished stopping."""
    return bool(_RESTART["armed"])


def _schedule_restart() -> None:
    """Answer first: the graceful stop starts a moment later (the finalize response is sent
    while in-flight requests drain); when `run()` has finished stopping (shutdown handlers,
    lifespan exit) the process re-executes."""
    from viperhttp_bridge import Bridge
    bridge = Bridge.current
    if bridge is None or _RESTART["armed"]:
        return
    _RESTART["armed"] = True
    atexit.register(_reexec_at_exit)
    bridge.call_later(0.05, bridge.request_stop)


from .routes import install_ota_routes  # noqa: E402  (routes use the functions above)
