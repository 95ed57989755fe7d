"""What an app registers besides its routes (docs/internals/framework.md): static mounts
(docs/internals/static-files.md), middleware, exception handlers, and the startup / shutdown
handlers with `lifespan=` (docs/internals/lifespan.md). Each is recorded on the app, so
`ViperHTTP._activate` (app.py) can apply it again. A mixin of `ViperHTTP`.
"""
from __future__ import annotations

import logging

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from . import _native
from .current import _active
from .exceptions import HandlerEntry, handler_entry
from .middleware import _configure_native, _native_kind

if TYPE_CHECKING:
    from .request import State



def _is_asgi_middleware(target: Any) -> bool:
    """A Starlette/ASGI middleware class: `__call__(self, scope, receive, send)` and no
    `dispatch`. Registered, it failed every request with a 500 (it is called as
    `mw(request, call_next)`), so it is refused when added."""
    import inspect

    if not isinstance(target, type) or callable(getattr(target, "dispatch", None)):
        return False
    call = target.__dict__.get("__call__") or getattr(target, "__call__", None)
    try:
        params = [p.name for p in inspect.signature(call).parameters.values()][1:]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return params[:3] == ["scope", "receive", "send"]

class AppRegistries:
    """`ViperHTTP`'s registration methods other than routes."""

    if TYPE_CHECKING:  # what it uses of `ViperHTTP`
        _mounts: List[Dict[str, Any]]
        _middleware: List[Tuple[str, Any, Dict[str, Any], int]]
        _chain: Optional[List[Callable[..., Any]]]
        _middleware_on: bool
        _exception_handlers: Dict[Any, HandlerEntry]
        _event_handlers: Dict[str, List[Callable[..., Any]]]
        _lifespan: Any
        _lifespan_cm: Any
        _lifespan_state: Dict[str, Any]
        _handlers_in_lifespan: bool
        _default_shutdown_ran: bool

        def _require_active(self) -> None: ...
        @property
        def state(self) -> State: ...

    # --- mounts (docs/internals/static-files.md) ------------------------------------------------------------

    def mount(self, prefix: Any, root: Any, html: bool = False, dotfiles: bool = False,
              name: Optional[str] = None) -> None:
        """Serves directory `root` at `prefix`, natively (docs/internals/static-files.md). Names
        starting with `.` (`.env`, `.git/`) are 404 unless `dotfiles=True`; `.well-known/`
        is always served. `root` may be FastAPI's `StaticFiles(directory=...)`; `name` is
        FastAPI's `app.mount(..., name="static")`: `url_path_for("static", path="/app.css")`
        is `/static/app.css`, as in Starlette."""
        from .staticfiles import mount_source

        root, html, refusal = mount_source(root, html)
        if refusal is not None:
            raise TypeError(refusal)
        if _active[0] is not self:
            raise RuntimeError("app not active")
        native = getattr(_native, "static_mount", None)
        if native is not None:
            native(prefix, root, bool(html), bool(dotfiles))  # validates; raises the errors of docs/internals/static-files.md
        elif not isinstance(prefix, str) or not isinstance(root, str):
            raise TypeError("mount paths must be str")
        elif not prefix.startswith("/") or not root:
            raise ValueError("invalid mount")
        prefix, root = prefix.rstrip("/") or "/", root.rstrip("/") or "/"
        for entry in self._mounts:
            if entry["kind"] == "dir" and entry["prefix"] == prefix:
                if entry["root"] != root:
                    raise ValueError("mount prefix already used")
                entry["html"] = bool(html)
                entry["dotfiles"] = bool(dotfiles)
                entry["name"] = name if name is not None else entry.get("name")
                return
        self._mounts.append({"kind": "dir", "prefix": prefix, "root": root, "html": bool(html),
                             "dotfiles": bool(dotfiles), "name": name})

    def mount_file(self, path: Any, file: Any) -> None:
        """Serves one file at an exact URL path, natively."""
        if _active[0] is not self:
            raise RuntimeError("app not active")
        native = getattr(_native, "static_mount_file", None)
        if native is not None:
            native(path, file)
        elif not isinstance(path, str) or not isinstance(file, str):
            raise TypeError("mount_file args must be str")
        elif (not path.startswith("/") or not file
              or any("\\" in p or ".." in p.split("/") for p in (path, file))):
            raise ValueError("invalid mount_file")
        for entry in self._mounts:
            if entry["kind"] == "file" and entry["prefix"] == path:
                if entry["root"] != file:
                    raise ValueError("mount_file path already used")
                return
        self._mounts.append({"kind": "file", "prefix": path, "root": file, "html": False})

    # --- middleware (docs/internals/framework.md) -----------------------------------------------------------

    def middleware(self, kind: Any = "http", *, priority: int = 0) -> Callable[..., Any]:
        """`@app.middleware("http", priority=0)` on `async def mw(request, call_next)`."""
        if not isinstance(kind, str):
            raise TypeError("middleware kind must be str")
        if kind != "http":
            raise ValueError("only http middleware supported")

        def decorator(func: Any) -> Any:
            self._add_entry("func", func, {}, priority)
            return func

        return decorator

    def add_middleware(self, *args: Any, priority: int = 0, **options: Any) -> None:
        """A middleware class (or instance), or one of the native built-ins (docs/internals/framework.md,
        docs/internals/cors-hosts-ratelimit.md)."""
        if len(args) > 1:
            raise TypeError("only middleware class positional arg supported")
        if not args:
            raise TypeError("middleware class required")
        target = args[0]
        kind = _native_kind(target)
        if kind is not None:
            self._require_active()
            _configure_native(self, kind, options)
            return
        if _is_asgi_middleware(target):
            raise TypeError(
                f"{getattr(target, '__name__', target)!r} is ASGI middleware (__call__(scope, receive, send)); "
                "a ViperHTTP app is not an ASGI application: write it as @app.middleware('http') or a "
                "BaseHTTPMiddleware with dispatch(request, call_next) (docs/guide/middleware-errors.md)")
        self._add_entry("class", target, options, priority)

    def add_middleware_func(self, func: Any, *args: Any, priority: int = 0) -> None:
        """A function middleware `mw(request, call_next)`."""
        if args:
            raise TypeError("too many positional args")
        self._add_entry("func", func, {}, priority)

    def _add_entry(self, kind: str, target: Any, options: Dict[str, Any], priority: Any) -> None:
        self._require_active()
        # An instance with `dispatch` (a BaseHTTPMiddleware subclass) is used as it is
        # (docs/internals/framework.md).
        if not callable(target) and not callable(getattr(target, "dispatch", None)):
            raise TypeError("middleware must be callable")
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise TypeError("priority must be int")
        self._middleware.append((kind, target, dict(options), priority))
        self._chain = None  # class entries are (re)instantiated on the next request
        self._middleware_on = True
        _set_python_middleware(True)

    def _middleware_stack(self) -> List[Tuple[str, Any, Dict[str, Any], int]]:
        """The entries `(kind, target, options, priority)` in registration order."""
        self._require_active()
        return list(self._middleware)

    # --- errors, events, lifespan (docs/internals/framework.md, docs/internals/lifespan.md) -----------------

    def add_exception_handler(self, exc_type: Any, handler: Any) -> Any:
        """Registers `handler` for `exc_type` (replacing a previous one); returns it. `exc_type`
        is an exception class, or (Starlette's status handlers) an int status code: the handler
        then gets every `HTTPException` with that status (docs/internals/framework.md)."""
        if exc_type is None:
            raise TypeError("exc_type is required")
        if type(exc_type) is int:
            if not 100 <= exc_type <= 999:
                raise ValueError("status code must be 100..999")
        elif not isinstance(exc_type, type):
            raise TypeError("exc_type must be an exception class or a status code")
        if not callable(handler):
            raise TypeError("handler must be callable")
        self._exception_handlers[exc_type] = handler_entry(handler)
        if exc_type == 404 or exc_type == 405:
            # The app answers requests no route takes (`unrouted`), not the runtime's plain text.
            _set_python_middleware(True)
        return handler

    def exception_handler(self, exc_type: Any) -> Callable[..., Any]:
        """Decorator form of `add_exception_handler`."""
        if exc_type is None:
            raise TypeError("exc_type is required")

        def decorator(handler: Any) -> Any:
            return self.add_exception_handler(exc_type, handler)

        return decorator

    def add_event_handler(self, event: Any, handler: Any) -> Any:
        """Registers a `startup` / `shutdown` handler (run by the bridge); returns it."""
        name = event.lower() if isinstance(event, str) else event
        if name not in ("startup", "shutdown"):
            raise ValueError("event must be 'startup' or 'shutdown'")
        if not callable(handler):
            raise TypeError("handler must be callable")
        self._event_handlers[name].append(handler)
        return handler

    def on_event(self, event: Any) -> Callable[..., Any]:
        """Decorator form of `add_event_handler`; the event name is checked right away."""
        if (event.lower() if isinstance(event, str) else event) not in ("startup", "shutdown"):
            raise ValueError("event must be 'startup' or 'shutdown'")
        return lambda handler: self.add_event_handler(event, handler)

    def _lifespan_hooks(self, event: Any) -> List[Callable[..., Any]]:
        """What the bridge runs for `event`, in order; unknown → `[]`. With `lifespan=`, only
        its context manager: as in FastAPI, the `on_event` handlers then run only if the
        lifespan enters the default one, `app.router.lifespan_context` (app_router.py);
        otherwise they are not run, and the start says so once (docs/internals/lifespan.md)."""
        name = event.lower() if isinstance(event, str) else event
        if self._lifespan is not None:
            if name == "startup":
                return [self._lifespan_startup]
            if name == "shutdown":
                # the handlers belong to the default lifespan (app_router.py), which runs them
                # on its exit; a lifespan that entered it but whose entry was cancelled at stop (a
                # startup past `startup_timeout_s`) before the default yielded is never exited, so
                # they run here, as without the wrapper (docs/internals/lifespan.md); cancelled
                # after that yield, the default's exit has run them
                if self._handlers_in_lifespan and self._lifespan_cm is None and not self._default_shutdown_ran:
                    return list(self._event_handlers.get(name, ())) + [self._lifespan_exit]
                return [self._lifespan_exit]
        return list(self._event_handlers.get(name, ()))

    async def _lifespan_startup(self) -> None:
        """Enters `lifespan(app)`; warns when it left `on_event` handlers unrun (FastAPI
        ignores them silently, a trap for an app moving its start-up code to a lifespan)."""
        await self._lifespan_enter()
        handlers = self._event_handlers
        if not self._handlers_in_lifespan and (handlers["startup"] or handlers["shutdown"]):
            names = ", ".join(getattr(h, "__name__", repr(h))
                              for h in handlers["startup"] + handlers["shutdown"])
            logging.getLogger("viperhttp").warning(
                "on_event handlers not run: the app has lifespan=, which replaces them as in FastAPI "
                "(%s); call them from the lifespan, or enter app.router.lifespan_context's default "
                "in it (docs/internals/lifespan.md)", names)

    async def _lifespan_enter(self) -> None:
        """Enters `lifespan(app)` (async or sync context manager); a mapping it yields is
        merged into `app.state` (the device framework's place) and is what each request's
        `request.state` starts from (Starlette's: a shallow copy per request)."""
        self._lifespan_cm = None
        self._lifespan_state = {}
        #: set by `app.router.lifespan_context`'s default when a lifespan wrapping it enters it:
        #: the startup and shutdown handlers are then run there, once, in FastAPI's order
        self._handlers_in_lifespan = False
        self._default_shutdown_ran = False  # set by that default's exit (app_router.py)
        cm = self._lifespan(self)
        if hasattr(cm, "__aenter__"):
            value = await cm.__aenter__()
        elif hasattr(cm, "__enter__"):
            value = cm.__enter__()
        else:
            raise TypeError("lifespan(app) must return a context manager")
        self._lifespan_cm = cm
        if value is not None:
            self.state.update(value)
            self._lifespan_state = dict(value)

    async def _lifespan_exit(self) -> None:
        cm, self._lifespan_cm = self._lifespan_cm, None
        if cm is None:
            return
        if hasattr(cm, "__aexit__"):
            await cm.__aexit__(None, None, None)
        else:
            cm.__exit__(None, None, None)


def _set_python_middleware(flag: bool) -> None:
    # docs/internals/framework.md#routing: while set, unmatched requests reach Python so the chain sees them.
    setter = getattr(_native, "set_python_middleware", None)
    if setter is not None:
        setter(flag)
