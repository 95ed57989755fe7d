"""`ujson`: `json` with the device's default separators (`", "` and `": "`)."""
from __future__ import annotations

import json as _json
from json import JSONDecodeError, load, loads  # noqa: F401
from typing import Any


def dumps(obj: Any, separators: Any = None, **kw: Any) -> str:
    return _json.dumps(obj, separators=separators or (", ", ": "), **kw)


def dump(obj: Any, fp: Any, separators: Any = None, **kw: Any) -> None:
    _json.dump(obj, fp, separators=separators or (", ", ": "), **kw)
