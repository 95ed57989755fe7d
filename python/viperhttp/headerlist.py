"""`HeaderList`: response headers as pairs that also answer by name (docs/typed-api.md)."""
from __future__ import annotations

from typing import Any

__all__ = ["HeaderList"]


class HeaderList(list):  # type: ignore[type-arg]
    """Response headers as `(name, value)` pairs that also answer dict-style by name.

    `set_cookie` needs repeated names, so it keeps headers as pairs; Starlette-style
    middleware still writes `response.headers["X-Time"] = "1"`. A str key reads the first
    value (case-insensitive) and writing replaces every pair of that name; int indexes and
    slices keep their list meaning.
    """

    __slots__ = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            low = key.lower()
            for name, value in list.__iter__(self):
                if name.lower() == low:
                    return value
            raise KeyError(key)
        return list.__getitem__(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, str):
            self._drop(key)
            self.append((key, value))
        else:
            list.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        if isinstance(key, str):
            if not self._drop(key):
                raise KeyError(key)
        else:
            list.__delitem__(self, key)

    def _drop(self, key: str) -> bool:
        low = key.lower()
        kept = [pair for pair in list.__iter__(self) if pair[0].lower() != low]
        dropped = len(kept) != len(self)
        self[:] = kept
        return dropped

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            low = key.lower()
            return any(name.lower() == low for name, _ in list.__iter__(self))
        return list.__contains__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def getlist(self, key: str) -> list:  # type: ignore[type-arg]
        low = key.lower()
        return [value for name, value in list.__iter__(self) if name.lower() == low]

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.append((key, default))
            return default
        return self[key]

    def update(self, other: Any = (), **kwargs: Any) -> None:
        items = other.items() if isinstance(other, dict) else other
        for name, value in list(items) + list(kwargs.items()):
            self[name] = value

    def pop(self, key: Any = -1, *default: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            value = self.get(key, _MISSING)
            if value is _MISSING:
                if default:
                    return default[0]
                raise KeyError(key)
            self._drop(key)
            return value
        return list.pop(self, key)

    def items(self) -> list:  # type: ignore[type-arg]
        return list(list.__iter__(self))

    def keys(self) -> list:  # type: ignore[type-arg]
        return [name for name, _ in list.__iter__(self)]

    def values(self) -> list:  # type: ignore[type-arg]
        return [value for _, value in list.__iter__(self)]


_MISSING: Any = object()
