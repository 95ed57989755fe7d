"""ViperHTTP: a FastAPI-style framework whose HTTP work is done by a native Rust runtime.

    from viperhttp import ViperHTTP

    app = ViperHTTP()

    @app.get("/items/{item_id}")
    def read_item(item_id: int, q: str = ""):
        return {"item_id": item_id, "q": q}

Serve it with `viperhttp run main:app` (port 8080; `viperhttp --help`) or `app.run(port=8000)`;
test it with `viperhttp.testclient.TestClient(app)`. The names FastAPI exports (`Depends`, `Query`,
`HTTPException`, `APIRouter`, `Security`, ...) are here; the user guide is docs/index.md and
docs/guide/ of the project.

This package is the public surface of docs/internals/framework.md: the app, routing, parameters, dependencies,
requests, responses, middleware and errors, plus its module-level functions and the native
diagnostics (re-exported from `viperhttp._native`). Importing it
also imports the helper modules `viperhttp_bridge`, `viperhttp_lifespan`, `viperhttp_responses` and
`viperhttp_ws` (docs/internals/framework.md decision), so `app.run`, `app.on_event`,
`viperhttp.RedirectResponse`, … exist right after `import viperhttp`.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable, Optional

from .diagnostics import reset_log_level as _reset_log_level
from . import _native
from . import middleware
from .app import ViperHTTP, active_app, clear_active_app, current_request, set_current_request
from .background import BackgroundTasks
from .deps import Depends
from .exceptions import HTTPException, RequestValidationError, WebSocketDisconnect, WebSocketException
from .middleware import BaseHTTPMiddleware
from .params import Body, Cookie, File, Form, Header, Path, Query
from .request import Request
from .encoders import jsonable_encoder
from .forms import UploadFile
from .threadpool import run_in_threadpool
from .responses import (FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response,
                        StreamingResponse)
# APIRouter: FastAPI's name for a router (`APIRouter(prefix=..., tags=..., dependencies=..., responses=...)`)
from .routing import APIRouter, Router, current_request_var
from .routing import set_dep_resolver as _set_dep_resolver
from . import status

if TYPE_CHECKING:
    # FastAPI's `from fastapi import Security`; at run time it is resolved on first use by
    # `__getattr__` below, so an app without it does not import pydantic through viperhttp.security.
    # Not in `__all__`: a device app's `from viperhttp import *` would resolve it, and load pydantic.
    from .security import Security as Security
__all__ = [
    "ViperHTTP", "Router", "Request", "BackgroundTasks", "BaseHTTPMiddleware", "middleware", "Depends",
    "Query", "HTTPException", "WebSocketDisconnect", "WebSocketException", "Response", "JSONResponse", "StreamingResponse", "FileResponse",
    "HTMLResponse", "PlainTextResponse", "active_app", "current_request", "set_current_request",
    "set_dep_resolver", "reset", "version",
    "router_stats", "ipc_stats", "heap_stats", "server_stats", "server_stats_reset", "get_worker_limits",
    "set_worker_limits", "https_status", "http2_status", "is_running", "set_log_level", "get_log_level",
    "LOG_OFF", "LOG_ERROR", "LOG_WARN", "LOG_INFO", "LOG_DEBUG", "LOG_TRACE", "gzip_static",
    # the typed API (docs/internals/typed-api.md)
    "Path", "Header", "Cookie", "Body", "Form", "File", "UploadFile", "RequestValidationError",
    "run_in_threadpool", "jsonable_encoder", "APIRouter", "status",
]


def version() -> str:
    """The installed package version (docs/internals/framework.md decision: the host's own version)."""
    from importlib import metadata

    try:
        return metadata.version("viperhttp")
    except metadata.PackageNotFoundError:
        return str(getattr(_native, "__version__", "0.0.0"))


def set_dep_resolver(resolver: Optional[Callable[..., Any]]) -> None:
    """Replaces dependency resolution for routes with deps (None restores the built-in one).

    The resolver is called with the dependency-call marker dict (docs/internals/bridge.md#one-request) and
    returns the handler result or an awaitable. Apps and the bridge do not normally need this.
    """
    _set_dep_resolver(resolver)


def reset() -> None:
    """Clears all global state between tests (docs/internals/framework.md); refused while serving."""
    if is_running():
        raise RuntimeError("reset() while the server is running")
    _native.routes_reset()
    _native.native_config_reset()  # static mounts, CORS, trusted hosts, rate limit
    _reset_log_level()
    setter = getattr(_native, "set_python_middleware", None)
    if setter is not None:
        setter(False)
    clear_active_app()
    current_request_var.set(None)
    _set_dep_resolver(None)


# --- diagnostics (docs/internals/framework.md): native functions, with stand-ins so import never fails ------

def _unavailable(name: str) -> Callable[..., Any]:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"viperhttp.{name} is not provided by this viperhttp._native build")

    missing.__name__ = name
    return missing


