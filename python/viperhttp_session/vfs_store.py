"""`VFSSessionStore`: one JSON file per session on disk (docs/internals/sessions-auth.md#vfssessionstore).

File `<base_path>/<sid>.json` holds `{"exp": <ms>, "at": <last access ms>, "data": {...}}`,
written to a temp file unique to the writer (`<file>.<pid>.<random>.tmp`) and renamed over the
old file, so a reader (or a process that starts
after a crash) sees either the old or the new content, never half of one. `exp`/`at` are
wall-clock epoch milliseconds, so sessions survive restarts.

An in-memory index `sid → [exp, at, size, written_at, seq]` is built on first use from the
directory (unreadable files are deleted); `seq` breaks ties between accesses within one
millisecond, so least-recently-accessed eviction is exact. A sid the index does not know is
looked up on disk, so several processes may share one directory (each keeps its own index).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from typing import Any, Dict, Iterator, List, Optional

from .session import is_session_id
from .store import HOST_MAX_SESSIONS, SessionStore, check_size, now_ms

__all__ = ["VFSSessionStore"]

_DEFAULT_BASE = "/sessions"
_SUFFIX = ".json"
_STALE_TMP_S = 60  # a temp file older than this is a crashed write, not one in progress

# index entry fields
_EXP, _AT, _SIZE, _WRITTEN, _SEQ = range(5)


@contextlib.contextmanager
def _fs_locked(lock: threading.RLock) -> Iterator[None]:
    """The store's own lock, inside `viperhttp.fs_lock()/fs_unlock()` when the build has them."""
    import viperhttp

    fs_lock = getattr(viperhttp, "fs_lock", None)
    fs_unlock = getattr(viperhttp, "fs_unlock", None)
    with lock:
        if fs_lock is not None and fs_unlock is not None:
            fs_lock()
            try:
                yield
            finally:
                fs_unlock()
        else:
            yield


def _resolve_base(base_path: Optional[str]) -> str:
    """The default device path `/sessions` maps under `vfs_root`, or to `./sessions` when
    `vfs_root` is unset; a path the app passes follows the `vfs_root` rule (docs/internals/static-files.md)."""
    from viperhttp.files import resolve_path

    if base_path is None:
        mapped = resolve_path(_DEFAULT_BASE)
        return mapped if mapped != _DEFAULT_BASE else os.path.join(os.getcwd(), "sessions")
    return resolve_path(base_path)


