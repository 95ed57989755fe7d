"""What is current in this process: the active app (one app serves per process,
docs/internals/framework.md "More than one app") and the request being handled
(docs/internals/framework.md). Apart from app.py so that the app's mixins (app_dispatch.py,
app_registries.py) read the active app without importing app.py; app.py re-exports these names.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional

from . import deps as _deps
from .deps import DependencyOverrides
from .routing import current_request_var

if TYPE_CHECKING:
    from .app import ViperHTTP

__all__ = ["active_app", "clear_active_app", "current_request", "set_current_request"]

_active: List[Optional["ViperHTTP"]] = [None]


def active_app() -> Optional["ViperHTTP"]:
    """The most recently constructed app, or None before any / after `reset()`
    (docs/internals/framework.md)."""
    return _active[0]


def clear_active_app() -> None:
    """Forgets the active app and its dependency overrides (part of `viperhttp.reset()`)."""
    _active[0] = None
    _deps.OVERRIDES = DependencyOverrides()


current_request = current_request_var.get


def set_current_request(request: Any) -> Any:
    """Sets the current request; returns the previous one (docs/internals/framework.md)."""
    previous = current_request_var.get()
    current_request_var.set(request)
    return previous
