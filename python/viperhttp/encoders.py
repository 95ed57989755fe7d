"""`jsonable_encoder` and the JSON `default=` hook for return values (docs/typed-api.md).

JSON-native values (dict, list, str, int, float, bool, None) are encoded natively; everything
else reaches `json_default` from the native encoder's stdlib fallback, one object at a time,
so a dict of ten ints and one `datetime` costs one hook call, not a tree walk.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import enum
import ipaddress
import pathlib
import uuid
from typing import Any, Callable, Dict, Optional, Tuple

__all__ = ["jsonable_encoder", "json_default"]

try:
    from pydantic import BaseModel as _BaseModel
except ImportError:  # pydantic is a dependency; tolerate a broken install in unit tools
    _BaseModel = None  # type: ignore[assignment,misc]


def _decimal(value: decimal.Decimal) -> Any:
    # FastAPI's rule: an integral Decimal becomes an int, others a float.
    return int(value) if value.as_tuple().exponent >= 0 else float(value)  # type: ignore[operator]


def _bytes(value: bytes) -> str:
    return value.decode("utf-8", "replace")


_SIMPLE: Dict[type, Callable[[Any], Any]] = {
    _dt.datetime: lambda v: v.isoformat(),
    _dt.date: lambda v: v.isoformat(),
    _dt.time: lambda v: v.isoformat(),
    _dt.timedelta: lambda v: v.total_seconds(),
    uuid.UUID: str,
    decimal.Decimal: _decimal,
    bytes: _bytes,
    bytearray: _bytes,
    set: list,
    frozenset: list,
    tuple: list,
}
_BY_BASE: Tuple[Tuple[type, Callable[[Any], Any]], ...] = (
    (_dt.datetime, _SIMPLE[_dt.datetime]), (_dt.date, _SIMPLE[_dt.date]), (_dt.time, _SIMPLE[_dt.time]),
    (_dt.timedelta, _SIMPLE[_dt.timedelta]), (uuid.UUID, str), (decimal.Decimal, _decimal),
    ((bytes, bytearray), _bytes), ((set, frozenset, tuple), list),
    (pathlib.PurePath, str),
    ((ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network), str),
)


def json_default(value: Any) -> Any:
    """One step towards JSON for a value the encoder cannot spell; TypeError if none exists.

    The result may still contain non-JSON values: the encoder calls this again for those.
    """
    fn = _SIMPLE.get(type(value))
    if fn is not None:
        return fn(value)
    if _BaseModel is not None and isinstance(value, _BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    for kinds, fn in _BY_BASE:
        if isinstance(value, kinds):
            return fn(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_NATIVE = (str, int, float, bool, type(None))


def jsonable_encoder(value: Any, exclude_none: bool = False, _seen: Optional[set] = None) -> Any:
    """`value` as JSON-native data (dict/list/str/int/float/bool/None), FastAPI-style.

    Dict keys become strings; `exclude_none` drops None-valued dict entries and model fields.
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
            out[key if isinstance(key, str) else str(key)] = jsonable_encoder(v, exclude_none)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable_encoder(v, exclude_none) for v in value]
    if _BaseModel is not None and isinstance(value, _BaseModel):
        return value.model_dump(mode="json", exclude_none=exclude_none)
    return jsonable_encoder(json_default(value), exclude_none)


def _install() -> None:
    try:
        from viperhttp._native import set_json_default
    except ImportError:  # extension not built, or an older one: the Python encoder still works
        return
    set_json_default(json_default)


_install()