def _not_running() -> bool:
    return False


router_stats = getattr(_native, "router_stats", None) or _unavailable("router_stats")
ipc_stats = getattr(_native, "ipc_stats", None) or _unavailable("ipc_stats")
heap_stats = getattr(_native, "heap_stats", None) or _unavailable("heap_stats")
server_stats = getattr(_native, "server_stats", None) or _unavailable("server_stats")
server_stats_reset = getattr(_native, "server_stats_reset", None) or _unavailable("server_stats_reset")
get_worker_limits = getattr(_native, "get_worker_limits", None) or _unavailable("get_worker_limits")
set_worker_limits = getattr(_native, "set_worker_limits", None) or _unavailable("set_worker_limits")
is_running = getattr(_native, "is_running", None) or _not_running
from .diagnostics import get_log_level, gzip_static, set_log_level  # noqa: E402,F811
LOG_OFF: int = getattr(_native, "LOG_OFF", 0)
LOG_ERROR: int = getattr(_native, "LOG_ERROR", 1)
LOG_WARN: int = getattr(_native, "LOG_WARN", 2)
LOG_INFO: int = getattr(_native, "LOG_INFO", 3)
LOG_DEBUG: int = getattr(_native, "LOG_DEBUG", 4)
LOG_TRACE: int = getattr(_native, "LOG_TRACE", 5)

# The bridge's low-level contract (docs/internals/architecture.md) is reachable as viperhttp.<name> as in the
# original, where the native build provides it.
for _name in ("start", "stop", "poll_request", "send_response", "stream_send", "ws_accept", "ws_reject",
              "ws_send", "ws_close", "configure_https", "configure_http2", "fs_lock", "fs_unlock"):
    if hasattr(_native, _name):
        globals()[_name] = getattr(_native, _name)
# The original's transport functions with its argument rules (docs/internals/tls-http2.md).
from .transport import configure_http2, configure_https, http2_status, https_status, start  # noqa: E402

# Template helpers (docs/internals/templates.md): native or a `viperhttp.templates` module, resolved on use.
_TEMPLATE_NAMES = ("TemplateResponse", "render_template", "template_clear_cache", "template_stats",
                   "template_warmup", "template_debug", "template_configure")


def __getattr__(name: str) -> Any:
    if name == "__version__":  # the usual spelling of `version()`, read only when asked for
        return version()
    if name == "Security":  # FastAPI exports it beside Depends (docs/index.md "Coming from FastAPI")
        return importlib.import_module(".security", __name__).Security
    if name in _TEMPLATE_NAMES:
        if hasattr(_native, name):
            return getattr(_native, name)
        try:
            return getattr(importlib.import_module(".templates", __name__), name)
        except ModuleNotFoundError as exc:
            if exc.name != __name__ + ".templates":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Device module names nothing else provides (`esp32`, ...) come from viperhttp.compat; the
# finder is appended last to sys.meta_path, so a real package of the same name always wins.
from .compat import install_finder as _install_finder  # noqa: E402
_install_finder()

# docs/internals/framework.md: the helper modules are imported eagerly, last, because they import this
# package. One that is not installed is skipped; an error inside one is not hidden.
for _module in ("viperhttp_lifespan", "viperhttp_responses", "viperhttp_ws", "viperhttp_bridge"):
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as _exc:
        if _exc.name != _module:
            raise
del _name, _module
