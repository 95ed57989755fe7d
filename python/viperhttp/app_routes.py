"""`app.routes`: the original's method and FastAPI's list in one object
(docs/internals/framework.md, "The route list").

Called, `app.routes()` is the device framework's metadata rows (pinned: the OpenAPI generator,
the OTA routes and apps written for the device read them). Used as a sequence (`for route in
app.routes`, `len`, `[i]`, `in`), it is FastAPI's list of route objects: an `APIRoute` per
decorator call (the methods of `api_route(methods=[...])` in one `methods` set, as FastAPI
registers them), an `APIWebSocketRoute` per WebSocket route, a `Mount` per static mount. The
objects are made when the list is read, never per request; setting `operation_id`, `summary`,
`description`, `tags`, `include_in_schema` or `deprecated` on an `APIRoute` writes the route's
docs metadata, which the OpenAPI document is built from (its cache is invalidated).
"""
from __future__ import annotations

from typing import (TYPE_CHECKING, Any, Callable, Dict, Generic, Iterator, List, Optional, Sequence, Set, TypeVar, Union,
                    overload)

from .api_route import APIRoute, path_format, route_name
from .routing import check_doc_kwarg, check_tags, meta_row

if TYPE_CHECKING:
    from .routing import RoutePlan

__all__ = ["RouteList", "AppRoute", "APIWebSocketRoute", "Mount"]


_Get = TypeVar("_Get")
_Set = TypeVar("_Set")


class _Writable(Generic[_Get, _Set]):
    """An OpenAPI field FastAPI users set on a registered route: read by `APIRoute`'s own getter
    of the same name, set through `check(name, value)` into the route's docs metadata (None
    removes the field, as if the decorator had not given it)."""

    def __init__(self, check: Callable[[str, Any], Any]) -> None:
        self.check = check
        self.key = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name
        self.read: property = getattr(APIRoute, name)

    @overload
    def __get__(self, route: None, owner: type) -> "_Writable[_Get, _Set]": ...
    @overload
    def __get__(self, route: "AppRoute", owner: type) -> _Get: ...

    def __get__(self, route: Optional["AppRoute"], owner: type) -> Any:
        return self if route is None else self.read.__get__(route, owner)

    def __set__(self, route: "AppRoute", value: _Set) -> None:
        route._write(self.key, self.check(self.key, value))


def _checked_tags(key: str, value: Any) -> Optional[List[str]]:
    return check_tags(value) or None  # no tags: no `tags` field


class AppRoute(APIRoute):
    """A registered HTTP route as FastAPI's `APIRoute`: the plans of one decorator call (one per
    method). Reads come from the first plan's metadata; writes go to every plan's."""

    __slots__ = ("plans", "_app", "method", "path", "handler", "docs", "options")

    def __init__(self, app: Any, plans: List["RoutePlan"]) -> None:
        first = plans[0]
        self.plans = plans
        self._app = app
        self.method = first.method
        self.path = first.path
        self.handler = first.handler
        self.docs: Dict[str, Any] = first.meta.get("docs") or {}
        self.options = first.options

    @property
    def methods(self) -> Set[str]:  # FastAPI's set of all its methods
        return {plan.method for plan in self.plans}

    def _write(self, key: str, value: Any) -> None:
        """Sets (None: removes) `key` in the docs metadata of each plan, the dict `app.routes()`
        rows and the OpenAPI generator read. A row that gains or loses its `docs` is made again
        by `meta_row`, so it keeps the original's shape: `docs` before `handler`, none when
        empty (the pinned rows, docs/internals/framework.md#routing)."""
        for plan in self.plans:
            docs = plan.meta.get("docs")
            if docs and (value is not None or len(docs) > 1 or key not in docs):
                if value is None:  # still not empty after this
                    docs.pop(key, None)
                else:
                    docs[key] = value
                continue
            new_docs = {} if value is None else {**(docs or {}), key: value}
            plan.meta = meta_row(**{**plan.meta, "docs": new_docs})  # one assignment: readers see either row
        self.docs = self.plans[0].meta.get("docs") or {}
        self._app._routes_revision += 1  # the served document is rebuilt (viperhttp_autodocs)

    # the OpenAPI fields FastAPI users set on a registered route (the decorator's checks)
    operation_id: _Writable[Optional[str], Optional[str]] = _Writable(check_doc_kwarg)
    summary: _Writable[Optional[str], Optional[str]] = _Writable(check_doc_kwarg)
    description: _Writable[str, Optional[str]] = _Writable(check_doc_kwarg)
    include_in_schema: _Writable[bool, Optional[bool]] = _Writable(check_doc_kwarg)
    deprecated: _Writable[Optional[bool], Optional[bool]] = _Writable(check_doc_kwarg)
    #: read, a copy: assign a new list (`route.tags = [...]`) to change them
    tags: _Writable[List[str], Any] = _Writable(_checked_tags)

    def __repr__(self) -> str:
        return f"APIRoute(path={self.path!r}, name={self.name!r}, methods={sorted(self.methods)!r})"


