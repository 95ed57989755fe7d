"""What kind of callable a handler, a dependency or a background task is: the one test behind
"is it `async`" and "does it `yield`" (FastAPI's classification of a dependency, its
`_unwrapped_call` and `dunder_call`; docs/internals/framework.md, "Modules").

Registration and task-start time only: nothing here is called per request.
"""
from __future__ import annotations

import functools
import inspect
import sys
from typing import Any, Callable

__all__ = ["callable_is", "is_coroutine_function", "is_async_callable", "is_gen_callable", "unwrapped"]


def is_coroutine_function(func: Any) -> bool:
    """`inspect.iscoroutinefunction`, and before Python 3.13 also asyncio's legacy
    `_is_coroutine` marker (Cython < 3's `async def` carries it), as FastAPI and Starlette test
    on those versions (`asyncio.iscoroutinefunction`). asyncio is not imported for it
    (docs/internals/bridge.md#serving-without-an-event-loop): no object carries the marker
    before `asyncio.coroutines` is, read after the attribute (which may import it)."""
    if inspect.iscoroutinefunction(func):
        return True
    if sys.version_info >= (3, 13):
        return False
    marker = getattr(func, "_is_coroutine", None)
    coroutines = sys.modules.get("asyncio.coroutines") if marker is not None else None
    return coroutines is not None and marker is getattr(coroutines, "_is_coroutine", None)


def unwrapped(call: Any) -> Any:
    """`call` through `functools.wraps` wrappers and `functools.partial`s."""
    call = inspect.unwrap(call)
    while isinstance(call, functools.partial):
        call = inspect.unwrap(call.func)
    return call


def callable_is(call: Any, *kinds: Callable[[Any], bool]) -> bool:
    """Whether `call` is one of `kinds` (`is_coroutine_function`, ...): itself or what it
    wraps (a sync `functools.wraps` wrapper around an `async def` returns a coroutine, an `async`
    wrapper around a `def` is awaited), or, an instance, its `__call__`. A class is none: calling
    it makes an instance."""
    for candidate in (call, unwrapped(call)):
        if any(kind(candidate) for kind in kinds):
            return True
        if inspect.isclass(candidate) or inspect.isfunction(candidate) or inspect.ismethod(candidate):
            continue
        dunder = getattr(candidate, "__call__", None)
        if dunder is not None and any(kind(d) for d in (dunder, unwrapped(dunder)) for kind in kinds):
            return True
    return False


def is_async_callable(call: Any) -> bool:
    """An `async def` (or an instance whose `__call__` is one). A static hint: a sync callable
    that returns an awaitable is still awaited where its result is."""
    return callable_is(call, is_coroutine_function)


def is_gen_callable(call: Any) -> bool:
    """A generator function, sync or `async` (or an instance whose `__call__` is one): FastAPI's
    test for a `yield` dependency."""
    return callable_is(call, inspect.isgeneratorfunction, inspect.isasyncgenfunction)
