"""The types behind the Starlette spellings of `Request` (docs/internals/typed-api.md): an awaitable
body, form and JSON value, the peer address and the URL with its parts."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

__all__ = ["Body", "FormData", "Address", "URL"]


class Body(bytes):
    """The request body: bytes, callable as `await request.body()`."""

    __slots__ = ()

    async def __call__(self) -> bytes:
        return self


class FormData(dict):  # type: ignore[type-arg]
    """The parsed form: a dict (the original's: a repeated name holds a list), awaitable
    (`await request.form()`), with Starlette's `getlist` and `multi_items`."""

    __slots__ = ()

    def getlist(self, key: str) -> List[Any]:
        """Every value of field `key`, in the order sent (Starlette's)."""
        value = dict.get(self, key)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]

    def multi_items(self) -> List[Tuple[str, Any]]:
        """`(name, value)` for every value, repeated names once per value."""
        return [(key, item) for key in self for item in self.getlist(key)]

    def __await__(self) -> Any:
        return self
        yield  # pragma: no cover


class Address(tuple):  # type: ignore[type-arg]
    """The peer `(host, port)` with Starlette's `.host` / `.port`."""

    __slots__ = ()

    def __new__(cls, host: Any, port: Any = None) -> "Address":
        return tuple.__new__(cls, (host, port))

    @property
    def host(self) -> Any:
        return self[0]

    @property
    def port(self) -> Any:
        return self[1]


class URL(str):
    """A request URL string with Starlette's parts as attributes."""

    __slots__ = ()

    def _split(self) -> Any:
        from urllib.parse import urlsplit

        return urlsplit(self)

    @property
    def scheme(self) -> str:
        return self._split().scheme

    @property
    def netloc(self) -> str:
        return self._split().netloc

    @property
    def hostname(self) -> Optional[str]:
        return self._split().hostname

    @property
    def port(self) -> Optional[int]:
        return self._split().port

    @property
    def path(self) -> str:
        """Percent-decoded, as Starlette's `request.url.path` (the raw form is `request.path`)."""
        from urllib.parse import unquote

        return unquote(self._split().path)

    @property
    def query(self) -> str:
        return self._split().query


def _make_awaitable(base: type) -> type:
    def __await__(self: Any) -> Any:
        return self
        yield  # pragma: no cover

    # `_vhttp_base`: normalisation hands the plain type to the native JSON encoder.
    return type("Awaitable" + base.__name__.capitalize(), (base,),
                {"__slots__": (), "__await__": __await__, "_vhttp_base": base})


_AWAITABLE = {t: _make_awaitable(t) for t in (dict, list, str, int, float)}


def _awaitable(value: Any) -> Any:
    cls = _AWAITABLE.get(type(value))
    return value if cls is None else cls(value)


class _Done:
    """An already-finished awaitable holding `value`."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Any:
        return self.value
        yield  # pragma: no cover


_CO_COROUTINE = 0x80 | 0x200  # CO_COROUTINE | CO_ASYNC_GENERATOR


def _maybe_awaited(value: Any) -> Any:
    """`None`/`True`/`False` for sync callers; an awaitable for a coroutine caller."""
    import sys

    frame = sys._getframe(2)
    if frame is not None and frame.f_code.co_flags & _CO_COROUTINE:
        return _Done(value)
    return value
