"""Response schemas FastAPI derives from a route's class and return annotation, for the
OpenAPI document (docs/internals/api-docs.md): the status of a route without `status_code=`,
the schema of a return annotation that is not a model, FastAPI's titles of such schemas."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Tuple

__all__ = ["class_status", "annotated_schema", "titled"]


def titled(schema: Dict[str, Any], name: str) -> Dict[str, Any]:
    """FastAPI's title for a body or response schema that is not a `$ref` (a `list[Item]`): its
    field name (a body's parameter, a response's `Response_<unique id>`) title-cased, `_` as
    spaces ("Response Read Items Items  Get")."""
    return schema if "$ref" in schema else {**schema, "title": name.title().replace("_", " ")}


def class_status(rclass: Any) -> str:
    """FastAPI's status of a route without `status_code=`: the default of its response class's
    `status_code` parameter when that is an int (`RedirectResponse`'s 307), else 200."""
    if rclass is not None:
        try:
            param = inspect.signature(rclass.__init__).parameters.get("status_code")
        except (TypeError, ValueError):  # a class whose signature cannot be read
            param = None
        if param is not None and isinstance(param.default, int) and not isinstance(param.default, bool):
            return str(param.default)
    return "200"


#: answers sent as they are, not as JSON (docs/internals/typed-api.md "Return values"): their
#: annotation says nothing of a JSON answer, so it is not described as one
_RAW_ANNOTATIONS = (str, bytes, bytearray, memoryview)
#: pydantic's serialization schemas of the plain annotations an untyped app writes (`-> dict`),
#: so its document loads no pydantic (tests/test_lazy_imports.py)
_BUILTIN_SCHEMAS: Tuple[Tuple[Any, Dict[str, Any]], ...] = (
    (dict, {"additionalProperties": True, "type": "object"}), (list, {"items": {}, "type": "array"}),
    (int, {"type": "integer"}), (float, {"type": "number"}), (bool, {"type": "boolean"}))


def annotated_schema(plan: Any, components: Any) -> Dict[str, Any]:
    """The JSON answer's schema of a route whose return annotation is not a model (`-> dict`,
    `-> list[int]`): FastAPI takes it as the response model and documents its schema, titled
    `Response_<unique id>`; here it stays documentation (only a model annotation validates the
    answer, docs/internals/typed-api.md). `{}` without such an annotation."""
    import types
    import typing

    from viperhttp.api_route import inferred_response_model

    if "response_model" in plan.options and plan.options["response_model"] is None:
        return {}  # FastAPI: an explicit `response_model=None` documents nothing
    hint = inferred_response_model(plan.handler)
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if hint is None or any(m in _RAW_ANNOTATIONS for m in members if m is not type(None)):
        return {}  # `-> str`, `-> Optional[str]`: sent as text, not JSON
    for builtin, schema in _BUILTIN_SCHEMAS:  # pydantic's for them, without loading it
        if hint is builtin:
            return titled(dict(schema), f"Response_{plan.unique_id}")
    from pydantic import TypeAdapter  # only for a route with another such annotation

    try:
        adapter = TypeAdapter(hint)
        # `-> type`, `-> Callable` build an adapter but have no JSON schema: found out here, not
        # when the whole document is resolved at once (one such route made /openapi.json a 500)
        adapter.json_schema(mode="serialization")
    except Exception:  # noqa: BLE001 - an annotation pydantic has no schema for documents nothing
        return {}
    # keyed by the handler: each read of the annotation makes a new `dict[str, int]` object
    return titled(components.model(adapter, "serialization", key=plan.handler), f"Response_{plan.unique_id}")
