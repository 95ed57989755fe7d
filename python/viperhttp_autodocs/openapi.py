"""The OpenAPI 3.1 document of an app (docs/internals/api-docs.md).

Original-style routes contribute what their `query={...}` spec, path placeholders and docs
metadata say; typed routes contribute the JSON Schemas pydantic generates from the compiled
plan (`viperhttp.typed`): parameter schemas with their constraints, request bodies, response
models, and every model once under `components.schemas`.
"""
from __future__ import annotations

import copy
import inspect
import re
from typing import Any, Dict, List, Optional, Tuple

from viperhttp.exceptions import _reason_phrase
from viperhttp.api_route import path_format
from viperhttp.routing import PATH_PLACEHOLDER
from viperhttp.stream_routes import StreamPlan
from viperhttp.params import HIDDEN, OPENAPI_EXAMPLES
from viperhttp.responses import JSONResponse

from .response_schemas import annotated_schema, class_status, titled

__all__ = ["generate_openapi", "operation_id", "json_safe"]

REF = "#/components/schemas/{model}"
#: FastAPI's descriptions of a `responses=` key that is a range or `default`
#: (`fastapi.openapi.utils.status_code_ranges`)
STATUS_RANGES = {"1XX": "Information", "2XX": "Success", "3XX": "Redirection", "4XX": "Client Error",
                 "5XX": "Server Error", "DEFAULT": "Default Response"}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
_TYPE_SCHEMAS = {
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "float"},
    "bool": {"type": "boolean"},
}
_CAST_SCHEMAS = {int: _TYPE_SCHEMAS["int"], float: _TYPE_SCHEMAS["float"], bool: _TYPE_SCHEMAS["bool"]}

VALIDATION_SCHEMAS = {
    "ValidationError": {
        "title": "ValidationError", "type": "object", "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"title": "Location", "type": "array",
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
            # what the 422 body carries besides (FastAPI's schema since pydantic 2)
            "input": {"title": "Input"},
            "ctx": {"title": "Context", "type": "object"},
        },
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError", "type": "object",
        "properties": {"detail": {"title": "Detail", "type": "array",
                                  "items": {"$ref": "#/components/schemas/ValidationError"}}},
    },
}


