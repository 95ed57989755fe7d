"""The typed return path: `response_model`, `status_code=`, `response_class=` and encoding.

Owns docs/internals/typed-api.md "Return values". A route with any of these options (or a handler
return annotation) gets a `ResponsePlan` at registration; per request `finish` turns the
handler's return value into a response dict before any middleware sees it, so a value that
cannot be serialised is a logged 500 there and the middleware and access log see that 500.

pydantic is imported only for a route with a response model: `status_code=`, `response_class=` or
a plain typed route need no validator (docs/internals/benchmarks.md "Memory").
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from . import _native
from .encoders import jsonable_encoder
from .responses import APPLICATION_JSON, MARKER, is_response
from .signature import names_model, return_hint

__all__ = ["ResponsePlan", "compile_response", "split_status_tuple"]

log = logging.getLogger("viperhttp.bridge")


#: `(body, status)` / `(body, status, headers)` → that triple, else None: the status-tuple rule
#: of the normalisation table, owned by crates/viperhttp-py/src/serialise.rs.
split_status_tuple = _native.split_status_tuple


class ResponsePlan:
    """What to do with a typed route's return value."""

    __slots__ = ("adapter", "exclude_none", "by_alias", "status_code", "response_class", "content_kw", "where", "plain",
                 "filters")
    #: not a generator's plan (stream_routes.StreamPlan): the pipeline tears its dependencies down
    streams = False

    def __init__(self, adapter: Any, exclude_none: bool, status_code: Optional[int], response_class: Any,
                 where: str, by_alias: bool = True, filters: Optional[Dict[str, Any]] = None) -> None:
        self.adapter = adapter
        self.exclude_none = exclude_none
        #: FastAPI's other `response_model_*` filters, as pydantic `dump_python` keywords
        #: (`exclude_unset`, `exclude_defaults`, `include`, `exclude`); they apply with a
        #: response model, as in FastAPI
        self.filters = filters or {}
        #: field aliases name the JSON keys, as FastAPI's `response_model_by_alias` (default True)
        self.by_alias = by_alias
        self.status_code = status_code
        self.response_class = response_class
        #: FastAPI calls `response_class(content, status_code=...)`, the value first: so do we
        #: (RedirectResponse's `url`, FileResponse's `path`, a user's Starlette-style class),
        #: except for our classes that take the original's `body`/status first, where a
        #: returned int would read as a status: they get `content=` by name
        self.content_kw = response_class is not None and _takes_content(response_class)
        self.where = where
        #: the plan only turns a plain dict into a JSON 200, which is what the serialiser does
        #: with a dict anyway
        self.plain = (adapter is None and response_class is None and status_code is None and not exclude_none
                      and by_alias)

    def finish_bare(self, result: Any) -> Any:
        """`finish` for the bridge's bare coroutine, whose value no middleware sees
        (docs/internals/bridge.md#bare-coroutine): a dict without the response marker goes on as
        it is. The plan would wrap it as the JSON 200 the serialiser makes of a dict anyway, so the
        bytes and headers are the same, without a response dict built and read back per request.
        A dict with the marker still goes through the plan: the bridge takes any true marker for a
        response (a stream, say), the plan only `True`."""
        if self.plain and type(result) is dict and MARKER not in result:
            return result
        return self.finish(result)

    def finish(self, result: Any) -> Any:
        """The response dict for `result`; raises (→ 500) when it cannot be encoded."""
        if type(result) is dict and self.adapter is None and self.response_class is None:
            # The usual FastAPI-style return: a plain dict, left to the native encoder.
            if result.get(MARKER) is True:
                return result
            if not self.exclude_none and self.by_alias:
                return {MARKER: True, "status_code": self.status_code or 200, "body": result, "headers": None,
                        "content_type": APPLICATION_JSON}
        if is_response(result):
            return result
        status = self.status_code
        headers = None
        split = split_status_tuple(result)
        if split is not None:
            result, status, headers = split
        if type(result) in _RAW_TYPES and self.adapter is None and self.response_class is None:
            # Bytes are the body as they are (`application/octet-stream`), on typed routes as
            # on the original's (docs/internals/typed-api.md "Return values"): never JSON text.
            return {MARKER: True, "status_code": status or 200, "body": bytes(result), "headers": headers,
                    "content_type": "application/octet-stream"}
        if self.adapter is not None:
            if self.filters.get("exclude_unset") or self.filters.get("exclude_defaults"):
                # FastAPI's order: a returned model is dumped with the filters first, so what
                # its fields_set says survives into the response model
                result = _prepare(result, self.filters.get("exclude_unset", False),
                                  self.filters.get("exclude_defaults", False), self.exclude_none)
            try:
                validated = self.adapter.validate_python(result, from_attributes=True)
            except _validation_error() as exc:  # evaluated only when validation raised
                # FastAPI's ResponseValidationError: the server's fault, never the client's.
                raise ValueError(f"response does not match response_model ({self.where}): "
                                 f"{exc.error_count()} error(s): {exc.errors(include_url=False)!r}") from None
            body = self.adapter.dump_python(validated, mode="json", exclude_none=self.exclude_none,
                                            by_alias=self.by_alias, **self.filters)
        elif type(result) in (dict, list) and not self.exclude_none and self.by_alias:
            # Left to the native encoder, whose fallback calls `encoders.json_default` for
            # the values JSON cannot spell: no Python walk over the usual all-native dict.
            body = result
        else:
            body = jsonable_encoder(result, self.exclude_none, by_alias=self.by_alias)
        if self.response_class is not None:
            kw = {"status_code": status} if status else {}
            resp = (self.response_class(content=body, **kw) if self.content_kw
                    else self.response_class(body, **kw))
            if headers:
                _add_headers(resp, headers)
            return resp
        if type(result) is str and self.adapter is None:
            content_type = "text/plain; charset=utf-8"  # a str stays text, as in the original
        elif body is None and self.adapter is None:
            content_type = None
        else:
            content_type = APPLICATION_JSON
            if not isinstance(body, (dict, list)):
                from .responses import json_dumps
                body = json_dumps(body)
        return {MARKER: True, "status_code": status or 200, "body": body, "headers": headers,
                "content_type": content_type}