class VFSSessionStore(SessionStore):
    """Sessions as files under `base_path`, bounded by count and total size, LRU by access."""

    def __init__(self, base_path: Optional[str] = None, ttl_ms: int = 3600000, max_sessions: int = HOST_MAX_SESSIONS,
                 max_bytes: int = 4096, max_total_bytes: Optional[int] = None,
                 write_at_interval_ms: int = 30000, gc_interval_ms: int = 60000,
                 compact_interval_ms: int = 60000, compact_on_load: bool = True) -> None:
        self.base_path = _resolve_base(base_path)
        self.ttl_ms = int(ttl_ms)
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self.max_total_bytes = max_total_bytes
        self.write_at_interval_ms = int(write_at_interval_ms)
        self.gc_interval_ms = int(gc_interval_ms)
        self.compact_interval_ms = int(compact_interval_ms)
        self.compact_on_load = bool(compact_on_load)
        self._index: Optional[Dict[str, List[int]]] = None
        self._seq = 0
        self._last_gc = 0
        self._last_compact = 0
        self._lock = threading.RLock()

    # --- files -----------------------------------------------------------------------------

    def _file(self, sid: str) -> str:
        return os.path.join(self.base_path, sid + _SUFFIX)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _write(self, sid: str, exp: int, at: int, data: Dict[str, Any]) -> int:
        text = json.dumps({"exp": exp, "at": at, "data": data}, separators=(",", ":"))
        path = self._file(sid)
        # unique per writer: processes sharing the directory never write the same temp file
        tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            # 0600: session data (user identities, CSRF tokens) is for the server's user only
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        return len(text)

    def _read(self, sid: str) -> Optional[Dict[str, Any]]:
        """The parsed file, or None when missing; an unreadable file is deleted."""
        path = self._file(sid)
        try:
            with open(path, "r", encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self._remove_file(sid)
            return None
        if (not isinstance(doc, dict) or not isinstance(doc.get("exp"), int)
                or not isinstance(doc.get("data"), dict)):
            self._remove_file(sid)
            return None
        return doc

    def _remove_file(self, sid: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._file(sid))

    def _load(self) -> Dict[str, List[int]]:
        index = self._index
        if index is not None:
            return index
        os.makedirs(self.base_path, mode=0o700, exist_ok=True)  # an existing directory keeps its mode
        index = {}
        names = sorted(os.listdir(self.base_path))
        now_s = time.time()
        for name in names:
            if name.endswith(".tmp"):
                # a write interrupted by a crash, unless recent: then it may be another
                # process's write in progress, renamed into place any moment
                tmp = os.path.join(self.base_path, name)
                with contextlib.suppress(OSError):
                    if now_s - os.stat(tmp).st_mtime > _STALE_TMP_S:
                        os.remove(tmp)
                continue
            sid = name[:-len(_SUFFIX)] if name.endswith(_SUFFIX) else ""
            if not is_session_id(sid):
                continue  # not ours: leave it alone
            doc = self._read(sid)
            if doc is None:
                continue
            at = doc.get("at") if isinstance(doc.get("at"), int) else doc["exp"]
            try:
                size = os.path.getsize(self._file(sid))
            except OSError:  # removed meanwhile by another process sharing the directory
                continue
            index[sid] = [doc["exp"], at, size, at, 0]
        # seq follows the stored access times, so the LRU order survives the restart
        for sid in sorted(index, key=lambda s: index[s][_AT]):
            index[sid][_SEQ] = self._next_seq()
        self._index = index
        if self.compact_on_load:
            self.compact(force=True)
        return index

    # --- interface -------------------------------------------------------------------------

    def get(self, sid: str) -> Optional[Dict[str, Any]]:
        if not is_session_id(sid):
            return None
        with _fs_locked(self._lock):
            index = self._load()
            doc = self._read(sid)
            if doc is None:
                index.pop(sid, None)
                return None
            entry = index.get(sid)
            if entry is None:  # written by another process sharing the directory
                at = doc.get("at") if isinstance(doc.get("at"), int) else doc["exp"]
                entry = index[sid] = [doc["exp"], at, 0, at, 0]
            entry[_EXP] = max(entry[_EXP], doc["exp"])
            now = now_ms()
            if entry[_EXP] <= now:
                self._remove_file(sid)
                del index[sid]
                return None
            entry[_AT] = now
            entry[_SEQ] = self._next_seq()
            if now - entry[_WRITTEN] >= self.write_at_interval_ms:
                entry[_SIZE] = self._write(sid, entry[_EXP], now, doc["data"])
                entry[_WRITTEN] = now
            data: Dict[str, Any] = doc["data"]
            return data

    def set(self, sid: str, data: Dict[str, Any], ttl_ms: Optional[int] = None) -> None:
        if not is_session_id(sid):
            raise ValueError("invalid session id")
        check_size(data, self.max_bytes)
        with _fs_locked(self._lock):
            index = self._load()
            now = now_ms()
            exp = now + (self.ttl_ms if ttl_ms is None else int(ttl_ms))
            size = self._write(sid, exp, now, data)
            index[sid] = [exp, now, size, now, self._next_seq()]
            if self._over_limits(index):
                # Only then: both passes are O(n) (the eviction sorts), too much per write for
                # thousands of sessions; below the limits an expired entry costs nothing, `get`
                # never returns it and the periodic `gc()` / `compact()` remove its file.
                self._sweep(now)
                self._evict(keep=sid)
            self.compact()

    def delete(self, sid: str) -> None:
        if not is_session_id(sid):
            return
        with _fs_locked(self._lock):
            index = self._load()
            index.pop(sid, None)
            self._remove_file(sid)

    def touch(self, sid: str, ttl_ms: Optional[int] = None) -> None:
        if not is_session_id(sid):
            return
        with _fs_locked(self._lock):
            entry = self._load().get(sid)
            if entry is None:
                return
            now = now_ms()
            entry[_EXP] = now + (self.ttl_ms if ttl_ms is None else int(ttl_ms))
            entry[_AT] = now
            entry[_SEQ] = self._next_seq()
            if now - entry[_WRITTEN] >= self.write_at_interval_ms:
                doc = self._read(sid)
                if doc is not None:
                    entry[_SIZE] = self._write(sid, entry[_EXP], now, doc["data"])
                    entry[_WRITTEN] = now

    def gc(self, force: bool = False) -> int:
        """Expired sweep, at most once per `gc_interval_ms` unless forced (≤ 0: only forced)."""
        now = now_ms()
        if not force and (self.gc_interval_ms <= 0 or now - self._last_gc < self.gc_interval_ms):
            return 0
        with _fs_locked(self._lock):
            self._load()
            self._last_gc = now
            return self._sweep(now)

    def compact(self, force: bool = False) -> int:
        """Sweep + LRU eviction to the limits, throttled by `compact_interval_ms` unless forced."""
        now = now_ms()
        if not force and now - self._last_compact < self.compact_interval_ms:
            return 0
        with _fs_locked(self._lock):
            self._load()
            self._last_compact = now
            return self._sweep(now) + self._evict()

    # --- limits ----------------------------------------------------------------------------

    def _sweep(self, now: int) -> int:
        index = self._index or {}
        expired = [sid for sid, entry in index.items() if entry[_EXP] <= now]
        for sid in expired:
            del index[sid]
            self._remove_file(sid)
        return len(expired)

    def _over(self, count: int, total: int) -> bool:
        """Over a limit (a falsy limit is off)."""
        return ((bool(self.max_sessions) and count > self.max_sessions)
                or (bool(self.max_total_bytes) and total > self.max_total_bytes))  # type: ignore[operator]

    def _total(self, index: Dict[str, Any]) -> int:
        """The stored bytes; only summed when `max_total_bytes` is set (O(n))."""
        return sum(e[_SIZE] for e in index.values()) if self.max_total_bytes else 0

    def _over_limits(self, index: Dict[str, Any]) -> bool:
        return self._over(len(index), self._total(index))

    def _evict(self, keep: Optional[str] = None) -> int:
        """Least-recently-accessed first, until both limits hold (a falsy limit is off)."""
        index = self._index or {}
        removed = 0
        total = self._total(index)
        if not self._over(len(index), total):
            return 0  # no sort below the limits
        order = sorted(index, key=lambda s: (index[s][_AT], index[s][_SEQ]))
        for sid in order:
            if not self._over(len(index), total):
                break
            if sid == keep and len(index) == 1:
                break
            total -= index[sid][_SIZE]
            del index[sid]
            self._remove_file(sid)
            removed += 1
        return removed

    def __len__(self) -> int:
        with _fs_locked(self._lock):
            return len(self._load())
