"""The filters and tests whose device behaviour differs from Jinja's (docs/templates.md,
"Filters"); registered on the environment by `engine`."""
from __future__ import annotations

import re
from typing import Any, Optional

from jinja2.runtime import Undefined
from markupsafe import Markup

__all__ = ["FILTERS", "TESTS"]

_EMPTY = Markup("")


def _keep_mark(value: Any, text: str) -> Any:
    return Markup(text) if isinstance(value, Markup) else text


def f_safe(value: Any) -> Markup:
    return _EMPTY if value is None else Markup(value if isinstance(value, str) else str(value))


def f_escape(value: Any) -> Any:
    """Marks the value "escape on output", also undoing an earlier `safe`."""
    if value is None or isinstance(value, Undefined):
        return value
    return str.__str__(value) if isinstance(value, str) else str(value)


def f_default(value: Any, default_value: Any = "", boolean: bool = False,
              _raw: Optional[str] = None) -> Any:
    """None and `""` (and undefined: lenient superset) are replaced; a bare-word argument that
    is not a defined variable stands for itself (`_raw`, set by the pre-pass)."""
    if (isinstance(value, Undefined) or value is None or (isinstance(value, str) and value == "")
            or (boolean and not value)):
        if _raw is not None and isinstance(default_value, Undefined):
            return _raw
        return default_value
    return value


def f_upper(value: Any) -> Any:
    return _keep_mark(value, str(value).upper())


def f_lower(value: Any) -> Any:
    return _keep_mark(value, str(value).lower())


def f_capitalize(value: Any) -> Any:
    return _keep_mark(value, str(value).capitalize())


_WORD_START = re.compile(r"(^|[^0-9A-Za-z])([A-Za-z])")


def f_title(value: Any) -> Any:
    """Upper-cases the first letter after every non-alphanumeric character, the rest lower."""
    text = _WORD_START.sub(lambda m: m.group(1) + m.group(2).upper(), str(value).lower())
    return _keep_mark(value, text)


def f_trim(value: Any, chars: Optional[str] = None) -> Any:
    return _keep_mark(value, str(value).strip(chars))


def f_length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def f_join(value: Any, d: str = ", ", attribute: Any = None) -> str:
    if isinstance(value, (list, tuple)):
        if attribute is not None:
            value = [v.get(attribute) if isinstance(v, dict) else getattr(v, attribute, None)
                     for v in value]
        return str(d).join(str(v) for v in value)
    if isinstance(value, Undefined):
        str(value)
        return ""
    if value is None:
        return "None"
    if not isinstance(value, (str, bytes, dict)) and hasattr(value, "__iter__"):
        return str(d).join(str(v) for v in value)
    return str(value)


def f_replace(value: Any, old: Any, new: Any = "", count: Optional[int] = None) -> Any:
    text = str(value).replace(str(old), str(new), -1 if count is None else count)
    return _keep_mark(value, text)


def f_format(value: Any, *args: Any, **kwargs: Any) -> Any:
    """Jinja's `format` (`value % args`); on a safe format string the arguments are escaped
    with the device's spelling (`&quot;`), not MarkupSafe's (`&#34;`)."""
    if args and kwargs:
        from jinja2.exceptions import FilterArgumentError
        raise FilterArgumentError("can't handle positional and keyword arguments at the same time")
    if isinstance(value, Markup):
        from .engine import escape_text

        def safe(v: Any) -> Any:
            if hasattr(v, "__html__") or isinstance(v, (int, float)):
                return v
            return escape_text(v if isinstance(v, str) else str(v))

        if kwargs:
            return value % {k: safe(v) for k, v in kwargs.items()}
        return value % tuple(safe(v) for v in args)
    text = value if isinstance(value, str) else str(value)
    return text % (kwargs or args)


def t_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def t_iterable(value: Any) -> bool:
    return isinstance(value, (list, tuple, dict, str))


def t_string(value: Any) -> bool:
    return isinstance(value, str)


FILTERS = {
    "safe": f_safe, "escape": f_escape, "e": f_escape, "default": f_default, "d": f_default,
    "upper": f_upper, "lower": f_lower, "capitalize": f_capitalize, "title": f_title,
    "trim": f_trim, "length": f_length, "count": f_length, "join": f_join, "replace": f_replace,
    "format": f_format,
}
TESTS = {"number": t_number, "iterable": t_iterable, "string": t_string}
