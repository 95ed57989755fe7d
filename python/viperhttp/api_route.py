"""FastAPI's `APIRoute` attributes on a declared route, and FastAPI's `generate_unique_id`
(docs/internals/api-docs.md, "Operation ids and callbacks").

A `generate_unique_id_function=` (app, router, `include_router`, route) is called with the
route as declared, the object `APIRouter().routes` lists: FastAPI's functions read `route.name`,
`route.tags`, `route.path_format`, `route.methods`. `APIRoute` is the class of that route and of
the registered route `app.routes` lists (app_routes.py), so FastAPI's `isinstance(route, APIRoute)`
holds for both; a subclass as `route_class=` is not supported (docs/index.md, "Coming from FastAPI").
"""
from __future__ import annotations

import inspect
import re
import typing
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set

__all__ = ["APIRoute", "generate_unique_id", "path_format", "route_name", "route_description",
           "inferred_response_model"]


def route_name(docs: Dict[str, Any], handler: Callable[..., Any]) -> str:
    """A route's name: its `name=`, else Starlette's `get_name` of the handler (its `__name__`,
    even an empty one; its class's name when it has none, as a callable instance). The one rule
    behind `route.name` (HTTP and WebSocket) and `app.url_path_for`."""
    given = docs.get("name")
    if given is not None:
        return str(given)
    return str(getattr(handler, "__name__", type(handler).__name__))


def path_format(path: str) -> str:
    """FastAPI's `path_format`: the path with `{name:kind}` placeholders as `{name}`, as the
    OpenAPI document lists a path."""
    from .routing import PATH_PLACEHOLDER

    return PATH_PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}", path)


def route_description(given: Optional[str], handler: Any) -> str:
    """FastAPI's `APIRoute.description`: `description=`, else the handler's docstring
    (`inspect.cleandoc`), up to a form feed, stripped; `""` without either. The served OpenAPI
    document keeps the device generator's rule (docs/internals/api-docs.md)."""
    text = given or inspect.cleandoc(getattr(handler, "__doc__", None) or "")
    return text.split("\f")[0].strip()


def inferred_response_model(handler: Any) -> Any:
    """FastAPI's `APIRoute.response_model` of a route that gives no `response_model=`: the
    return annotation, unless there is none (`-> None` too), it is a `Response` class, or the
    handler is a generator annotated with an iterable (its items are streamed). The route's
    responses keep ViperHTTP's rule (only a model annotation validates, docs/internals/typed-api.md)."""
    from .responses import Response
    from .signature import return_hint
    from .stream_routes import ITERABLES, is_stream_handler

    hint = return_hint(handler)
    if hint is None or hint is type(None) or isinstance(hint, str):
        return None
    if isinstance(hint, type) and issubclass(hint, Response):
        return None
    if is_stream_handler(handler) and typing.get_origin(hint) in ITERABLES:
        return None
    return hint


def generate_unique_id(route: Any) -> str:
    """FastAPI's default unique id: `{name}{path_format}` with non-word characters as `_`, then
    `_{method}`. Here it names what FastAPI names after it (a list response's schema `title`);
    the default operationId stays the device generator's."""
    unique = re.sub(r"\W", "_", f"{route.name}{route.path_format}")
    return f"{unique}_{sorted(route.methods)[0].lower()}"


class APIRoute:
    """FastAPI's `APIRoute` names, read-only, of a declared route (`RouteDef`: one method per
    route, `methods` has one) and of a registered one (app_routes.py: writable OpenAPI fields)."""

    __slots__ = ()

    if TYPE_CHECKING:  # what `RouteDef` and app_routes.py's `AppRoute` have
        method: str
        path: str
        handler: Callable[..., Any]
        docs: Dict[str, Any]
        options: Dict[str, Any]

    @property
    def endpoint(self) -> Callable[..., Any]:
        return self.handler

    @property
    def name(self) -> str:
        """`name=`, else the handler's name (`route_name`)."""
        return route_name(self.docs, self.handler)

    @property
    def methods(self) -> Set[str]:
        return {self.method}

    @property
    def path_format(self) -> str:
        """The path with `{name:kind}` placeholders as `{name}`."""
        return path_format(self.path)

    @property
    def tags(self) -> List[str]:
        return list(self.docs.get("tags") or [])

    @property
    def summary(self) -> Optional[str]:
        return self.docs.get("summary")

    @property
    def description(self) -> str:
        """`description=`, else the docstring (`route_description`)."""
        return route_description(self.docs.get("description"), self.handler)

    @property
    def operation_id(self) -> Optional[str]:
        return self.docs.get("operation_id")

    @property
    def deprecated(self) -> Optional[bool]:
        return self.docs.get("deprecated")

    @property
    def include_in_schema(self) -> bool:
        return bool(self.docs.get("include_in_schema", True))

    @property
    def responses(self) -> Dict[Any, Any]:
        return dict(self.docs.get("responses") or {})

    @property
    def response_model(self) -> Any:
        """`response_model=` (None too), else what FastAPI infers (`inferred_response_model`)."""
        if "response_model" in self.options:
            return self.options["response_model"]
        return inferred_response_model(self.handler)

    @property
    def status_code(self) -> Optional[int]:
        return self.options.get("status_code")

    @property
    def callbacks(self) -> Optional[List[Any]]:
        return self.options.get("callbacks")

    @property
    def unique_id(self) -> str:
        """`generate_unique_id_function(route)` when one applies, else FastAPI's default."""
        function = self.options.get("generate_unique_id_function") or generate_unique_id
        return str(function(self))
