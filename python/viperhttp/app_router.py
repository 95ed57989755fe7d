"""`app.router`: FastAPI's `app.router` as a view of the app's own routes
(docs/internals/framework.md, "app.router").

FastAPI code reaches the app's `APIRouter` for what the app itself also offers: `app.router.routes`,
`add_api_route`, `include_router`, the route decorators, `url_path_for`, the `on_startup` /
`on_shutdown` lists, `lifespan_context` and `dependency_overrides_provider`. Here the app keeps
its routes itself (the native route table), so `app.router` is a thin view that forwards each of
these to the app: a route added through it is the app's, with the app's `dependencies=` and
`default_response_class`. What it does not provide is an `AttributeError` that says so and why
(`route_class`: a custom `APIRoute` subclass; `redirect_slashes`: a trailing slash already
matches the same route), never a silent no-op.
"""
from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Callable, Dict, List

from .app_routes import RouteList
from .routing import RouteDecorators, RouteDef

__all__ = ["AppRouter"]

#: what `app.router` provides, named in the error for anything else
PROVIDED = ("routes", "add_api_route", "add_api_websocket_route", "api_route", "route", "get", "post",
            "put", "patch", "delete", "options", "head", "websocket", "include_router", "url_path_for",
            "on_startup", "on_shutdown", "lifespan_context", "dependency_overrides_provider")

#: why the FastAPI router attributes users touch most that are not provided are not
_WHY_NOT: Dict[str, str] = {
    "route_class": "a custom APIRoute subclass is not supported (routes are matched and run by the "
                   "native runtime); use middleware or a dependency for what such a class adds",
    "redirect_slashes": "a path with or without its trailing slash already matches the same route "
                        "(no redirect), and that cannot be switched off",
}


class AppRouter(RouteDecorators):
    """What `app.router` returns (see the module docstring)."""

    __slots__ = ("_app",)

    def __init__(self, app: Any) -> None:
        object.__setattr__(self, "_app", app)

    def _record(self, route: RouteDef) -> None:  # the decorators and add_api_route: the app's routes
        self._app._record(route)

    @property
    def routes(self) -> RouteList:
        """`app.routes` (FastAPI's `app.routes` is `app.router.routes`)."""
        routes: RouteList = self._app.routes
        return routes

    def route(self, *args: Any, methods: Any = None, **kwargs: Any) -> Callable[..., Any]:
        """Starlette's `router.route(path, methods=None, name=None, include_in_schema=True)`:
        those three may be positional, and no `methods` is GET (the app's own `route()` keeps
        the original's rule that they are named, docs/internals/framework.md)."""
        if len(args) > 4:
            raise TypeError("too many positional args")
        for key, value in zip(("methods", "name", "include_in_schema"), args[1:]):
            if key in kwargs or (key == "methods" and methods is not None):
                raise TypeError(f"route() got multiple values for argument {key!r}")
            if key == "methods":
                methods = value
            else:
                kwargs[key] = value
        return RouteDecorators.route(self, *args[:1], methods=methods or ("GET",), **kwargs)

    def api_route(self, *args: Any, methods: Any = None, **kwargs: Any) -> Callable[..., Any]:
        """FastAPI's `APIRouter.api_route(path, *, methods=None, ...)`: no `methods` is GET."""
        return RouteDecorators.route(self, *args, methods=methods or ("GET",), **kwargs)

    def include_router(self, *args: Any, **kwargs: Any) -> None:
        self._app.include_router(*args, **kwargs)

    def url_path_for(self, name: str, /, **path_params: Any) -> str:
        path: str = self._app.url_path_for(name, **path_params)
        return path

    @property
    def on_startup(self) -> List[Callable[..., Any]]:
        """The app's startup handlers, the list itself: appending adds one (as
        `app.add_event_handler("startup", f)`)."""
        handlers: List[Callable[..., Any]] = self._app._event_handlers["startup"]
        return handlers

    @property
    def on_shutdown(self) -> List[Callable[..., Any]]:
        handlers: List[Callable[..., Any]] = self._app._event_handlers["shutdown"]
        return handlers

    @property
    def lifespan_context(self) -> Callable[[Any], Any]:
        """The app's `lifespan=`; without one, FastAPI's default: a context manager running the
        startup handlers on entry and the shutdown handlers on exit."""
        lifespan: Any = self._app._lifespan
        return lifespan if lifespan is not None else _default_lifespan

    @lifespan_context.setter
    def lifespan_context(self, value: Any) -> None:
        """As `ViperHTTP(lifespan=...)`: used from the next start of the server."""
        if value is not None and not callable(value):
            raise TypeError("lifespan must be callable")
        # the default given back is no lifespan: the bridge runs the handlers once, itself
        self._app._lifespan = None if value is _default_lifespan else value

    @property
    def dependency_overrides_provider(self) -> Any:
        """The app, whose `dependency_overrides` apply (FastAPI's value)."""
        return self._app

    def __getattr__(self, name: str) -> Any:  # only for names not provided
        raise AttributeError(_not_provided(name))

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "lifespan_context":
            object.__setattr__(self, name, value)
            return
        raise AttributeError(_not_provided(name) if name not in PROVIDED else
                             f"app.router.{name} cannot be assigned (ViperHTTP's app.router is a view of the app)")

    def __repr__(self) -> str:
        return f"<app.router of {self._app!r}>"


def _not_provided(name: str) -> str:
    why = _WHY_NOT.get(name)
    head = f"ViperHTTP's app.router has no {name!r}"
    if why is not None:
        head += f": {why}"
    return (f"{head}. It is a view of the app's own routes providing {', '.join(PROVIDED)} "
            "(docs/internals/framework.md, \"app.router\")")


@contextlib.asynccontextmanager
async def _startup_and_shutdown(app: Any) -> AsyncIterator[None]:
    # a lifespan that wraps this one (`orig = app.router.lifespan_context`, then `async with
    # orig(app)` in the new one) runs the handlers here: the bridge must not run them again
    from viperhttp_bridge import _call_hooks  # the bridge's own way of running them

    app._handlers_in_lifespan = True
    await _call_hooks(app._event_handlers["startup"])
    try:
        yield
    finally:
        # whatever the wrapping lifespan raised on its way out (Starlette's `_DefaultLifespan`
        # runs them in `__aexit__` too), also a cancellation of its entry after this yield: the
        # bridge left them to this exit, and runs them itself only if it never came
        app._default_shutdown_ran = True
        await _call_hooks(app._event_handlers["shutdown"])


def _default_lifespan(app: Any) -> Any:
    """FastAPI's `_DefaultLifespan`: the app's startup and shutdown handlers as a lifespan."""
    return _startup_and_shutdown(app)
