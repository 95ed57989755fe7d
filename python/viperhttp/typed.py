"""Annotation-driven parameters: a handler signature compiled once into a validation plan.

Owns docs/internals/typed-api.md. At registration `compile_typed` reads the handler's signature and
type hints and builds a `TypedPlan`: one pydantic model per parameter source (path, query,
header, cookie, form) plus a body validator, and the FastAPI-style dependencies as an
original-style `deps` spec, so they run on the one resolution engine of `viperhttp.deps`.
Per request `TypedPlan.fill` only gathers raw values into dicts and hands them to
pydantic-core; every failure of every source is collected into one `RequestValidationError`
(a 422 `{"detail": [{"loc", "msg", "type"}, ...]}`).

A handler with no annotations, markers or `Depends` defaults gets no plan: the original's
behaviour (strings in, `query={...}` specs, the pinned 422 text) is then untouched.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import re
import typing
from typing import Any, Dict, List, Optional, Tuple

import pydantic
import typing_extensions  # pydantic's dependency: its is_typeddict knows both TypedDicts
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined, SchemaError

from . import _native
from .exceptions import HTTPException, RequestValidationError
from .forms import UploadFile
from .request import MAX_QUERY_PAIRS, first_header
from .typed_groups import ABSENT, ModelGroup, missing_model
from .params import HIDDEN, OPENAPI_EXAMPLES, Body
from .signature import (Annotated, TypedParam, expand_depends, has_metadata, is_union, is_upload,
                        signature_deps, strip_annotated, typed_params, unwrap_optional)

__all__ = ["TypedPlan", "RequestValidationError", "compile_typed", "build_plan", "signature_deps", "Annotated",
           "all_validation_errors", "expand_depends"]

_EMPTY = inspect.Parameter.empty
_SOURCES = ("path", "query", "header", "cookie", "form")
_SEQUENCE_ORIGINS = (list, tuple, set, frozenset, typing.Sequence)
#: what pydantic raises for a declaration it cannot compile (→ a registration TypeError)
_SCHEMA_ERRORS = (pydantic.PydanticSchemaGenerationError, SchemaError, TypeError, ValueError)


#: `_clean_errors(missing_from=)`: a missing value's `input` is always `null`
_NEVER = 1 << 30


def error_loc(source: str) -> str:
    """The first item of a 422's `loc` for a parameter of `source`: a form field is part of
    the request body, so FastAPI locates its errors at `["body", ...]`, as an upload's."""
    return "body" if source == "form" else source


def _clean_errors(exc: ValidationError, prefix: Tuple[Any, ...],
                  missing_from: int = _NEVER) -> List[Dict[str, Any]]:
    """pydantic's errors as JSON-safe dicts with the source prefixed to `loc`, each with the
    `input` FastAPI reports. For a missing value that is `null` for a parameter, and the object
    the field is missing from inside a model: `missing_from` is the `loc` depth from which that
    holds (0: a model body or a parameter model, whose own fields are in an object the client
    sent; 2: several body parameters, each looked up in the body by itself)."""
    out = []
    for err in exc.errors(include_url=False):
        item: Dict[str, Any] = {"type": err["type"], "loc": list(prefix) + list(err["loc"]), "msg": err["msg"]}
        if err["type"] == "missing":
            item["input"] = _safe(err.get("input")) if len(err["loc"]) >= missing_from else None
        elif "input" in err:
            item["input"] = _safe(err["input"])
        ctx = err.get("ctx")
        if ctx:
            item["ctx"] = {k: _safe(v) for k, v in ctx.items()}
        out.append(item)
    return out


_UNPARSED = object()


def _loads(raw: bytes, errors: List[Dict[str, Any]]) -> Any:
    """The body as JSON, or `_UNPARSED` with FastAPI's `json_invalid` error appended."""
    try:
        return json.loads(raw)
    # JSONDecodeError; UnicodeDecodeError for bytes that are no text; RecursionError for a
    # nesting deeper than Python's stack (FastAPI would answer that one 500).
    except (ValueError, RecursionError) as exc:
        errors.append({"type": "json_invalid", "loc": ["body", getattr(exc, "pos", 0)],
                       "msg": "JSON decode error", "input": {},
                       "ctx": {"error": getattr(exc, "msg", None) or str(exc)}})
        return _UNPARSED


