"""What kind of callable a handler, a dependency or a background task is: the one test behind
"is it `async`" and "does it `yield`" (FastAPI's classification of a dependency, its
`_unwrapped_call` and `dunder_call`; docs/internals/framework.md, "Modules").

Registration and task-start time only: nothing here is called per request.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

__all__ = ["callable_is", "is_async_callable", "is_gen_callable"]


def _unwrapped(call: Any) -> Any:
    """`call` through `functools.wraps` wrappers and `functools.partial`s."""
    call = inspect.unwrap(call)
    while isinstance(call, functools.partial):
        call = inspect.unwrap(call.func)
    return call


def callable_is(call: Any, *kinds: Callable[[Any], bool]) -> bool:
    """Whether `call` is one of `kinds` (`inspect.iscoroutinefunction`, ...): itself or what it
    wraps (a sync `functools.wraps` wrapper around an `async def` returns a coroutine, an `async`
    wrapper around a `def` is awaited), or, an instance, its `__call__`. A class is none: calling
    it makes an instance."""
    for candidate in (call, _unwrapped(call)):
        if any(kind(candidate) for kind in kinds):
            return True
        if inspect.isclass(candidate) or inspect.isfunction(candidate) or inspect.ismethod(candidate):
            continue
        dunder = getattr(candidate, "__call__", None)
        if dunder is not None and any(kind(d) for d in (dunder, _unwrapped(dunder)) for kind in kinds):
            return True
    return False


def is_async_callable(call: Any) -> bool:
    """An `async def` (or an instance whose `__call__` is one). A static hint: a sync callable
    that returns an awaitable is still awaited where its result is."""
    return callable_is(call, inspect.iscoroutinefunction)


def is_gen_callable(call: Any) -> bool:
    """A generator function, sync or `async` (or an instance whose `__call__` is one): FastAPI's
    test for a `yield` dependency."""
    return callable_is(call, inspect.isgeneratorfunction, inspect.isasyncgenfunction)