class APIWebSocketRoute:
    """A registered WebSocket route as FastAPI's `APIWebSocketRoute` (read-only)."""

    __slots__ = ("plan",)

    def __init__(self, plan: "RoutePlan") -> None:
        self.plan = plan

    @property
    def path(self) -> str:
        return self.plan.path

    @property
    def path_format(self) -> str:
        return path_format(self.plan.path)

    @property
    def endpoint(self) -> Callable[..., Any]:
        return self.plan.handler

    @property
    def name(self) -> str:
        return route_name(self.plan.meta.get("docs") or {}, self.plan.handler)

    def __repr__(self) -> str:
        return f"APIWebSocketRoute(path={self.path!r}, name={self.name!r})"


class Mount:
    """A static mount (`app.mount`, `app.mount_file`) as Starlette's `Mount` (read-only):
    `path` is the prefix, `name` its `name=` (None when not given)."""

    __slots__ = ("entry",)

    def __init__(self, entry: Dict[str, Any]) -> None:
        self.entry = entry

    @property
    def path(self) -> str:
        return str(self.entry["prefix"])

    @property
    def name(self) -> Optional[str]:
        return self.entry.get("name")

    @property
    def directory(self) -> str:
        """The directory (or, for `mount_file`, the file) served."""
        return str(self.entry["root"])

    def __repr__(self) -> str:
        return f"Mount(path={self.path!r}, name={self.name!r})"


RouteObject = Union[AppRoute, APIWebSocketRoute, Mount]


class RouteList(Sequence[RouteObject]):
    """What `app.routes` is (see the module docstring)."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self) -> List[Dict[str, Any]]:
        """The original's `app.routes()`: route metadata rows in registration order
        (docs/internals/framework.md#routing)."""
        return [dict(plan.meta) for plan in self.app._routes_by_id if plan is not None]

    def _objects(self) -> List[RouteObject]:
        """The route objects, made again only when a route or mount was added (or the app
        re-activated), so `app.routes[0] is app.routes[0]`."""
        app = self.app
        plans = app._routes_by_id
        stamp = (id(plans), len(plans), len(app._mounts))
        cached = app._route_objects
        if cached is not None and cached[0] == stamp:
            made: List[RouteObject] = cached[1]
            return made
        objects: List[RouteObject] = []
        current: Optional[AppRoute] = None
        for plan in plans:
            if plan is None:
                continue
            if plan.method == "WS":
                objects.append(APIWebSocketRoute(plan))
                current = None
            elif (current is not None and plan.group is not None and plan.group is current.plans[0].group
                  and plan.path == current.path):
                current.plans.append(plan)  # the next method of the same decorator call
            else:
                current = AppRoute(app, [plan])
                objects.append(current)
        objects.extend(Mount(entry) for entry in app._mounts)
        app._route_objects = (stamp, objects)
        return objects

    @overload
    def __getitem__(self, index: int) -> RouteObject: ...
    @overload
    def __getitem__(self, index: slice) -> List[RouteObject]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[RouteObject, List[RouteObject]]:
        return self._objects()[index]

    def __len__(self) -> int:
        return len(self._objects())

    def __iter__(self) -> Iterator[RouteObject]:
        return iter(self._objects())

    def __repr__(self) -> str:
        return repr(self._objects())
