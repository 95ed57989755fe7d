"""`jsonable_encoder` and the JSON `default=` hook for return values (docs/internals/typed-api.md).

JSON-native values (dict, list, str, int, float, bool, None) are encoded natively; everything
else reaches `json_default` from the native encoder's stdlib fallback, one object at a time,
so a dict of ten ints and one `datetime` costs one hook call, not a tree walk.
"""
from __future__ import annotations

import enum
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["jsonable_encoder", "json_default"]


def _pydantic_model(value: Any) -> bool:
    """`value` is a pydantic model instance. pydantic is never imported here: if the app has not
    imported `pydantic.main`, no `BaseModel` instance can exist (docs/internals/benchmarks.md "Memory")."""
    main = sys.modules.get("pydantic.main")
    return main is not None and isinstance(value, main.BaseModel)


def _decimal(value: Any) -> Any:
    # FastAPI's rule: an integral Decimal becomes an int, others a float.
    return int(value) if value.as_tuple().exponent >= 0 else float(value)


def _bytes(value: bytes) -> str:
    # FastAPI's rule (`bytes.decode()`): bytes that are not UTF-8 raise (a logged 500) rather
    # than reaching the client silently altered.
    return bytes(value).decode("utf-8")


def _iso(value: Any) -> Any:
    return value.isoformat()


def _seconds(value: Any) -> Any:
    return value.total_seconds()


#: The standard-library modules whose types have a JSON form. They are not imported here: a
#: `UUID` or a `datetime` exists only once its module is loaded, so their rules are added when
#: the module first shows up in `sys.modules` (docs/internals/benchmarks.md "Memory").
_STDLIB = ("datetime", "uuid", "decimal", "pathlib", "ipaddress")
Rule = Tuple[Any, Callable[[Any], Any]]


def _rules(modules: Dict[str, Any]) -> Tuple[Dict[type, Callable[[Any], Any]], Tuple[Rule, ...]]:
    """(exact type → conversion, (base classes, conversion) in the order they are tried) for the
    loaded modules among `_STDLIB`."""
    exact: List[Rule] = []
    by_base: List[Rule] = []
    dt = modules.get("datetime")
    if dt is not None:
        exact += [(dt.datetime, _iso), (dt.date, _iso), (dt.time, _iso), (dt.timedelta, _seconds)]
    if "uuid" in modules:
        exact.append((modules["uuid"].UUID, str))
    if "decimal" in modules:
        exact.append((modules["decimal"].Decimal, _decimal))
    by_base += exact
    by_base += [((bytes, bytearray), _bytes), ((set, frozenset, tuple), list)]
    exact += [(bytes, _bytes), (bytearray, _bytes), (set, list), (frozenset, list), (tuple, list)]
    if "pathlib" in modules:
        by_base.append((modules["pathlib"].PurePath, str))
    ip = modules.get("ipaddress")
    if ip is not None:
        by_base.append(((ip.IPv4Address, ip.IPv6Address, ip.IPv4Network, ip.IPv6Network), str))
    return dict(exact), tuple(by_base)


_loaded: Dict[str, Any] = {}
_SIMPLE, _BY_BASE = _rules(_loaded)


def _refresh() -> bool:
    """Adds the rules of `_STDLIB` modules imported since the last call; True when any were."""
    global _SIMPLE, _BY_BASE
    new = {name: sys.modules[name] for name in _STDLIB if name not in _loaded and name in sys.modules}
    if not new:
        return False
    _loaded.update(new)
    _SIMPLE, _BY_BASE = _rules(_loaded)
    return True


def json_default(value: Any) -> Any:
    """One step towards JSON for a value the encoder cannot spell; TypeError if none exists.

    The result may still contain non-JSON values: the encoder calls this again for those.
    """
    fn = _SIMPLE.get(type(value))
    if fn is None and _refresh():
        fn = _SIMPLE.get(type(value))
    if fn is not None:
        return fn(value)
    if _pydantic_model(value):
        return value.model_dump(mode="json", by_alias=True)  # FastAPI's default: aliases name the keys
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(type(value), "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses  # loaded: `value` is a dataclass instance

        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    for kinds, fn in _BY_BASE:
        if isinstance(value, kinds):
            return fn(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_NATIVE = (str, int, float, bool, type(None))


def jsonable_encoder(value: Any, exclude_none: bool = False, _seen: Optional[set] = None, *,
                     by_alias: bool = True) -> Any:
    """`value` as JSON-native data (dict/list/str/int/float/bool/None), FastAPI-style.

    Dict keys become strings; `exclude_none` drops None-valued dict entries and model fields;
    `by_alias` (FastAPI's default, True) names model fields by their aliases.
    Raises TypeError for a value with no JSON form (→ 500 at the caller).
    """
    if isinstance(value, _NATIVE) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if exclude_none and v is None:
                continue
            key = k if isinstance(k, str) and not isinstance(k, enum.Enum) else jsonable_encoder(k)
            out[key if isinstance(key, str) else str(key)] = jsonable_encoder(v, exclude_none, by_alias=by_alias)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable_encoder(v, exclude_none, by_alias=by_alias) for v in value]
    if _pydantic_model(value):
        return value.model_dump(mode="json", exclude_none=exclude_none, by_alias=by_alias)
    return jsonable_encoder(json_default(value), exclude_none, by_alias=by_alias)


def _install() -> None:
    try:
        from viperhttp._native import set_json_default
    except ImportError:  # extension not built, or an older one: the Python encoder still works
        return
    set_json_default(json_default)


_install()
