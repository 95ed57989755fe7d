"""The `Session` object a request sees as `request.session` (docs/internals/sessions-auth.md).

A thin mapping over a plain dict plus the bookkeeping `SessionMiddleware` needs after the
handler: whether the data changed (`dirty`), whether the id must change (`rotate()`) or the
session must end (`invalidate()`). Session ids come from the OS CSPRNG (`secrets`).
"""
from __future__ import annotations

import secrets
from typing import Any, Dict, ItemsView, Iterator, KeysView, Optional, ValuesView

__all__ = ["Session", "new_session_id", "is_session_id"]

_HEX = frozenset("0123456789abcdef")


def new_session_id() -> str:
    """16 random bytes from the OS, hex-encoded (32 lower-case characters)."""
    return secrets.token_hex(16)


def is_session_id(value: Any) -> bool:
    """True for exactly 32 lower-case hex characters: the only ids the stores ever see, so a
    client-chosen value can never name a file outside the VFS store or an odd Redis key."""
    return isinstance(value, str) and len(value) == 32 and _HEX.issuperset(value)


class Session:
    """Session data of one request: `get/set/pop/clear`, mapping access, `rotate()`,
    `invalidate()`. Writes mark it dirty; mutate a nested value, then call `mark_dirty()`."""

    __slots__ = ("_sid", "_data", "_dirty", "_new", "_invalidated", "_old_sid", "_csrf_key", "_touched",
                 "_csrf_fresh", "_login_watch")

    def __init__(self, sid: Optional[str] = None, data: Optional[Dict[str, Any]] = None,
                 new: bool = True) -> None:
        self._sid = sid
        self._data: Dict[str, Any] = dict(data) if data else {}
        self._dirty = False
        self._new = new
        self._invalidated = False
        self._old_sid: Optional[str] = None  # set by rotate(): deleted from the store on save
        self._csrf_key = "_csrf"  # the middleware's csrf_token_key, read by get_csrf_token
        self._touched = False  # expiry already extended while loading (one Redis round trip)
        self._csrf_fresh = False  # get_csrf_token() issued a post-login token during this request
        # (user_key, value at load) set by SessionMiddleware with rotate_on_login, else None
        self._login_watch: Optional[tuple] = None  # type: ignore[type-arg]

    # --- identity and lifecycle -------------------------------------------------------------

    @property
    def sid(self) -> Optional[str]:
        """The session id, or None for a new session that has not been saved yet."""
        return self._sid

    @property
    def is_new(self) -> bool:
        """True when no stored session was found for this request."""
        return self._new

    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def rotated(self) -> bool:
        return self._old_sid is not None

    @property
    def invalidated(self) -> bool:
        return self._invalidated

    def _logged_in(self) -> bool:
        """True when this request put a new truthy user into an existing session (a login or a
        switch of user): the login rotation and the fresh CSRF token apply."""
        watch = self._login_watch
        if watch is None or self._new:
            return False
        key, start = watch
        user = self._data.get(key)
        return bool(user) and user != start

    def mark_dirty(self) -> None:
        """Save this session after the request even though no top-level key was assigned."""
        self._dirty = True

    def rotate(self) -> None:
        """Give the session a new id now; the old id is deleted from the store on save.

        Call it when the privilege level changes (login). A session that was never saved
        simply gets its first id on save."""
        if self._sid is not None and self._old_sid is None:
            self._old_sid = self._sid
        self._sid = new_session_id() if self._sid is not None else None
        self._dirty = True

    def invalidate(self) -> None:
        """End the session: the data is dropped, the stored entry deleted, the cookie cleared.
        Anything written after it in the same request (a "logged out" flash) is saved in a new
        session with a new id."""
        self._invalidated = True
        self._data.clear()
        self._dirty = True

    # --- data ------------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._dirty = True

    def pop(self, key: str, default: Any = None) -> Any:
        if key in self._data:
            self._dirty = True
            return self._data.pop(key)
        return default

    def clear(self) -> None:
        if self._data:
            self._data.clear()
            self._dirty = True

    def to_dict(self) -> Dict[str, Any]:
        """A shallow copy of the data."""
        return dict(self._data)

    def items(self) -> ItemsView[str, Any]:
        return self._data.items()

    def keys(self) -> KeysView[str]:
        return self._data.keys()

    def values(self) -> ValuesView[Any]:
        return self._data.values()

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._dirty = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]  # KeyError for a missing key, like a dict
        self._dirty = True

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<Session sid={self._sid!r} keys={list(self._data)!r}>"
