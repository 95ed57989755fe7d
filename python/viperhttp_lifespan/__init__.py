"""Lifespan helpers under the original's module name (docs/internals/lifespan.md,
docs/internals/framework.md).

On the host the registries live on the app object and `ViperHTTP` already has `on_event`,
`exception_handler` and `state`; these functions are the original's module-level spelling of
the same operations. The bridge runs the startup/shutdown handlers.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional

from viperhttp.app import ViperHTTP
from viperhttp.request import State
from viperhttp.exceptions import find_exception_handler

__all__ = ["get_app_state", "add_event_handler", "on_event", "get_event_handlers", "add_exception_handler",
           "exception_handler", "resolve_exception_handler", "install"]


def get_app_state(app: ViperHTTP) -> State:
    """The per-app state dict (the same object as `app.state`)."""
    return app.state


def add_event_handler(app: ViperHTTP, event: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """Registers a `startup` / `shutdown` handler; returns it."""
    return app.add_event_handler(event, handler)


def on_event(app: ViperHTTP, event: str) -> Callable[..., Any]:
    """Decorator form of `add_event_handler`."""
    return app.on_event(event)


def get_event_handlers(app: ViperHTTP, event: str) -> List[Callable[..., Any]]:
    """Handlers of `event` in registration order; unknown event → `[]` (the `lifespan=`
    context manager is not listed: it is not an event handler)."""
    name = event.lower() if isinstance(event, str) else event
    return list(app._event_handlers.get(name, ()))


def add_exception_handler(app: ViperHTTP, exc_type: Any, handler: Callable[..., Any]) -> Callable[..., Any]:
    """Registers `handler` for `exc_type` (one per type; re-registering replaces)."""
    return app.add_exception_handler(exc_type, handler)


def exception_handler(app: ViperHTTP, exc_type: Any) -> Callable[..., Any]:
    """Decorator form of `add_exception_handler`."""
    return app.exception_handler(exc_type)


def resolve_exception_handler(app: ViperHTTP, exc: BaseException) -> Optional[Callable[..., Any]]:
    """The handler for `exc`: first class of its MRO with one, else the first `isinstance` match."""
    entry = find_exception_handler(app._exception_handlers, exc)
    return None if entry is None else entry[0]


def install() -> None:
    """The original patches `on_event`, `exception_handler` and `state` onto the app class here;
    on the host the class defines them, so this only exists for scripts that call it."""
