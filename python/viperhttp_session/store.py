"""The session store interface and the in-process store (docs/internals/sessions-auth.md#stores).

`SessionStore` is the interface every store follows: `get`, `set`, `delete`, `touch`, `gc`,
`compact`. `MemorySessionStore` keeps entries in a dict in this process (lost on restart, not
shared between processes). `SessionStoreError` is what a store raises when its backing
service is unreachable; the middleware turns it into a 503.
"""
from __future__ import annotations

import heapq
import json
import time
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["SessionStore", "SessionStoreError", "MemorySessionStore", "check_size", "now_ms"]


class SessionStoreError(Exception):
    """The store's backing service failed (Redis down, timed out): the session state is
    unknown, so the request is answered 503 rather than treated as logged out."""


def now_ms() -> int:
    """Wall-clock epoch milliseconds: expiries survive process restarts."""
    return int(time.time() * 1000)


def check_size(data: Dict[str, Any], max_bytes: Optional[int]) -> str:
    """The JSON text of `data`; `ValueError("session too large")` past `max_bytes`."""
    text = json.dumps(data, separators=(",", ":"))
    if max_bytes and len(text) > max_bytes:
        raise ValueError("session too large")
    return text


class SessionStore:
    """Interface: `ttl_ms=None` means the store's own TTL. Subclasses override every method."""

    ttl_ms: int = 3600000

    def get(self, sid: str) -> Optional[Dict[str, Any]]:
        raise NotImplementedError

    def set(self, sid: str, data: Dict[str, Any], ttl_ms: Optional[int] = None) -> None:
        raise NotImplementedError

    def delete(self, sid: str) -> None:
        raise NotImplementedError

    def touch(self, sid: str, ttl_ms: Optional[int] = None) -> None:
        raise NotImplementedError

    def gc(self, force: bool = False) -> int:
        """Drop expired entries; returns how many were removed."""
        return 0

    def compact(self, force: bool = False) -> int:
        """Drop expired entries and apply the size limits; returns how many were removed."""
        return 0


#: (host mapping) The default `max_sessions` of the memory and VFS stores. The device's 256 is a
#: RAM bound; on a computer it let 256 cookie-less visits to a page that sets a CSRF token or a
#: flash evict every logged-in user. At `max_bytes` (4 KiB) each, 10,000 sessions are at most
#: ~40 MiB. Give `max_sessions=256` for the original's bound.
HOST_MAX_SESSIONS = 10_000


class MemorySessionStore(SessionStore):
    """Sessions in a dict of this process: `sid → (expiry_ms, data, seq)`, data kept by reference.

    Expired entries vanish on `get` and `gc()`, and a `set` sweeps them at most once per
    `gc_interval_ms` (≤ 0: only when over the limit). When a `set` takes the store over
    `max_sessions`, expired entries are swept and then the entries with the earliest expiry
    (≈ least recently written or touched; equal expiries in write/touch order) are evicted.
    `get` never returns an expired entry, but it still holds memory: visitors who never come
    back left theirs until the store reached `max_sessions` (the soak,
    docs/internals/benchmarks.md "Soak"), so the periodic sweep bounds the store by the sessions
    alive in one TTL.

    The expiry order is a heap of `(expiry_ms, seq, sid)` beside the dict, so neither the sweep
    nor an eviction scans the store: a full store costs a `set` O(log n), not a scan of its
    10,000 entries (docs/internals/sessions-auth.md#stores). A write or touch pushes a new
    heap item and leaves the old one stale (its `seq` no longer the entry's); stale items are
    skipped when popped, and the heap is rebuilt once they outnumber the live entries.
    """

    def __init__(self, ttl_ms: int = 3600000, max_sessions: int = HOST_MAX_SESSIONS, max_bytes: int = 4096,
                 gc_interval_ms: int = 60000) -> None:
        self.ttl_ms = int(ttl_ms)
        self.max_sessions = int(max_sessions)
        self.max_bytes = int(max_bytes)
        self.gc_interval_ms = int(gc_interval_ms)
        self._entries: Dict[str, Tuple[int, Dict[str, Any], int]] = {}
        self._expiries: List[Tuple[int, int, str]] = []  # heap; see the class docstring
        self._seq = 0
        self._last_gc = now_ms()

    def _put(self, sid: str, expiry: int, data: Dict[str, Any]) -> None:
        self._seq += 1
        self._entries[sid] = (expiry, data, self._seq)
        heap = self._expiries
        heapq.heappush(heap, (expiry, self._seq, sid))
        if len(heap) > 2 * len(self._entries) + 64:  # mostly stale: rebuild, O(1) amortised
            heap[:] = [(exp, seq, key) for key, (exp, _, seq) in self._entries.items()]
            heapq.heapify(heap)

    def _pop_earliest(self) -> bool:
        """Remove the live entry with the earliest expiry; False when the store is empty."""
        heap, entries = self._expiries, self._entries
        while heap:
            _, seq, sid = heapq.heappop(heap)
            entry = entries.get(sid)
            if entry is not None and entry[2] == seq:
                del entries[sid]
                return True
        return False

    def get(self, sid: str) -> Optional[Dict[str, Any]]:
        entry = self._entries.get(sid)
        if entry is None:
            return None
        if entry[0] <= now_ms():
            del self._entries[sid]  # its heap item goes stale
            return None
        return entry[1]

    def set(self, sid: str, data: Dict[str, Any], ttl_ms: Optional[int] = None) -> None:
        check_size(data, self.max_bytes)
        ttl = self.ttl_ms if ttl_ms is None else ttl_ms
        now = now_ms()
        self._put(sid, now + ttl, data)
        if 0 < self.gc_interval_ms <= now - self._last_gc:
            self.gc()
        if self.max_sessions and len(self._entries) > self.max_sessions:
            self.gc()
            while len(self._entries) > self.max_sessions and self._pop_earliest():
                pass

    def delete(self, sid: str) -> None:
        self._entries.pop(sid, None)

    def touch(self, sid: str, ttl_ms: Optional[int] = None) -> None:
        entry = self._entries.get(sid)
        if entry is not None:  # a new seq: equal expiries evict in write/touch order
            ttl = self.ttl_ms if ttl_ms is None else ttl_ms
            self._put(sid, now_ms() + ttl, entry[1])

    def gc(self, force: bool = False) -> int:
        """Drop expired entries: pops the heap while its earliest item is past, so the cost
        is the expired (and stale) items, not the store's size."""
        now = now_ms()
        self._last_gc = now
        heap, entries = self._expiries, self._entries
        removed = 0
        while heap and heap[0][0] <= now:
            _, seq, sid = heapq.heappop(heap)
            entry = entries.get(sid)
            if entry is not None and entry[2] == seq:
                del entries[sid]
                removed += 1
        return removed

    def compact(self, force: bool = False) -> int:
        removed = self.gc()
        while self.max_sessions and len(self._entries) > self.max_sessions and self._pop_earliest():
            removed += 1
        return removed

    def __len__(self) -> int:
        return len(self._entries)
