"""A request's background tasks (docs/internals/bridge.md, "One request"): claimed before its
response is handed over, run one after another in one task after it, counted in
`bg_tasks_pending`, and watched by `viperhttp.testclient` (`bg_watch`). A mixin of `Bridge`:
the job apart from the dispatch loop, on the bridge's own state."""
from __future__ import annotations

import logging
from typing import Any, Callable, List, Optional, Tuple

from viperhttp.callables import is_async_callable
from viperhttp.exceptions import report_unhandled, where

log = logging.getLogger("viperhttp.bridge")

Batch = Tuple[List[Tuple[Callable, tuple, dict]], Any, Any]


class BackgroundRunner:
    """The background-task half of `Bridge` (which provides `app`, `_spawn` and
    `interpreter_exit`)."""

    app: Any
    #: tasks claimed and not yet finished (`bridge_stats()["bg_tasks_pending"]`)
    bg_pending: int
    #: set by `viperhttp.testclient` around one request: every batch claimed meanwhile adds
    #: the event its end sets (the test client waits for them, as Starlette's runs a request's
    #: tasks before it returns)
    bg_watch: Optional[List[Any]]

    def _spawn(self, coro: Any) -> Any:  # pragma: no cover - Bridge's
        raise NotImplementedError

    def interpreter_exit(self, exc: SystemExit) -> None:  # pragma: no cover - Bridge's
        raise NotImplementedError

    def _adopt_response_background(self, request: Any, result: Any) -> None:
        """A response's own `background=` (Starlette's): its tasks join the request's, after
        them. Only response objects carry one (a plain dict result is the app's data)."""
        if type(result) is dict or not isinstance(result, dict):
            return
        background = result.get("background")
        if background is None or request is None:
            return
        from viperhttp.background import for_request

        tasks = for_request(request)
        if background is tasks:  # `background=background_tasks`: the request's own already
            return
        if hasattr(background, "drain_tasks"):
            for func, args, kwargs in background.drain_tasks():
                tasks.add_task(func, *args, **kwargs)
        else:
            tasks.add_task(background.func, *background.args, **background.kwargs)

    def _claim_background(self, request: Any, keep: bool = False, into: Optional[Batch] = None
                          ) -> Optional[Batch]:
        """Takes the request's background tasks, counted as pending from now: (tasks, the
        test client's event or None, the request, named by the error lines), or `into` when it has none. With `keep` the request keeps
        its task object, for those a streamed body adds later; those are then claimed `into`
        the first batch, so they run after it in the same task."""
        tasks = request._background
        if tasks is None:
            return into
        if not keep:
            request._background = None
        drain = getattr(tasks, "drain_tasks", None)
        items = drain() if drain is not None else list(tasks)
        if not items:
            return into
        self.bg_pending += len(items)
        if into is not None:
            into[0].extend(items)
            return into
        done = None
        watch = self.bg_watch
        if watch is not None:
            import threading

            done = threading.Event()
            watch.append(done)
        return items, done, request

    def _unclaim(self, batch: Optional[Batch]) -> None:
        """A claimed batch that will not run (the response did not go out)."""
        if batch is not None:
            self.bg_pending -= len(batch[0])
            if batch[1] is not None:
                batch[1].set()

    def _start_background(self, batch: Optional[Batch]) -> None:
        if batch is not None:
            self._spawn(self._background_tasks(*batch))

    async def _background_tasks(self, items: List[Tuple[Callable, tuple, dict]], done: Any = None,
                                request: Any = None) -> None:
        """A request's tasks one after another, each awaited before the next starts (Starlette's
        order: an `async` task that sleeps delays the next); a failing one is logged and the
        rest still run (docs/internals/framework.md, "Background tasks")."""
        try:
            for i, (func, args, kwargs) in enumerate(items):
                try:
                    await self._background_task(func, args, kwargs, request)
                except BaseException:  # cancelled (the drain ran out): the rest are not run
                    self.bg_pending -= len(items) - i - 1
                    raise
        finally:
            if done is not None:
                done.set()

    async def _background_task(self, func: Callable, args: tuple, kwargs: dict, request: Any = None) -> None:
        import asyncio

        try:
            if getattr(self.app, "_sync_threadpool", False) and not is_async_callable(func):
                # ViperHTTP(sync_handlers="threadpool"): sync tasks too (docs/internals/typed-api.md).
                from viperhttp.threadpool import run_in_threadpool

                result = await run_in_threadpool(func, *args, **kwargs)
            else:
                result = func(*args, **kwargs)
            if hasattr(result, "__await__"):
                await result
        except asyncio.CancelledError:
            raise
        except SystemExit as exc:
            self.interpreter_exit(exc)
        except BaseException as exc:
            log.error("bg_task_error %r%s", exc, where(request), exc_info=True)
            report_unhandled(exc)  # the test client re-raises it (raise_server_exceptions)
        finally:
            self.bg_pending -= 1
