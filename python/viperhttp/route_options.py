"""The FastAPI route keywords (docs/internals/typed-api.md): their checks, and `dependencies=[...]` as
deps-spec entries."""
from __future__ import annotations

import itertools
import textwrap
from typing import Any, Dict, Iterable, Optional

from .signature import expand_depends

__all__ = ["SIDE_EFFECT", "TYPED_KWARGS", "check_typed_kwarg", "side_effect_deps", "route_doc"]

#: Keys of `dependencies=[...]` entries in a merged deps spec: `@` cannot start a parameter
#: name, so these values are resolved for their effect and never passed to the handler.
SIDE_EFFECT = "@"
_side_effect_ids = itertools.count()


def side_effect_deps(dependencies: Any, what: str) -> Optional[Dict[str, Any]]:
    """`dependencies=[Depends(f), ...]` as deps-spec entries under `@` keys (docs/internals/typed-api.md)."""
    if dependencies is None:
        return None
    if not isinstance(dependencies, (list, tuple)):
        raise TypeError(f"dependencies must be a list of Depends() ({what}, keyword 'dependencies')")
    out: Dict[str, Any] = {}
    for dep in dependencies:
        if not (isinstance(dep, dict) and dep.get("__vhttp_dep__") is True):
            raise TypeError(f"dependencies must be a list of Depends() ({what}, keyword 'dependencies')")
        out[f"{SIDE_EFFECT}{next(_side_effect_ids)}"] = expand_depends(dep, what)
    return out


#: FastAPI route keywords (docs/internals/typed-api.md): name → check.
TYPED_KWARGS = ("status_code", "response_model", "response_model_exclude_none", "response_model_by_alias",
                "response_model_exclude_unset", "response_model_exclude_defaults", "response_model_include",
                "response_model_exclude", "response_class", "dependencies", "openapi_extra", "blocking", "response_description",
                "strict_content_type", "generate_unique_id_function", "callbacks")


def check_typed_kwarg(key: str, value: Any, where: str) -> None:
    ok = True
    if key == "status_code":
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599)
    elif key in ("response_model_exclude_none", "response_model_by_alias", "response_model_exclude_unset",
                 "response_model_exclude_defaults", "blocking", "strict_content_type"):
        ok = isinstance(value, bool)
    elif key in ("response_model_include", "response_model_exclude"):
        # pydantic's include/exclude: a set of field names, or a dict for nested fields
        ok = value is None or isinstance(value, (set, frozenset, dict, list, tuple))
    elif key == "response_class":
        ok = value is None or (isinstance(value, type) and callable(value))
    elif key == "openapi_extra":
        ok = value is None or isinstance(value, dict)
    elif key == "response_description":
        ok = isinstance(value, str)
    elif key == "generate_unique_id_function":
        ok = value is None or callable(value)
    elif key == "callbacks":
        # FastAPI's `callbacks=router.routes`: declared routes, documented under the operation
        from .routing import RouteDef

        ok = value is None or (isinstance(value, (list, tuple)) and all(isinstance(r, RouteDef) for r in value))
    if not ok:
        raise TypeError(f"invalid value for keyword {key!r} ({where}): {value!r}")


def route_doc(method: str, other_keywords: Iterable[str]) -> str:
    """The docstring of `app.get` and its siblings, whose signature is `(*args, **kwargs)`: what
    `help(app.get)` shows a FastAPI user. The keywords come from the lists the decorator checks
    them against, so the text cannot fall behind them."""
    keywords = ", ".join(f"`{k}`" for k in sorted({*TYPED_KWARGS, *other_keywords}))
    text = (f"`@app.{method.lower()}(path, **options)`: the function below answers {method} requests to "
            f"`path` (`/items/{{item_id}}`, `{{item_id:int}}`, `{{rest:path}}`), as FastAPI's decorator.\n\n"
            f"Keyword options: {keywords}.\n\nThe user guide: docs/guide/routes.md; the keywords: "
            "docs/internals/typed-api.md and docs/internals/framework.md#routing.")
    return "\n\n".join(textwrap.fill(part, 96) for part in text.split("\n\n"))
