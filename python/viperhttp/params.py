"""Parameter markers (`Query`, `Path`, `Header`, `Cookie`, `Body`, `Form`, `File`) and the
original's query specs.

Owns the original's `query={...}` spec (docs/internals/framework.md): validated once at registration
(`compile_query_spec`) into small entries; per request `apply_query_spec` converts the parsed
query dict in place and returns the first failure message (→ the pinned 422) or None.
The FastAPI-style markers only carry declarations; `viperhttp.typed` compiles them into a
route's validation plan (docs/internals/typed-api.md).
"""
from __future__ import annotations

import re
from typing import Any, Dict, Optional, Tuple

__all__ = ["Query", "Path", "Header", "Cookie", "Body", "Form", "File", "Param", "QueryEntry",
           "compile_query_spec", "apply_query_spec", "convert"]

_ABSENT: Any = object()
_CASTS = (str, int, float, bool)

# docs/internals/framework.md compatibility of a default with its cast (None is always compatible).
_COMPATIBLE: Dict[type, Tuple[type, ...]] = {
    str: (str, bytes),
    int: (int, str, bytes),
    float: (float, int, str, bytes),
    bool: (bool, int, str, bytes),
}


#: FastAPI's keyword options of a parameter marker; all optional.
_OPTIONS = ("alias", "title", "description", "gt", "ge", "lt", "le", "min_length", "max_length",
            "pattern", "examples", "deprecated", "include_in_schema", "default_factory",
            "convert_underscores", "embed", "media_type", "multiple_of", "strict", "openapi_examples")


def _options(source: str, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    for key in kwargs:
        if key not in _OPTIONS:
            raise TypeError(f"unknown keyword {key!r} for {source}()")
    return kwargs



#: the JSON-schema key marking a parameter declared `include_in_schema=False` (set by
#: viperhttp.typed, read by the OpenAPI generator, which leaves the parameter out)
HIDDEN = "x-viperhttp-hidden"
#: the JSON-schema key carrying a parameter's `openapi_examples={name: {"summary", "value"}}`
#: (FastAPI's OpenAPI `examples` object; the generator moves it out of the schema)
OPENAPI_EXAMPLES = "x-viperhttp-openapi-examples"

class Param:
    """A FastAPI-style parameter declaration: where the value comes from and its constraints.

    `default` is `...` (or absent) for a required parameter. The options are the keywords of
    `_OPTIONS`; unknown keywords are a `TypeError` naming the keyword.
    """

    source = "query"

    def __init__(self, default: Any = ..., **options: Any) -> None:
        if "regex" in options:
            options["pattern"] = options.pop("regex")
        self.default = default
        self.options = _options(type(self).__name__, options)

    @property
    def required(self) -> bool:
        return self.default is ... and "default_factory" not in self.options

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.default!r})"


class Path(Param):
    source = "path"


class Header(Param):
    source = "header"


class Cookie(Param):
    source = "cookie"


class Body(Param):
    source = "body"


class Form(Param):
    source = "form"


class File(Form):
    source = "file"


class Query(dict):  # type: ignore[type-arg]
    """`Query(default=<absent>, cast=None, **options)`: an optional or required query param.

    A dict subclass equal to the original's plain dict
    `{"__vhttp_query__": True, "default": d, "cast": T, "required": bool}` so docs generation
    can read `spec["default"]` / `spec.get("cast")`; the second positional argument keeps the
    original's meaning (`cast`). The FastAPI options (`ge`, `alias`, ...) are attributes, used
    when the marker is a handler parameter's default (docs/internals/typed-api.md).
    """

    source = "query"

    def __init__(self, *args: Any, default: Any = _ABSENT, cast: Optional[type] = None, **options: Any) -> None:
        if len(args) > 2 or (len(args) >= 1 and default is not _ABSENT) or (len(args) == 2 and cast is not None):
            raise TypeError("Query([default], [cast])")
        if len(args) >= 1:
            default = args[0]
        if len(args) == 2:
            cast = args[1]
        if cast is not None and cast not in _CASTS:
            raise TypeError("cast must be type")
        if "regex" in options:
            options["pattern"] = options.pop("regex")
        self.options = _options("Query", options)
        required = default is _ABSENT or default is ...
        if required:
            default = None
        elif default is not None and cast is not None and not isinstance(default, _COMPATIBLE[cast]):
            raise TypeError("query default incompatible with cast")
        super().__init__(__vhttp_query__=True, default=default, cast=cast, required=required)

    @property
    def default(self) -> Any:
        """The default as a FastAPI marker reports it: `...` when required."""
        return ... if self["required"] else self["default"]

    def __repr__(self) -> str:
        if self["required"]:
            return f"Query(cast={_cast_name(self['cast'])})"
        return f"Query({self['default']!r}, {_cast_name(self['cast'])})"