def json_safe(value: Any) -> Any:
    """bytes → UTF-8 text, tuples/sets → lists, unknown objects → `str()` (the original's rule)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return str(value)


def operation_id(method: str, path: str) -> str:
    """`<method lower>_<path>`: slashes → `_`, braces removed, `:`/`-` → `_`, `/` → `root`."""
    if path == "/":
        return f"{method.lower()}_root"
    body = path.replace("{", "").replace("}", "").replace("/", "_").replace(":", "_").replace("-", "_")
    return re.sub(r"_+", "_", f"{method.lower()}_{body}").rstrip("_")


def _default_tags(path: str) -> List[str]:
    first = path.strip("/").split("/")[0] if path.strip("/") else ""
    if not first:
        return ["root"]
    return ["default"] if first.startswith("{") else [first]


def _docstring(handler: Any) -> Tuple[str, str]:
    doc = inspect.getdoc(handler) or ""
    lines = doc.splitlines()
    if not lines:
        return "", ""
    return lines[0].strip(), "\n".join(line.strip() for line in lines[1:]).strip()


_GENERATOR: List[Any] = []


def _schema_generator() -> Any:
    """pydantic's JSON-schema generator with FastAPI's one change: `bytes` is
    `{"type": "string", "contentMediaType": "application/octet-stream"}`, plus
    `"contentEncoding": "base64"` when the model's config sends it base64 (pydantic writes
    `format: binary` / `base64url`). Made on first use: pydantic is imported only by apps with
    typed routes."""
    if not _GENERATOR:
        from pydantic.json_schema import GenerateJsonSchema

        class _FastAPISchema(GenerateJsonSchema):
            def bytes_schema(self, schema: Any) -> Dict[str, Any]:
                out: Dict[str, Any] = {"type": "string", "contentMediaType": "application/octet-stream"}
                mode = self._config.ser_json_bytes if self.mode == "serialization" else self._config.val_json_bytes
                if mode == "base64":
                    out["contentEncoding"] = "base64"
                self.update_with_validations(out, schema, self.ValidationsMapping.bytes)
                return out

        _GENERATOR.append(_FastAPISchema)
    return _GENERATOR[0]


class _Components:
    """`components.schemas` of the document. Body and response models are generated in one
    pydantic pass over the whole app, as FastAPI does: two models of the same name from
    different modules get distinct names (pydantic's `module__Name`) instead of one
    overwriting the other, and a model whose validation and serialization schemas differ
    (defaults, computed fields) is listed as `Name-Input` and `Name-Output`. So the document
    is built twice: the first build only records which (model, mode) pairs appear
    (`model()` returns a placeholder), then `resolve()` generates them all at once and the
    second build uses the results."""

    def __init__(self, separate: bool = True) -> None:
        #: FastAPI's `separate_input_output_schemas`: False makes every schema the validation one
        #: (one `Item`, no `Item-Input` / `Item-Output`)
        self.separate = separate
        self.schemas: Dict[str, Any] = {}
        #: `viperhttp.security` objects the routes depend on, by scheme name
        self.security: Dict[str, Any] = {}
        self._inputs: Dict[Tuple[int, str], Tuple[Any, str, Any]] = {}
        self._resolved: Optional[Dict[Tuple[int, str], Dict[str, Any]]] = None
        self._param_defs: Dict[str, Any] = {}
        #: plans of the declared routes documented without being served (callbacks, webhooks),
        #: made once for both builds
        self.plans: Dict[int, Any] = {}

    def plan(self, route: Any) -> Any:
        plan = self.plans.get(id(route))
        if plan is None:
            from viperhttp.routing import RoutePlan

            plan = self.plans[id(route)] = (route, RoutePlan(route))
        return plan[1]

    def take(self, schema: Dict[str, Any]) -> Dict[str, Any]:
        """A parameter model's schema (its fields become parameters, the model itself is not a
        component); what its fields reference (an enum) goes to components."""
        defs = schema.pop("$defs", None)
        if defs:
            self._param_defs.update(defs)
        return schema

    def model(self, adapter: Any, mode: str, key: Any = None) -> Dict[str, Any]:
        """A body (`validation`) or response (`serialization`) schema; a named model goes to
        components and is referenced. `key`: what identifies the type when `adapter` is made
        per call (a declared response's model)."""
        if not self.separate:
            mode = "validation"
        ident = (id(key if key is not None else adapter), mode)
        if self._resolved is None:
            self._inputs.setdefault(ident, (key, mode, adapter))  # `key` kept alive: ids stay unique
            return {}
        return dict(self._resolved[ident])

    def resolve(self) -> None:
        """Generate every recorded schema in one pass; forget what the first build collected."""
        resolved: Dict[Tuple[int, str], Dict[str, Any]] = {}
        defs: Dict[str, Any] = {}
        if self._inputs:
            from pydantic import TypeAdapter  # loaded only when a route has a body or response model

            inputs = [(ident, mode, adapter) for ident, (_key, mode, adapter) in self._inputs.items()]
            mapping, generated = TypeAdapter.json_schemas(inputs, ref_template=REF,
                                                            schema_generator=_schema_generator())
            resolved = {ident: mapping[(ident, mode)] for ident, mode, _ in inputs}
            defs = generated.get("$defs", {})
            for schema in defs.values():
                # a field of an embedded body (`Body(embed=True, openapi_examples=...)`, or one
                # of several bodies): FastAPI shows named examples only for a single body, the
                # marker is never the property's
                for prop in (schema.get("properties") or {}).values():
                    if isinstance(prop, dict):
                        prop.pop(OPENAPI_EXAMPLES, None)
        self.schemas = {**self._param_defs, **defs}
        self.security = {}
        self._param_defs = {}
        self._resolved = resolved


def _param_schemas(src: Any, components: _Components) -> Dict[str, Tuple[Dict[str, Any], bool]]:
    """alias → (schema, required) for one parameter-source model of a typed plan."""
    schema = components.take(src.model.model_json_schema(ref_template=REF, schema_generator=_schema_generator()))
    required = set(schema.get("required", ()))
    wire = {key: name for name, key, _ in getattr(src, "keys", ())}  # a parameter model's header names
    return {wire.get(alias, alias): (prop, alias in required) for alias, prop in schema.get("properties", {}).items()
            if not prop.get(HIDDEN)}  # `Query(include_in_schema=False)`


def _parameter(name: str, where: str, schema: Dict[str, Any], required: bool) -> Dict[str, Any]:
    schema = dict(schema)
    param: Dict[str, Any] = {"name": name, "in": where, "required": required or where == "path"}
    for key in ("description", "deprecated"):
        if key in schema:
            param[key] = schema[key]  # in the schema too, as FastAPI writes it
    param["schema"] = schema
    if OPENAPI_EXAMPLES in schema:  # `Query(openapi_examples=...)`: the parameter's, not the schema's
        param["examples"] = schema.pop(OPENAPI_EXAMPLES)
    return param


def _operation(plan: Any, path: str, components: _Components) -> Dict[str, Any]:
    meta = plan.meta
    docs = dict(getattr(plan.handler, "__vhttp_docs__", None) or {})
    docs.update(meta.get("docs") or {})
    method = plan.method
    op: Dict[str, Any] = {}
    summary, description = _docstring(plan.handler)
    summary = docs.get("summary") or summary
    description = docs.get("description") or description
    tags = docs.get("tags")
    op["tags"] = [tags] if isinstance(tags, str) else list(tags) if tags else _default_tags(path)
    if summary:
        op["summary"] = summary
    if description:
        op["description"] = description
    # FastAPI's `generate_unique_id_function`, where one applies, else the device's rule
    custom = plan.options.get("generate_unique_id_function") is not None
    op["operationId"] = docs.get("operation_id") or (plan.unique_id if custom else operation_id(method, plan.path))
    if docs.get("deprecated"):
        op["deprecated"] = True

    params: List[Dict[str, Any]] = []
    typed = plan.typed
    typed_by_source: Dict[str, Dict[str, Tuple[Dict[str, Any], bool]]] = {}
    # The route's own typed parameters, then its dependencies' (FastAPI lists both); a
    # parameter model (typed_groups) adds to its source's.
    for plan_typed in [typed] + [node.typed for node in _dependency_nodes(plan.deps)]:
        if plan_typed is None:
            continue
        for src in plan_typed.sources:
            found = _param_schemas(src, components)
            known = typed_by_source.setdefault(src.source, {})
            known.update({k: v for k, v in found.items() if k not in known})
    typed_path = typed_by_source.get("path", {})
    for name, kind in PATH_PLACEHOLDER.findall(plan.path):
        if name.startswith("$"):
            continue  # a callback's runtime expression (`{$request.body.id}`), not a parameter
        schema = typed_path.get(name, (_TYPE_SCHEMAS.get(kind, {"type": "string"}), True))[0]
        params.append(_parameter(name, "path", schema, True))
    for entry in plan.query:  # the original's query={...} spec
        schema = dict(_CAST_SCHEMAS.get(entry.cast, {"type": "string"}))
        if not entry.required and entry.default is not None:
            schema["default"] = json_safe(entry.default)
        params.append(_parameter(entry.name, "query", schema, entry.required))
    for source in ("query", "header", "cookie"):
        for alias, (schema, required) in typed_by_source.get(source, {}).items():
            params.append(_parameter(alias, source, schema, required))
    if params:
        op["parameters"] = params

    body = _request_body(plan, typed, typed_by_source.get("form"), components, docs)
    if body is not None:
        op["requestBody"] = body
    op["responses"] = _responses(plan, docs, components, validates=bool(params) or body is not None)
    callbacks = plan.options.get("callbacks")
    if callbacks:
        # FastAPI's form: {callback name: {its path expression: {method: operation}}}
        op["callbacks"] = {route.name: {route.path: {route.method.lower(): _operation(
            components.plan(route), route.path, components)}} for route in callbacks if route.method in _METHODS}
    deps = [key for key in (meta.get("deps") or {}) if not key.startswith("@")]
    if typed is not None:
        deps += [key for key in typed.deps_spec if key not in deps]
    if deps:
        op["x-dependencies"] = deps
    security = _security(plan.deps, components)
    if security:
        op["security"] = security
    extra = plan.options.get("openapi_extra")
    if extra:
        _merge(op, copy.deepcopy(extra))
    return op


def _dependency_nodes(nodes: Any) -> List[Any]:
    """Every node of a dependency tree, in resolution order (sub-dependencies first)."""
    out: List[Any] = []

    def walk(node: Any) -> None:
        for child in node.children:
            walk(child)
        out.append(node)

    for node in nodes or ():
        walk(node)
    return out


def _security(nodes: Any, components: _Components) -> List[Dict[str, List[str]]]:
    """`[{scheme name: [scopes]}]` for each `viperhttp.security` object in the dependency tree,
    each recorded for `components.securitySchemes` (FastAPI's document): a scheme used more than
    once is listed once, with the scopes of all its uses (those its `Security(..., scopes=)`
    chain requires), in order."""
    merged: Dict[str, List[str]] = {}
    for node in _dependency_nodes(nodes):
        call = node.call
        if callable(getattr(call, "openapi_scheme", None)) and hasattr(call, "scheme_name"):
            components.security[call.scheme_name] = call.openapi_scheme()
            scopes = merged.setdefault(call.scheme_name, [])
            scopes.extend(s for s in node.scopes if s not in scopes)
    return [{name: scopes} for name, scopes in merged.items()]


def _request_body(plan: Any, typed: Any, form: Any, components: _Components,
                  docs: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    if docs.get("request_body"):
        return dict(docs["request_body"])
    if typed is not None and typed.body_mode:
        schema = components.model(typed.body_adapter, "validation")
        if typed.body_mode == "single" and "title" not in schema:  # else `Body(title=...)`'s
            # FastAPI titles a body that is not a model (`images: list[Image]`) after its name
            schema = titled(schema, typed.body_aliases[0])
        media: Dict[str, Any] = {"schema": schema}
        # FastAPI's places: `Body(examples=[...])` in the schema, `openapi_examples` (named
        # examples, one menu entry each in /docs) beside it
        if "examples" in typed.body_docs:
            media["schema"] = {**schema, "examples": typed.body_docs["examples"]}
        if "openapi_examples" in typed.body_docs:
            media["examples"] = typed.body_docs["openapi_examples"]
        return {"required": typed.body_required, "content": {"application/json": media}}
    files = typed.files if typed is not None else ()
    if form or files:
        props: Dict[str, Any] = {}
        required: List[str] = []
        for alias, (schema, req) in (form or {}).items():
            props[alias] = {k: v for k, v in schema.items() if k != OPENAPI_EXAMPLES}
            if req:
                required.append(alias)
        for _, alias, req, many, _, _ in files:
            binary = {"type": "string", "contentMediaType": "application/octet-stream"}
            props[alias] = {"type": "array", "items": binary} if many else binary
            props[alias].update(typed.file_docs.get(alias, {}))
            if req:
                required.append(alias)
        media = "multipart/form-data" if files else "application/x-www-form-urlencoded"
        schema = {"type": "object", "properties": props}
        if required:
            schema["required"] = required
        return {"required": bool(required), "content": {media: {"schema": schema}}}
    if plan.method in ("POST", "PUT", "PATCH"):
        op_id = operation_id(plan.method, plan.path)
        if op_id.startswith("post_json") or plan.path.endswith("/json"):
            return {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    return None


def _body_allowed(status: str) -> bool:
    code = int(status)
    return code >= 200 and code not in (204, 205, 304)


def _responses(plan: Any, docs: Dict[str, Any], components: _Components, validates: bool) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    response = plan.response
    rclass = response.response_class if response is not None else None
    explicit = str(response.status_code) if response is not None and response.status_code else None
    # FastAPI: without `status_code=`, the class's own default (`RedirectResponse`: 307, what
    # the route answers) is the documented status
    status = explicit or class_status(rclass)
    description = plan.options.get("response_description", "Successful Response")
    declared = docs.get("responses") or {}
    # FastAPI's `route_response_media_type`: the response class's (None for a class without
    # one: `Response`, `StreamingResponse`, `FileResponse`), JSON's without a class; a declared
    # `"model"` is under it, or under JSON's
    own_media = "application/json" if rclass is None else getattr(rclass, "_default_type", None)
    own_media = own_media.split(";")[0] if own_media else None
    media = own_media or "application/json"
    # FastAPI: a JSON class's answer is the model's schema or any JSON, another class's (HTML,
    # text) a string, a class without a media type's nothing
    json_class = rclass is None or (isinstance(rclass, type) and issubclass(rclass, JSONResponse))
    # FastAPI's order: the route's own answer first, `responses={...}` merged into it
    ok: Dict[str, Any] = {"description": description}
    if not _body_allowed(explicit or "200"):
        pass  # FastAPI's rule (on `status_code=`): a 1xx, 204, 205 or 304 answer declares no content
    elif isinstance(response, StreamPlan):
        content = _stream_content(response, components)
        if content:
            ok["content"] = content
    elif response is not None and response.adapter is not None:
        # the model is among the components whatever the class, as in FastAPI
        schema = titled(components.model(response.adapter, "serialization"), f"Response_{plan.unique_id}")
        if own_media is not None:
            ok["content"] = {own_media: {"schema": schema if json_class else {"type": "string"}}}
    elif response is not None and response.response_class is not None:
        if own_media is not None:
            ok["content"] = {own_media: {"schema": annotated_schema(plan, components) if json_class else {"type": "string"}}}
    else:
        ok["content"] = {"application/json": {"schema": annotated_schema(plan, components)}}
    out[status] = ok
    for code, value in declared.items():
        # deep-merged as FastAPI does: `responses={200: {"content": {"image/png": {}}}}` adds
        # a media type beside the response model's JSON schema; a declared entry without a
        # description keeps the route's own
        key = str(code).upper()
        key = "default" if key == "DEFAULT" else key
        target = out.setdefault(key, {})
        _merge(target, _declared_response(key, value, components, target.get("description"),
                                          f"Response_{key}_{plan.unique_id}", media))
    # FastAPI's rule: only an operation with parameters or a body can answer 422, and a
    # declared `4XX` / `default` answer covers it.
    if "422" not in out and validates and "4XX" not in out and "default" not in out:
        if plan.typed is not None:
            components.schemas.update(VALIDATION_SCHEMAS)
            out["422"] = {"description": "Validation Error", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}
        else:
            out["422"] = {"description": "Validation Error"}
    return out


def _stream_content(plan: StreamPlan, components: _Components) -> Optional[Dict[str, Any]]:
    """A path operation that yields (viperhttp.stream_routes), described as FastAPI does: the
    schema of one item (`itemSchema`, OpenAPI 3.2's) for JSON Lines and SSE."""
    item = components.model(plan.adapter, "serialization") if plan.adapter is not None else None
    if plan.kind == "jsonl":
        return {"application/jsonl": {"itemSchema": item if item is not None else {}}}
    if plan.kind == "sse":
        data: Dict[str, Any] = {"type": "string"}
        event: Dict[str, Any] = {"type": "object", "properties": {
            "data": data, "event": {"type": "string"}, "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0}}}
        if item is not None:
            data.update({"contentMediaType": "application/json", "contentSchema": item})
            event["required"] = ["data"]
        return {"text/event-stream": {"itemSchema": event}}
    media = getattr(plan.response_class, "_default_type", None)
    return {media.split(";")[0]: {"schema": {"type": "string"}}} if media else None


def _declared_response(status: str, value: Any, components: _Components,
                       default_description: Optional[str], name: str, media: str = "application/json") -> Dict[str, Any]:
    """One entry of a route's `responses={...}`, as FastAPI renders it: `"model": M` becomes
    the JSON schema of `M` (a `$ref` to components) under the route's media type, and a missing
    description is the status's phrase, FastAPI's for a range or `default` (`STATUS_RANGES`)."""
    if not isinstance(value, dict):
        return {"description": str(value)}
    entry = dict(value)
    model = entry.pop("model", None)
    if model is not None:
        from pydantic import TypeAdapter  # only for a route that declares a response model

        content = dict(entry.get("content") or {})
        described = dict(content.get(media) or {})
        described["schema"] = titled(components.model(TypeAdapter(model), "serialization", key=model), name)
        content[media] = described
        entry["content"] = content
    if not entry.get("description"):  # FastAPI's `or`: an empty description is none
        entry["description"] = default_description or STATUS_RANGES.get(status.upper()) or _reason_phrase(
            int(status) if status.isdigit() else None, "Additional Response")
    return entry


def _merge(into: Dict[str, Any], extra: Dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _ws_entry(plan: Any) -> Dict[str, Any]:
    docs = dict(getattr(plan.handler, "__vhttp_docs__", None) or {})
    docs.update(plan.meta.get("docs") or {})
    summary, description = _docstring(plan.handler)
    tags = docs.get("tags")
    return {"path": path_format(plan.path),
            "summary": docs.get("summary") or summary or "",
            "description": docs.get("description") or description or "",
            "tags": [tags] if isinstance(tags, str) else list(tags) if tags else _default_tags(plan.path),
            "operationId": "ws_" + operation_id("x", plan.path)[2:],
            "protocols": list(plan.meta.get("protocols") or [])}


def _components_out(components: _Components) -> Dict[str, Any]:
    out: Dict[str, Any] = {"schemas": dict(sorted(components.schemas.items()))}
    if components.security:
        out["securitySchemes"] = dict(sorted(components.security.items()))
    return out


def _webhooks(routes: Any, components: _Components) -> Dict[str, Dict[str, Any]]:
    """FastAPI's `app.webhooks` routes: documented by name (`path_format`), never served."""
    out: Dict[str, Dict[str, Any]] = {}
    for route in routes:
        if route.method in _METHODS and route.include_in_schema:
            op = _operation(components.plan(route), route.path, components)
            out.setdefault(route.path_format, {})[route.method.lower()] = op
    return out


def _paths(app: Any, exclude: Tuple[str, ...], include_websocket: bool,
           components: _Components) -> Tuple[Dict[str, Dict[str, Any]], List[Dict[str, Any]]]:
    paths: Dict[str, Dict[str, Any]] = {}
    websockets: List[Dict[str, Any]] = []
    for plan in getattr(app, "_routes_by_id", ()):
        if plan is None or plan.path in exclude:
            continue
        docs = plan.meta.get("docs") or {}
        handler_docs = getattr(plan.handler, "__vhttp_docs__", None) or {}
        if docs.get("include_in_schema", handler_docs.get("include_in_schema", True)) is False:
            continue
        if plan.method == "WS":
            if include_websocket:
                websockets.append(_ws_entry(plan))
            continue
        if plan.method not in _METHODS:
            continue
        # FastAPI's path (`/notes/` for a "/" route under a prefix); ids and tags keep the
        # device generator's rule from the served path
        key = path_format(plan.document_path)
        paths.setdefault(key, {})[plan.method.lower()] = _operation(plan, plan.path, components)
    return paths, websockets


def generate_openapi(app: Any, title: str = "ViperHTTP API", version: str = "1.0.0", description: str = "",
                     servers: Any = None, include_websocket: bool = True,
                     exclude: Tuple[str, ...] = (), webhooks: Any = None) -> Dict[str, Any]:
    """The OpenAPI 3.1 document of `app`'s registered routes (`exclude`: docs routes' paths);
    `webhooks`: the declared routes of its `webhooks` section, by default `app.webhooks.routes`."""
    if webhooks is None:
        webhooks = getattr(getattr(app, "webhooks", None), "routes", ())
    components = _Components(getattr(app, "_separate_io_schemas", True))
    _paths(app, exclude, include_websocket, components)  # records the models (_Components)
    _webhooks(webhooks, components)
    components.resolve()
    paths, websockets = _paths(app, exclude, include_websocket, components)
    hooks = _webhooks(webhooks, components)
    extra = getattr(app, "_openapi_extra", None) or {}
    info: Dict[str, Any] = {"title": title}
    info.update(extra.get("info") or {})
    info["version"] = version
    if description:
        info["description"] = description
    doc: Dict[str, Any] = {"openapi": "3.1.0", "info": info, "paths": paths,
                           "components": _components_out(components),
                           "x-viperhttp": {"generator": "viperhttp_autodocs", "route_count": len(paths)}}
    valid_servers = []
    for server in servers or ():
        if isinstance(server, str):
            valid_servers.append({"url": server})
        elif isinstance(server, dict) and "url" in server:
            valid_servers.append(dict(server))
    if valid_servers:
        doc["servers"] = valid_servers
    if extra.get("tags"):
        doc["tags"] = extra["tags"]  # FastAPI's `openapi_tags`: descriptions and order of the tags
    if hooks:
        doc["webhooks"] = hooks
    if websockets:
        doc["x-websocket"] = websockets
    return _without_nulls(json_safe(doc))


def _without_nulls(value: Any) -> Any:
    """FastAPI's document has no `null` member: it is encoded with `exclude_none=True`
    (`fastapi.openapi.utils.get_openapi`), which drops every key whose value is None at any
    depth, `"default": null` of an optional field or parameter included; a None in a list
    stays."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