_RAW_TYPES = (bytes, bytearray, memoryview)


def _takes_content(cls: Any) -> bool:
    import inspect

    try:
        params = [p for p in inspect.signature(cls).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):  # no signature to read: FastAPI's positional call
        return False
    return bool(params) and params[0].name in ("first", "body") and "content" in inspect.signature(cls).parameters


def merge_sub_response(sub: Any, result: Any) -> Any:
    """`result` with the status and headers a `response: Response` parameter was given
    (FastAPI's sub-response, docs/internals/typed-api.md "Request and response habits"): its
    status when one was set, its headers (cookies included) after the response's own. The
    caller leaves out a `Response` the handler returned itself: that is sent as it is, as in
    FastAPI; one made from the handler's value (`response_class=`) is merged."""
    if not is_response(result):
        result = _DEFAULT_PLAN.finish(result)
        if not is_response(result):  # a plain dict left to the native encoder
            result = {MARKER: True, "status_code": 200, "body": result, "headers": None,
                      "content_type": APPLICATION_JSON}
    if sub.get("status_code") is not None:
        result["status_code"] = sub["status_code"]
    extra = sub.get("headers")
    if extra:
        own = result.get("headers")
        pairs = list(own.items()) if isinstance(own, dict) else list(own or ())
        pairs.extend(extra.items() if isinstance(extra, dict) else extra)
        result["headers"] = pairs
    return result


def _add_headers(resp: Any, headers: Any) -> None:
    items = headers.items() if isinstance(headers, dict) else headers
    for name, value in items:
        resp.headers[name] = value


def compile_response(handler: Any, options: Dict[str, Any], where: str, typed: bool = False) -> Optional[ResponsePlan]:
    """The route's `ResponsePlan`, or None when it declares nothing about its response.

    `typed`: the handler declares typed parameters, so it is a FastAPI-style route and its
    return values are encoded FastAPI's way even without response options. A generator
    handler streams what it yields (`stream_routes`)."""
    from .stream_routes import compile_stream_plan, is_stream_handler

    if is_stream_handler(handler):
        return compile_stream_plan(handler, options, where)  # type: ignore[return-value]
    model = options.get("response_model", ...)
    if model is ...:
        model = _return_annotation(handler)
    status = options.get("status_code")
    rclass = options.get("response_class")
    exclude_none = bool(options.get("response_model_exclude_none", False))
    by_alias = bool(options.get("response_model_by_alias", True))
    filters: Dict[str, Any] = {}
    for key in ("exclude_unset", "exclude_defaults"):
        if options.get("response_model_" + key):
            filters[key] = True
    for key in ("include", "exclude"):
        value = options.get("response_model_" + key)
        if value is not None:
            filters[key] = set(value) if isinstance(value, (list, tuple, frozenset)) else value
    if model is None and status is None and rclass is None and not typed and by_alias:
        return None
    adapter = None
    if model is not None:
        import pydantic  # late: only a route with a response model needs it
        from pydantic_core import SchemaError

        try:
            adapter = pydantic.TypeAdapter(model)
        except (pydantic.PydanticSchemaGenerationError, SchemaError, TypeError, ValueError) as exc:
            raise TypeError(f"unsupported response_model ({where}, keyword 'response_model'): {exc}") from None
    return ResponsePlan(adapter, exclude_none, status, rclass, where, by_alias, filters)


def _prepare(value: Any, exclude_unset: bool, exclude_defaults: bool, exclude_none: bool) -> Any:
    """FastAPI's `_prepare_response_content`: returned models (also in lists and dict values)
    as dicts of what the filters keep, by alias, before the response model reads them."""
    if hasattr(value, "model_dump") and hasattr(type(value), "model_fields"):
        return value.model_dump(by_alias=True, exclude_unset=exclude_unset, exclude_defaults=exclude_defaults,
                                exclude_none=exclude_none)
    if type(value) is list:
        return [_prepare(v, exclude_unset, exclude_defaults, exclude_none) for v in value]
    if type(value) is dict:
        return {k: _prepare(v, exclude_unset, exclude_defaults, exclude_none) for k, v in value.items()}
    return value


def _return_annotation(handler: Any) -> Any:
    """A return annotation naming a model (pydantic model or dataclass, possibly inside
    `list[...]`/`Optional[...]`) becomes the response model, FastAPI-style. Other annotations
    (`-> str`, `-> dict`, response classes) are left alone so an original-style handler that
    annotates its return keeps its response (docs/internals/typed-api.md)."""
    tp = return_hint(handler)
    if isinstance(tp, str):
        return None
    return tp if tp is not None and names_model(tp) else None


def _validation_error() -> Any:
    from pydantic import ValidationError  # loaded: an adapter exists only once pydantic is imported

    return ValidationError


#: How a route without a response plan turns a value into a response, for the sub-response merge.
_DEFAULT_PLAN = ResponsePlan(None, False, None, None, "sub-response")