def declares_json(content_type: Optional[str]) -> bool:
    """`application/json` or `application/<anything>+json`, parameters allowed (FastAPI's test)."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _safe(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    return str(value)


# --- registration --------------------------------------------------------------------------

def _is_sequence(tp: Any) -> bool:
    tp = unwrap_optional(tp)
    return tp in (list, tuple, set, frozenset) or typing.get_origin(tp) in _SEQUENCE_ORIGINS


def _is_model(tp: Any) -> bool:
    """A body type: a model, dataclass, TypedDict or dict, a list of those, or a union of them
    (a discriminated union of models is a body, as in FastAPI)."""
    tp = unwrap_optional(tp)
    if typing.get_origin(tp) in (list, tuple, set, frozenset, typing.Sequence) and typing.get_args(tp):
        tp = strip_annotated(typing.get_args(tp)[0])
    if is_union(tp):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return bool(members) and all(_is_model(a) for a in members)
    if tp is dict or typing.get_origin(tp) is dict or typing_extensions.is_typeddict(tp):
        return True
    return isinstance(tp, type) and (issubclass(tp, pydantic.BaseModel) or dataclasses.is_dataclass(tp))


def _is_group_model(tp: Any) -> bool:
    tp = unwrap_optional(tp)
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _field(hint: Any, marker: Any, default: Any, name: str, source: str) -> Tuple[Any, Any]:
    """A pydantic (annotation, FieldInfo) pair; the alias is the name on the wire."""
    options: Dict[str, Any] = dict(getattr(marker, "options", {}) or {})
    if marker is not None:
        default = marker.default
    elif default is _EMPTY:
        default = ...
    alias = options.pop("alias", None)
    convert = options.pop("convert_underscores", True)
    options.pop("embed", None)
    options.pop("media_type", None)
    if options.pop("include_in_schema", True) is False and source != "body":
        # kept out of the OpenAPI parameters (viperhttp_autodocs.openapi), as FastAPI does
        extra = options.get("json_schema_extra")
        options["json_schema_extra"] = {**(extra if isinstance(extra, dict) else {}), HIDDEN: True}
    examples = options.pop("openapi_examples", None)
    if examples is not None:
        if not isinstance(examples, dict):
            raise TypeError(f"openapi_examples must be a dict of named examples (parameter {name!r})")
        extra = options.get("json_schema_extra")
        options["json_schema_extra"] = {**(extra if isinstance(extra, dict) else {}), OPENAPI_EXAMPLES: examples}
    if alias is None:
        alias = name.replace("_", "-") if source == "header" and convert else name
    if source == "header":
        alias = alias.lower()
    if hint is _EMPTY:
        hint = Any
    if default is ... and "default_factory" in options:
        default = PydanticUndefined
    field = pydantic.Field(default, alias=alias, **options)
    return hint, field


def _model(route: str, source: str, fields: Dict[str, Tuple[Any, Any]], name: Optional[str] = None) -> Any:
    # Field names are positional placeholders: parameter names such as `model_config` or
    # `_private` must not collide with pydantic's own names; the alias is what is matched.
    config = pydantic.ConfigDict(arbitrary_types_allowed=True, populate_by_name=False)
    # Named after the route, FastAPI-style: an embedded body model shows in the API docs.
    name = name or f"{source.capitalize()}_{re.sub(r'[^0-9A-Za-z]+', '_', route.removeprefix('route ')).strip('_')}"
    return pydantic.create_model(name, __config__=config, **fields)  # type: ignore[call-overload]


#: The types the fast conversion plan converts itself (crates/viperhttp-py/src/typed_params.rs).
_FAST_KINDS = {int: "int", float: "float", bool: "bool", str: "str"}


def _fast_plan(source: str, entries: List[Tuple[str, Any, Any]]) -> Optional[List[Tuple[bool, str, str, str, Any, bool]]]:
    """A conversion plan that skips pydantic for the common case (docs/internals/typed-api.md#fast-path):
    path/query parameters typed `int`, `float`, `bool` or `str` (or Optional of one), with no
    constraints and an immutable default; as `_native.FastParams` entries. Per field it accepts
    only the canonical spelling (`42`, `-1.5`, `true`); any other input, a missing required
    value, or a failure sends the whole source through the pydantic model, so results and 422
    errors are pydantic's own."""
    if source not in ("path", "query"):
        return None
    plan = []
    for name, hint, field in entries:
        kind = _FAST_KINDS.get(unwrap_optional(hint))
        if kind is None or has_metadata(hint) or field.metadata or field.default_factory is not None:
            return None
        required = field.is_required()
        default = None if required else field.default
        if default is not None and default.__class__ not in (int, float, bool, str):
            return None
        plan.append((source == "query", field.alias, name, kind, default, required))
    return plan


class _Source:
    __slots__ = ("source", "model", "names", "aliases", "lists", "pairs", "validate", "fields", "path_first",
                 "fast", "fast_entries")

    def __init__(self, source: str, route: str, entries: List[Tuple[str, Any, Any]],
                 path_first: bool = False) -> None:
        #: a dependency's plain parameters: it cannot know its route's placeholders when it is
        #: compiled, so a path parameter of that name wins over the query (FastAPI habit).
        self.path_first = path_first
        fields = {}
        self.names = []
        self.aliases = []
        self.lists = []
        for i, (name, hint, field) in enumerate(entries):
            fields[f"f{i}"] = (hint, field)
            self.names.append(name)
            self.aliases.append(field.alias)
            self.lists.append(_is_sequence(hint))
        self.source = source
        self.model = _model(route, source, fields)
        self.pairs = tuple(zip(self.aliases, self.lists))
        self.validate = self.model.__pydantic_validator__.validate_python
        self.fields = tuple((name, f"f{i}") for i, name in enumerate(self.names))
        #: the fast plan's entries (`_fast_plan`) and the native plan running them
        self.fast_entries = None if path_first or any(self.lists) else _fast_plan(source, entries)
        self.fast = None if self.fast_entries is None else _native.FastParams(self.fast_entries, MAX_QUERY_PAIRS)

    def fill_fast(self, request: Any, kwargs: Dict[str, Any]) -> bool:
        """The fast plan (see `_fast_plan`); False → use the model, which then sets every
        name of this source again (or raises), so values written here before are replaced."""
        query = request.query_params if self.source == "query" else None
        return self.fast.fill(request.path_params, query, kwargs)  # type: ignore[union-attr]


class TypedPlan:
    """The compiled typed side of one route (see the module docstring)."""

    __slots__ = ("sources", "body_mode", "body_names", "body_aliases", "body_adapter", "body_required",
                 "body_default", "files", "file_docs", "deps_spec", "names", "response", "status_code", "where",
                 "native", "strict_content_type", "body_docs", "body_order")

    def __init__(self) -> None:
        self.sources: List[_Source] = []
        self.body_mode = ""  # "", "single", "embed"
        self.body_aliases: List[str] = []
        self.body_names: List[str] = []
        self.body_adapter: Any = None
        self.body_required = False
        self.body_default: Any = None
        #: (name, alias, required, many, default, as_bytes): `bytes` annotations get the content
        self.files: List[Tuple[str, str, bool, bool, Any, bool]] = []
        #: alias → the `File()`/`Form()` marker's `title` / `description`, for the OpenAPI document
        self.file_docs: Dict[str, Dict[str, Any]] = {}
        self.deps_spec: Dict[str, Any] = {}
        self.names: List[str] = []
        self.response: Any = None  # viperhttp.typed_response.ResponsePlan
        self.status_code: Optional[int] = None
        self.where = ""
        #: every source's fast plan as one native plan, when the route has only path and query
        #: parameters and all of them have one (`_native_plan`)
        self.native: Optional[_native.FastParams] = None
        #: FastAPI's `strict_content_type=False` clears it: a body without a Content-Type is
        #: then read as JSON too (docs/internals/typed-api.md, "Bodies")
        self.strict_content_type = True
        #: a single body's `Body(examples=, openapi_examples=)`, for the OpenAPI request body
        self.body_docs: Dict[str, Any] = {}
        #: form field / file name → declaration position, on a route with both (`_in_body_order`)
        self.body_order: Optional[Dict[str, int]] = None

    # --- per request ----------------------------------------------------------------------

    def fill(self, request: Any, kwargs: Dict[str, Any]) -> None:
        """Validates every declared parameter into `kwargs`; raises `RequestValidationError`."""
        if not self.fill_native(request, kwargs):
            self.fill_validated(request, kwargs)

    def fill_native(self, request: Any, kwargs: Dict[str, Any]) -> bool:
        """The whole route's native plan, when it has one and the values are canonical: True when
        `kwargs` is filled. It runs no app code (int, float, bool and str only), so it needs no
        current request."""
        native = self.native
        # Natively from the raw query string, unless `query_params` was replaced (then it rules).
        # (`getattr`: `app.dispatch()` may be given a request-like object of the app's own.)
        return native is not None and getattr(request, "_qp", 0) is None \
            and native.fill(request.path_params, request.query, kwargs)

    def fill_validated(self, request: Any, kwargs: Dict[str, Any]) -> None:
        """`fill` without the native plan: per source, its fast plan or pydantic."""
        errors: List[Dict[str, Any]] = []
        for src in self.sources:
            if src.fast is not None and src.fill_fast(request, kwargs):
                continue
            group = src if type(src) is ModelGroup else None
            if group is None:
                data = self._gather(src, request)
            else:
                data = group.gather(self._values(src.source, request))
                if data is ABSENT:  # an optional model the request says nothing of
                    if group.default is ...:
                        errors.append(missing_model(error_loc(src.source)))
                    else:
                        kwargs[group.name] = copy.deepcopy(group.default)
                    continue
            try:
                obj = src.validate(data)
            except ValidationError as exc:
                found = _clean_errors(exc, (error_loc(src.source),), 0 if group is not None else _NEVER)
                if group is not None and group.header_locs:
                    group.relabel(found)
                if src.path_first:
                    for err in found:
                        if len(err["loc"]) > 1 and err["loc"][1] in request.path_params:
                            err["loc"][0] = "path"
                errors.extend(found)
                continue
            if group is not None:
                kwargs[group.name] = obj
                continue
            values = obj.__dict__
            for name, field in src.fields:
                kwargs[name] = values[field]
        if self.body_mode:
            self._fill_body(request, kwargs, errors)
        if self.files:
            self._fill_files(request, kwargs, errors)
        if errors:
            if self.body_order is not None:
                errors = _in_body_order(errors, self.body_order)
            raise RequestValidationError(errors, body=self._received_body(request))

    def _received_body(self, request: Any) -> Any:
        """FastAPI's `RequestValidationError.body` for this route (only on the error path)."""
        if self.body_mode:
            raw = request._body
            if not raw:
                return None
            raw = raw if isinstance(raw, (bytes, bytearray)) else bytes(raw)
            if not self._reads_json(request):
                return bytes(raw)
            try:
                return json.loads(raw)
            except (ValueError, RecursionError):
                return raw.decode("utf-8", "replace")
        if self.files or any(src.source == "form" for src in self.sources):
            return dict(_form(request))
        return None

    @staticmethod
    def _values(kind: str, request: Any) -> Any:
        if kind == "path":
            return request.path_params
        if kind == "query":
            return request.query_params
        if kind == "header":
            return request.headers
        if kind == "cookie":
            return request.cookies
        return _form(request)

    def _gather(self, src: _Source, request: Any) -> Dict[str, Any]:
        kind = src.source
        values = self._values(kind, request)
        data: Dict[str, Any] = {}
        for alias, many in src.pairs:
            if many:
                if kind == "query":
                    items = values.getlist(alias)
                elif kind == "form":
                    got = values.get(alias)
                    items = [] if got is None else got if isinstance(got, list) else [got]
                elif kind == "header":
                    items = header_list(values, alias)
                else:
                    got = values.get(alias)
                    items = [] if got is None else [v.strip() for v in str(got).split(",")]
                if items:
                    data[alias] = items
                continue
            value = values.get(alias)
            if src.path_first:
                value = request.path_params.get(alias, value)
            if value is not None:
                if kind == "form" and isinstance(value, list):
                    value = value[-1]  # FastAPI: the last of repeated form fields
                data[alias] = value
        return data

    def _fill_body(self, request: Any, kwargs: Dict[str, Any], errors: List[Dict[str, Any]]) -> None:
        body = request._body  # the raw bytes: `request.body` would copy them into a `Body`
        if not body:
            if self.body_mode == "embed":
                # FastAPI looks each body parameter up by itself: one error per required one,
                # the others take their defaults
                value = self._validate_body({}, errors)
                if not errors:
                    for i, name in enumerate(self.body_names):
                        kwargs[name] = getattr(value, f"f{i}")
            elif self.body_required:
                errors.append({"type": "missing", "loc": ["body"], "msg": "Field required", "input": None})
            else:
                kwargs[self.body_names[0]] = self.body_default
            return
        raw = body if isinstance(body, (bytes, bytearray)) else bytes(body)
        if not self._reads_json(request):
            # FastAPI reads a body as JSON only when its Content-Type says so: the types a
            # browser sends cross-site without a CORS preflight (text/plain, forms) never
            # reach a JSON model (docs/internals/typed-api.md, "Bodies").
            value = self._validate_body(raw, errors)
        else:
            try:
                value = self.body_adapter.validate_json(raw)
            except ValidationError:
                # The errors as FastAPI reports them: `json.loads`, then Python-mode
                # validation (only on this failure path; the fast parse serves the rest).
                value = self._validate_body(_loads(raw, errors), errors)
        if errors:
            return
        if self.body_mode == "single":
            kwargs[self.body_names[0]] = value
        else:
            for i, name in enumerate(self.body_names):
                kwargs[name] = getattr(value, f"f{i}")

    def _reads_json(self, request: Any) -> bool:
        content_type = first_header(request, "content-type")
        return declares_json(content_type) or (not content_type and not self.strict_content_type)

    def _validate_body(self, data: Any, errors: List[Dict[str, Any]]) -> Any:
        """`data` (parsed JSON, or the raw bytes of a body not declared JSON) validated as
        FastAPI validates it; errors appended."""
        if data is _UNPARSED:
            return None
        if self.body_mode == "embed" and not isinstance(data, dict):
            # FastAPI looks each embedded field up in the body: none is there.
            for alias in self.body_aliases:
                errors.append({"type": "missing", "loc": ["body", alias], "msg": "Field required", "input": None})
            return None
        try:
            return self.body_adapter.validate_python(data, from_attributes=True)
        except ValidationError as exc:
            errors.extend(_clean_errors(exc, ("body",), 0 if self.body_mode == "single" else 2))
            return None

    def _fill_files(self, request: Any, kwargs: Dict[str, Any], errors: List[Dict[str, Any]]) -> None:
        form = _form(request)
        for name, alias, required, many, default, as_bytes in self.files:
            raw = form.get(alias)
            items = [] if raw is None else raw if isinstance(raw, list) else [raw]
            uploads = [UploadFile.from_multipart(v) for v in items]
            if any(u is None for u in uploads):
                errors.append({"type": "value_error", "loc": ["body", alias], "msg": "Expected UploadFile",
                               "input": None})
                continue
            if not uploads:
                if required:
                    errors.append({"type": "missing", "loc": ["body", alias], "msg": "Field required",
                                   "input": None})
                else:
                    kwargs[name] = default
                continue
            values: List[Any] = [u.read_sync() for u in uploads] if as_bytes else uploads  # type: ignore[union-attr]
            kwargs[name] = values if many else values[0]


def _in_body_order(errors: List[Dict[str, Any]], order: Dict[str, int]) -> List[Dict[str, Any]]:
    """FastAPI reports the parameters' errors, then the body's, field by field in declaration
    order: form fields and files are one multipart body there, so their errors are interleaved as
    declared (here they are gathered source by source). Only on the failure path."""
    body = [err for err in errors if err["loc"][:1] == ["body"]]
    rest = [err for err in errors if err["loc"][:1] != ["body"]]
    last = len(order)
    body.sort(key=lambda err: order.get(err["loc"][1], last) if len(err["loc"]) > 1 else last)
    return rest + body


def all_validation_errors(plan: Optional[TypedPlan], nodes: Any, request: Any) -> List[Dict[str, Any]]:
    """Every validation failure of a route, each (loc, type) once, in FastAPI's order
    (`solve_dependencies`): each dependency's (the tree in resolution order, a dependency's own
    dependencies first), then the route's own. Run only after a first failure."""
    errors: List[Dict[str, Any]] = []
    seen = set()

    def check(typed: Optional[TypedPlan]) -> None:
        if typed is None:
            return
        try:
            typed.fill(request, {})
        except RequestValidationError as exc:
            for err in exc.errors():
                key = (tuple(err["loc"]), err["type"])
                if key not in seen:
                    seen.add(key)
                    errors.append(err)

    from . import deps as _deps

    def walk(node: Any) -> None:
        node = (_deps.OVERRIDES.node_for(node) or node) if _deps.OVERRIDES else node  # what runs
        for child in node.children:
            walk(child)
        check(node.typed)

    for node in nodes:
        walk(node)
    check(plan)
    return errors


def _form(request: Any) -> Dict[str, Any]:
    try:
        return request.form()
    except HTTPException:
        raise
    except Exception:  # an unparseable form reads as empty; missing fields then 422
        return {}


def compile_typed(handler: Any, path_names: set, skip: set, where: str, skip_first: bool = False,
                  allow_path: bool = False) -> Optional[TypedPlan]:
    """The handler's `TypedPlan`, or None when it declares nothing typed (original behaviour).

    `skip` holds names owned by the original mechanisms (`query={...}` entries, `deps={...}`
    keys); `path_names` are the route's `{placeholders}`. Routing calls
    `signature.typed_plan`, which makes the same decision before importing this module.
    """
    entries = typed_params(handler, skip, skip_first, allow_path, where)
    return None if entries is None else build_plan(entries, path_names, where, allow_path)


def build_plan(entries: List[TypedParam], path_names: set, where: str, allow_path: bool = False,
               body_model: Optional[str] = None) -> TypedPlan:
    """The `TypedPlan` of the parameters `signature.typed_params` selected; `body_model` names
    the model of several body parameters (else `Body_<METHOD>_<path>`)."""
    plan = TypedPlan()
    plan.where = where
    by_source: Dict[str, List[Tuple[str, Any, Any]]] = {s: [] for s in _SOURCES}
    bodies: List[Tuple[str, Any, Any]] = []
    groups: List[ModelGroup] = []
    embed = False
    body_order: Dict[str, int] = {}  # the form's fields and files, by declaration position
    for position, (param, hint, marker, dep) in enumerate(entries):
        name = param.name
        if dep is not None:
            plan.deps_spec[name] = expand_depends(dep, where)
            continue
        if marker is not None:
            source = marker.source
        elif name in path_names:
            source = "path"
        elif is_upload(hint):
            source = "file"
        elif _is_model(hint):
            source = "body"
        else:
            source = "query"
        if source == "path" and name not in path_names and not allow_path:
            raise TypeError(f"Path() parameter has no {{{name}}} placeholder ({where}, parameter {name!r})")
        if source == "file" or (source == "form" and is_upload(hint)):
            default = marker.default if marker is not None else param.default
            required = default is ... or default is _EMPTY
            alias = (getattr(marker, "options", {}) or {}).get("alias") or name
            many = _is_sequence(hint)
            inner = unwrap_optional(hint)
            if many and typing.get_args(inner):
                inner = typing.get_args(inner)[0]
            plan.files.append((name, alias, required, many, None if required else default, inner is bytes))
            body_order[alias] = position
            options = getattr(marker, "options", {}) or {}
            docs = {key: options[key] for key in ("title", "description") if options.get(key)}
            if docs:
                plan.file_docs[alias] = docs
            plan.names.append(name)
            continue
        if source in ("query", "header", "cookie", "form") and marker is not None and _is_group_model(hint):
            # FastAPI's parameter models: the model's fields are the parameters
            options = getattr(marker, "options", {}) or {}
            model = unwrap_optional(hint)
            groups.append(ModelGroup(source, name, model, options.get("convert_underscores", True),
                                     optional=is_union(strip_annotated(hint)), default=marker.default))
            if source == "form":
                body_order.update(dict.fromkeys(groups[-1].own_names, position))
            plan.names.append(name)
            continue
        if source == "body":
            if isinstance(getattr(marker, "marker", marker), Body) and marker.options.get("embed"):
                embed = True
            bodies.append((name, hint, _field(hint, marker, param.default, name, "body")[1]))
            plan.names.append(name)
            continue
        field = _field(hint, marker, param.default, name, source)
        by_source[source].append((name, field[0], field[1]))
        if source == "form":
            body_order[getattr(field[1], "alias", None) or name] = position
        plan.names.append(name)
    for source in _SOURCES:
        if by_source[source]:
            try:
                plan.sources.append(_Source(source, where, by_source[source],
                                            path_first=allow_path and source == "query"))
            except _SCHEMA_ERRORS as exc:
                raise TypeError(f"unsupported parameter type ({where}, parameter "
                                f"{_culprit(by_source[source])!r}): {exc}") from None
    plan.sources.extend(groups)  # type: ignore[arg-type]  # a ModelGroup plays a _Source
    if plan.files and len(body_order) > len(plan.files):
        plan.body_order = body_order
    if bodies:
        _compile_body(plan, bodies, embed or len(bodies) > 1, where, body_model)
    plan.native = _native_plan(plan)
    return plan


def _native_plan(plan: TypedPlan) -> Optional[_native.FastParams]:
    """The fast plans of a route whose typed parameters are all path and query ones, as one
    native plan (docs/internals/typed-api.md#fast-path): per request it converts from the raw
    query string without building `request.query_params`; when it declines, `fill` goes source
    by source as before."""
    if plan.body_mode or plan.files or not plan.sources:
        return None
    entries = []
    for src in plan.sources:
        if src.fast_entries is None:
            return None
        entries.extend(src.fast_entries)
    return _native.FastParams(entries, MAX_QUERY_PAIRS)


def _culprit(entries: List[Tuple[str, Any, Any]]) -> str:
    """The first parameter whose type pydantic cannot handle on its own."""
    for name, hint, field in entries:
        try:
            _model("probe", "probe", {"f0": (hint, field)})
        except _SCHEMA_ERRORS:
            return name
    return ", ".join(name for name, _, _ in entries)


def _compile_body(plan: TypedPlan, bodies: List[Tuple[str, Any, Any]], embed: bool, where: str,
                  body_model: Optional[str] = None) -> None:
    plan.body_names = [b[0] for b in bodies]
    plan.body_aliases = [field.alias or name for name, _, field in bodies]
    try:
        if embed:
            fields = {f"f{i}": (hint, field) for i, (_, hint, field) in enumerate(bodies)}
            plan.body_mode = "embed"
            plan.body_adapter = TypeAdapter(_model(where, "body", fields, body_model))
            plan.body_required = any(f.is_required() for _, _, f in bodies)
        else:
            _, hint, field = bodies[0]
            plan.body_mode = "single"
            plan.body_adapter = TypeAdapter(Annotated[hint, field] if field.metadata else hint)
            plan.body_required = field.is_required()
            plan.body_default = None if field.is_required() else field.get_default(call_default_factory=True)
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            plan.body_docs = {k: v for k, v in (("examples", field.examples),
                                                ("openapi_examples", extra.get(OPENAPI_EXAMPLES))) if v}
    except _SCHEMA_ERRORS as exc:
        raise TypeError(f"unsupported body type ({where}, parameter {plan.body_names[0]!r}): {exc}") from None


def header_list(headers: Any, name: str) -> List[Any]:
    """A `list[...]` header parameter's values: one per header line, as FastAPI reads them
    (`X-Tags: a, b` is the one value `"a, b"`; two `X-Tags` lines are two values)."""
    getlist = getattr(headers, "getlist", None)
    if getlist is not None:
        return list(getlist(name))
    got = headers.get(name)
    return [] if got is None else [got]
