"""Background tasks queued by a handler and run by the bridge after the response
(docs/internals/framework.md).

The framework never allocates a `BackgroundTasks` for a request unless a handler or dependency
declares a `background_tasks` parameter (`for_request`), and the object itself allocates its list
only on the first `add_task`, so the common request pays nothing. The bridge reads
`request._background` after handing the response over and calls `drain_tasks()`.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["BackgroundTask", "BackgroundTasks", "for_request"]

Task = Tuple[Callable[..., Any], Tuple[Any, ...], Dict[str, Any]]


class BackgroundTask:
    """Starlette's `BackgroundTask(func, *args, **kwargs)`: one task, for a response's
    `background=`."""

    __slots__ = ("func", "args", "kwargs")

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if not callable(func):
            raise TypeError("callable required")
        self.func = func
        self.args = args
        self.kwargs = kwargs


class BackgroundTasks:
    """An ordered list of `(func, args, kwargs)` to run after the response was sent."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: Optional[List[Task]] = None

    def add_task(self, *args: Any, **kwargs: Any) -> None:
        """Queues `func(*args, **kwargs)`; awaited by the bridge if it returns a coroutine."""
        if not args:
            raise TypeError("add_task(callable, *args, **kwargs)")
        func = args[0]
        if not callable(func):
            raise TypeError("callable required")
        if self._tasks is None:
            self._tasks = []
        self._tasks.append((func, args[1:], kwargs))

    def drain_tasks(self) -> List[Task]:
        """Returns the queued tasks in `add_task` order and clears the queue."""
        tasks = self._tasks
        self._tasks = None
        return tasks if tasks is not None else []

    def __len__(self) -> int:
        return len(self._tasks) if self._tasks is not None else 0

    def __repr__(self) -> str:
        return f"<BackgroundTasks pending={len(self)}>"


def for_request(request: Any) -> Any:
    """The request's task object, created on first use and kept on `request._background`.

    One object per request: the handler and every dependency asking for `background_tasks`
    share it (docs/internals/framework.md decision). An object the bridge passed to `dispatch(background=...)`
    is reused.
    """
    bg = request._background
    if bg is None:
        bg = request._background = BackgroundTasks()
    return bg