def _cast_name(cast: Optional[type]) -> str:
    return "None" if cast is None else cast.__name__


class QueryEntry:
    """One compiled spec entry; `__slots__` keeps the per-request loop cheap."""

    __slots__ = ("name", "required", "default", "cast")

    def __init__(self, name: str, required: bool, default: Any, cast: Optional[type]) -> None:
        self.name = name
        self.required = required
        self.default = default
        self.cast = cast


def compile_query_spec(spec: Any, where: str = "") -> Tuple[QueryEntry, ...]:
    """Validates a route's `query=` spec (host: at registration, docs/internals/framework.md decision).

    `where` names the route (e.g. `route GET /items`) and is appended to error messages in
    parentheses after the original's message, together with the offending parameter.
    """
    if not isinstance(spec, dict):
        raise TypeError(_ctx("query spec must be dict", where))
    entries = []
    for name, value in spec.items():
        if not isinstance(name, str):
            raise TypeError(_ctx("query spec keys must be str", where, name))
        if isinstance(value, type) and value in _CASTS:
            entries.append(QueryEntry(name, True, None, value))
        elif isinstance(value, dict) and value.get("__vhttp_query__") is True:
            cast = value.get("cast")
            if cast is not None and cast not in _CASTS:
                raise TypeError(_ctx("invalid query spec", where, name))
            entries.append(QueryEntry(name, bool(value.get("required")), value.get("default"), cast))
        else:
            raise TypeError(_ctx("invalid query spec", where, name))
    return tuple(entries)


def _ctx(message: str, where: str, name: Any = _ABSENT) -> str:
    # The original's message stays the prefix; the context is informative only.
    parts = [where] if where else []
    if name is not _ABSENT:
        parts.append(f"query param {name!r}")
    return f"{message} ({', '.join(parts)})" if parts else message


def apply_query_spec(entries: Tuple[QueryEntry, ...], q: Dict[str, Any], path_params: Dict[str, Any]) -> Optional[str]:
    """Converts `q` in place per the spec; returns the first failure message or None
    (docs/internals/framework.md).

    Names that are path parameters are skipped. A missing optional value takes its default,
    which is then also a handler kwarg; a str/bytes default goes through the cast.
    """
    for e in entries:
        name = e.name
        if name in path_params:
            continue
        raw = q.get(name, _ABSENT)
        if raw is _ABSENT:
            if e.required:
                return "Missing query param: " + name
            raw = e.default
            if e.cast is None or not isinstance(raw, (str, bytes)):
                q[name] = raw
                continue
        elif e.cast is None:
            continue
        value = convert(raw, e.cast)
        if value is _ABSENT:
            return "Invalid query param: " + name
        q[name] = value
    return None


# docs/internals/framework.md grammar: optional '-', digits, optional '.' + digits; '.5' accepted; no
# exponents.
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off"))


def convert(raw: Any, cast: type) -> Any:
    """Converts a decoded query string with `cast`; returns the `_ABSENT` sentinel on failure."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if cast is str:
        return raw
    if cast is int:
        digits = raw[1:] if raw.startswith("-") else raw
        # isascii(): str.isdigit() also accepts non-ASCII digits such as '²'.
        if digits and digits.isascii() and digits.isdigit():
            try:
                return int(raw)
            except ValueError:  # beyond sys.get_int_max_str_digits(): invalid, not a 500
                return _ABSENT
        return _ABSENT
    if cast is float:
        return float(raw) if _FLOAT.fullmatch(raw) else _ABSENT
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return _ABSENT
