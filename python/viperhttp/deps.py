"""Dependencies: `Depends`, registration-time compilation, per-request resolution and teardown.

Owns docs/internals/framework.md. A route's `deps={...}` spec is validated once (`compile_deps`) into a tree
of `DepNode`s; per request `resolve` fills the handler kwargs, recording generator teardowns on a stack that
`teardown` unwinds in reverse order. Resolution is written once, as a coroutine: the route pipeline
(route_pipeline.py) runs it eagerly when the tree is statically synchronous, so a sync-only tree costs no task or
loop turn.

Registration errors keep the original's message as the prefix and name the route and the
offending argument in parentheses:
`TypeError("dependency must be Depends() (route GET /items, dependency 'db')")`; nested
dependencies are named by their key path (`'db.conn'`).
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, List, Literal, Optional, Tuple

from .background import BackgroundTasks, for_request
from .callables import callable_is, is_coroutine_function, is_gen_callable
from .request import Request
from .responses import Response, sub_response_for

__all__ = ["Depends", "DepNode", "DependencyOverrides", "OVERRIDES", "SecurityScopes", "compile_deps", "merge_deps",
           "resolve", "teardown", "inject_names", "function_scoped", "relax_content_type"]

MAX_DEPS = 16
MAX_DEPTH = 8
_MODES = ("value", "yield", "async_yield", "auto")
#: FastAPI's `Depends(scope=...)` values (docs/guide/dependencies.md, "Scope")
SCOPES = ("function", "request")
Scope = Literal["function", "request"]
_ABSENT: Any = object()
#: a dependency that is awaited: an `async def` or an async generator function (callables.py)
_ASYNC = (is_coroutine_function, inspect.isasyncgenfunction)


class Depends(dict):  # type: ignore[type-arg]
    """`Depends(callable, deps=None, *, mode="value", use_cache=False, scope=None)`
    (docs/internals/framework.md; `scope`: FastAPI's, docs/guide/dependencies.md "Scope").

    A dict subclass that keeps the original's dict view
    `{"__vhttp_dep__": True, "callable": c, "deps": d, "mode": m}`; `use_cache` and `scope` are
    attributes.
    """

    __slots__ = ("use_cache", "throw_errors", "scopes", "scope")

    def __init__(self, *args: Any, deps: Any = _ABSENT, mode: Any = "value", use_cache: bool = False,
                 scope: Optional[Scope] = None, **unknown: Any) -> None:
        if unknown:
            raise TypeError("unknown keyword")
        if not args and deps is _ABSENT:
            # FastAPI's `Annotated[Form, Depends()]` shorthand: the original's message first (the
            # rule for registration errors, docs/internals/framework.md "Decisions"), then the fix
            raise TypeError("Depends(callable, [deps]) (the callable is required: write "
                            "Depends(TheClass) where FastAPI allows Depends(); docs/guide/dependencies.md)")
        if not args or len(args) > 2 or (len(args) == 2 and deps is not _ABSENT):
            raise TypeError("Depends(callable, [deps])")
        func = args[0]
        if len(args) == 2:
            deps = args[1]
        elif deps is _ABSENT:
            deps = None
        _check_dep_fields(func, deps, mode)
        if scope is not None and scope not in SCOPES:
            # FastAPI accepts any value here (its type says the two) and treats an unknown one
            # as "request": a misspelt "function" would silently live until after the response
            raise ValueError(f'Depends(scope=...) must be "function", "request" or None, not {scope!r}')
        super().__init__(__vhttp_dep__=True, callable=func, deps=deps, mode=mode)
        self.use_cache = bool(use_cache)
        #: FastAPI's teardown scope of a `yield` dependency; None: its default ("request")
        self.scope: Optional[Scope] = scope
        #: declared the FastAPI way (a parameter's default, `Annotated`, `dependencies=[...]`):
        #: its generator gets the handler's exception thrown in at teardown (`teardown`)
        self.throw_errors = False
        #: OAuth2 scopes this use of the dependency requires (`security.Security(dep, scopes=...)`)
        self.scopes: Tuple[str, ...] = ()

    def __repr__(self) -> str:
        name = getattr(self["callable"], "__qualname__", repr(self["callable"]))
        scope = "" if self.scope is None else f", scope={self.scope!r}"
        return f"Depends({name}, mode={self['mode']!r}{scope})"


class SecurityScopes:
    """FastAPI's `SecurityScopes`: a dependency (or handler) parameter annotated with it receives
    the OAuth2 scopes required along the chain of `Security(..., scopes=[...])` declarations that
    led to it, outermost first, each once (docs/internals/typed-api.md, "OAuth2 scopes").
    Exported as `viperhttp.security.SecurityScopes`."""

    def __init__(self, scopes: Optional[List[str]] = None) -> None:
        self.scopes: List[str] = scopes or []
        self.scope_str: str = " ".join(self.scopes)


def _check_dep_fields(func: Any, deps: Any, mode: Any) -> None:
    if not callable(func):
        raise TypeError("callable required")
    if deps is not None and not isinstance(deps, dict):
        raise TypeError("deps must be dict")
    if not isinstance(mode, str):
        raise TypeError("mode must be str")
    if mode not in _MODES:
        raise ValueError("mode must be value|yield|async_yield|auto")


def _is_dep(value: Any) -> bool:
    # Plain dicts with the marker are accepted too: the original's Depends returns one.
    return isinstance(value, dict) and value.get("__vhttp_dep__") is True


class DepNode:
    """One compiled dependency: what to call, with which sub-dependencies, in which mode."""

    __slots__ = ("key", "call", "mode", "children", "use_cache", "request_args", "bg_args", "response_args",
                 "is_async", "throw_errors", "scopes", "scopes_args", "uses_scopes", "cache_key",
                 "typed", "sync_value", "scope", "function_scope", "strict_content_type", "yields")

    def __init__(self, key: str, call: Any, mode: str, children: Tuple["DepNode", ...], use_cache: bool,
                 throw_errors: bool = False, scopes: Tuple[str, ...] = (),
                 scope: Optional[Scope] = None) -> None:
        self.key = key
        self.call = call
        self.mode = "value" if mode == "auto" else mode
        self.children = children
        self.use_cache = use_cache
        self.throw_errors = throw_errors
        #: `Depends(scope=...)` as declared; `function_scope`: torn down when the path
        #: operation function returned, before a stream starts (docs/guide/dependencies.md, "Scope")
        self.scope = scope
        self.function_scope = scope == "function"
        #: cleared for a route declared `strict_content_type=False` (`relax_content_type`)
        self.strict_content_type = True
        # (decision, docs/internals/framework.md) a dependency may declare `request` / `background_tasks` like
        # a handler. Its kwargs are exactly the children's keys, so which parameters get the request / task
        # object (those no child value names, docs/internals/framework.md) is known now: first one, then the
        # rest.
        keys = {child.key for child in children}
        self.request_args = tuple(n for n in inject_names(call, "request", Request) if n not in keys)
        self.bg_args = tuple(n for n in inject_names(call, "background_tasks", BackgroundTasks)
                             if n not in keys)
        # FastAPI's sub-response: by annotation only (`response: Response`).
        self.response_args = tuple(n for n in inject_names(call, None, Response) if n not in keys)
        #: the OAuth2 scopes required on the way to this node, its own last (FastAPI's order)
        self.scopes = scopes
        self.scopes_args = tuple(n for n in inject_names(call, None, SecurityScopes) if n not in keys)
        # FastAPI's cache key: a dependency whose answer can depend on the scopes is cached per
        # scope set (it, or something below it, reads them or declares some)
        self.uses_scopes: bool = (bool(self.scopes_args) or hasattr(call, "scheme_name")
                                  or any(child.uses_scopes for child in children))
        self.cache_key: Any = (id(call), frozenset(scopes)) if self.uses_scopes else id(call)
        #: a `yield` dependency (FastAPI's test): its scope is "request" unless declared
        self.yields: bool = self.mode in ("yield", "async_yield") or is_gen_callable(call)
        if scope is not None and scope != ("request" if self.yields else None):
            # FastAPI's cache key holds the scope: `Depends(get_db, scope="function")` and
            # `Depends(get_db)` are two values in one request
            self.cache_key = (self.cache_key, scope)
        self.is_async: bool = (self.mode == "async_yield" or callable_is(call, *_ASYNC)
                               or any(child.is_async for child in children))
        #: annotation-driven parameters of the dependency itself (`def page(limit: int = 10)`),
        #: validated like a handler's (docs/internals/typed-api.md); set by `compile_deps`.
        self.typed: Any = None
        #: a plain sync function (no generator): may run in the thread pool
        self.sync_value = (self.mode == "value" and inspect.isfunction(inspect.unwrap(call))
                           and not callable_is(call, inspect.isgeneratorfunction, *_ASYNC))


def _check_scope(node: DepNode, where: str, path: str) -> None:
    """FastAPI's rule (its `get_dependant`): a `yield` dependency of scope "request" (declared,
    or its default) cannot depend on one of scope "function", torn down before it."""
    if not node.yields or (node.scope or "request") != "request":
        return  # not a `yield` dependency, or one of scope "function"
    if any(child.scope == "function" for child in node.children):
        from .exceptions import DependencyScopeError

        name = getattr(node.call, "__name__", "<unnamed_callable>")
        raise DependencyScopeError(_ctx(f'The dependency "{name}" has a scope of "request", it cannot '
                                        'depend on dependencies with scope "function".', where, path))


def inject_names(func: Any, name: Optional[str], annotation: type) -> Tuple[str, ...]:
    """Every parameter of `func` that receives an injected object, in signature order.

    A parameter literally called `name` (unless None), or annotated with the class or a subclass
    — also as a string annotation under `from __future__ import annotations`. All of them get the object
    (docs/internals/framework.md), so `def h(req: Request, request=None)` receives the request in both. Never
    `**kwargs`.
    """
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return ()
    names = (annotation, annotation.__name__, "viperhttp." + annotation.__name__)
    return tuple(p.name for p in params
                 if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)
                 and (p.name == name or p.annotation in names
                      or (isinstance(p.annotation, type) and issubclass(p.annotation, annotation))))


def compile_deps(spec: Any, where: str = "", _depth: int = 1, _prefix: str = "",
                 _scopes: Tuple[str, ...] = ()) -> Tuple[DepNode, ...]:
    """Validates a deps spec (all checks at registration on the host, docs/internals/framework.md) and
    compiles it. `_scopes`: the OAuth2 scopes its parents require."""
    top = _depth == 1
    if not isinstance(spec, dict):
        raise TypeError(_ctx("deps spec must be dict" if top else "deps must be dict", where, _prefix or None))
    if _depth > MAX_DEPTH:
        raise ValueError(_ctx("dependency chain too deep", where, _prefix or None))
    if len(spec) > MAX_DEPS:
        raise ValueError(_ctx("deps spec too large" if top else "dependency list too large", where, _prefix or None))
    nodes = []
    for key, dep in spec.items():
        if not isinstance(key, str):
            raise TypeError(_ctx("deps spec keys must be str", where, _prefix + "." + str(key) if _prefix else str(key)))
        path = _prefix + "." + key if _prefix else key
        if not _is_dep(dep):
            raise TypeError(_ctx("dependency must be Depends()", where, path))
        func, sub, mode = dep.get("callable"), dep.get("deps"), dep.get("mode", "value")
        try:
            _check_dep_fields(func, sub, mode)
        except (TypeError, ValueError) as exc:
            raise type(exc)(_ctx(str(exc), where, path)) from None
        scopes = _scopes + tuple(s for s in getattr(dep, "scopes", ()) if s not in _scopes)
        children = compile_deps(sub, where, _depth + 1, path, scopes) if sub else ()
        node = DepNode(key, func, mode, children, bool(getattr(dep, "use_cache", False)),
                       bool(getattr(dep, "throw_errors", False)), scopes, getattr(dep, "scope", None))
        _check_scope(node, where, path)
        from .signature import typed_plan  # late: signature imports this module

        skip = ({child.key for child in children} | set(node.request_args) | set(node.bg_args)
                | set(node.response_args) | set(node.scopes_args))
        node.typed = typed_plan(func, set(), skip, f"{where}, dependency {path!r}" if where else path,
                                allow_path=True)
        nodes.append(node)
    return tuple(nodes)


def _ctx(message: str, where: str, dep: Optional[str]) -> str:
    parts = [where] if where else []
    if dep is not None:
        parts.append(f"dependency {dep!r}")
    return f"{message} ({', '.join(parts)})" if parts else message


def merge_deps(*specs: Optional[Dict[str, Any]], where: str = "") -> Optional[Dict[str, Any]]:
    """Merges router/include/route deps in order; a repeated key is an error (docs/internals/framework.md)."""
    merged: Dict[str, Any] = {}
    for spec in specs:
        if not spec:
            continue
        for key, dep in spec.items():
            if key in merged:
                raise ValueError(_ctx("duplicate dependency key", where, key))
            merged[key] = dep
    return merged or None


# --- per request ---------------------------------------------------------------------------

#: (async?, generator, throw_errors, function scope?): the function-scoped entries are kept
#: together at the top (`_push`), so that they are torn down first, and a streamed path
#: operation can tear them down alone before it hands the rest over (route_pipeline.py)
Stack = List[Tuple[bool, Any, bool, bool]]


class DependencyOverrides(dict):  # type: ignore[type-arg]
    """`app.dependency_overrides` (FastAPI's): `{dependency callable: replacement}`, applied to
    every request from then on, wherever the dependency appears (docs/internals/framework.md,
    "Dependency overrides"). The replacement's own parameters are compiled once per use, on the
    first request that needs it; any change drops those compilations."""

    __slots__ = ("_nodes",)

    def __init__(self) -> None:
        super().__init__()
        self._nodes: Dict[Tuple[int, Any], DepNode] = {}

    def _changed(self) -> None:
        self._nodes.clear()

    def __setitem__(self, key: Any, value: Any) -> None:
        if not callable(value):
            raise TypeError("a dependency override must be callable")
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._changed()

    def clear(self) -> None:
        super().clear()
        self._changed()

    def pop(self, *args: Any) -> Any:
        value = super().pop(*args)
        self._changed()
        return value

    def popitem(self) -> Any:
        item = super().popitem()
        self._changed()
        return item

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def node_for(self, node: DepNode) -> Optional[DepNode]:
        """The node to resolve in `node`'s place, or None when its callable is not overridden."""
        try:
            replacement = self.get(node.call)
        except TypeError:  # an unhashable callable (an instance with __eq__ only)
            return None
        if replacement is None:
            return None
        key = (id(node), replacement)
        swap = self._nodes.get(key)
        if swap is None:
            from .signature import expand_depends  # late: signature imports this module

            # The declaration's `use_cache` holds for its replacement (FastAPI's rule): a
            # cached session dependency stays one session per request under an override.
            dep = expand_depends(Depends(replacement, use_cache=node.use_cache, scope=node.scope),
                                 "dependency_overrides")
            # FastAPI: the replacement is asked for the scopes the original was
            swap = compile_deps({node.key: dep}, "dependency_overrides", _scopes=node.scopes)[0]
            swap.throw_errors = node.throw_errors
            if not node.strict_content_type:  # the route's `strict_content_type=False` holds for it
                relax_content_type((swap,))
            self._nodes[key] = swap
        return swap


def relax_content_type(nodes: Any) -> None:
    """FastAPI's `strict_content_type=False` for the dependencies of one route
    (`routing.RoutePlan`): their bodies are read as JSON without a Content-Type too. Marked on
    each node, so that an override's replacement (`DependencyOverrides.node_for`) is as lax."""
    for node in nodes:
        node.strict_content_type = False
        if node.typed is not None:
            node.typed.strict_content_type = False
        relax_content_type(node.children)


#: the one app's overrides (one `ViperHTTP` per process); emptied by a new app
OVERRIDES = DependencyOverrides()


async def resolve(node: DepNode, request: Any, stack: Stack, cache: Optional[Dict[Any, Any]],
                  offload: bool = False) -> Any:
    """Resolves one dependency (sub-deps first) and returns its value (docs/internals/framework.md).

    Generator teardowns are pushed on `stack` as they enter; an exception stops resolution and
    the caller still unwinds what is on the stack (docs/internals/framework.md).
    """
    if OVERRIDES:
        node = OVERRIDES.node_for(node) or node
    if node.use_cache and cache is not None:
        hit = cache.get(node.cache_key, _ABSENT)
        if hit is not _ABSENT:
            return hit
    kwargs: Dict[str, Any] = {}
    if node.typed is not None:
        node.typed.fill(request, kwargs)
    for child in node.children:
        kwargs[child.key] = await resolve(child, request, stack, cache, offload)
    # Names no child value takes, computed in DepNode.__init__ (so no `in kwargs` test here).
    for name in node.request_args:
        kwargs[name] = request
    if node.bg_args:
        tasks = for_request(request)
        for name in node.bg_args:
            kwargs[name] = tasks
    for name in node.response_args:
        kwargs[name] = sub_response_for(request)
    for name in node.scopes_args:
        kwargs[name] = SecurityScopes(list(node.scopes))
    if offload and node.sync_value:
        # A thread-pool route (docs/internals/typed-api.md): plain sync dependencies run in the pool
        # too; generators stay inline (their teardown must run on this thread's stack).
        from .threadpool import run_sync

        result = await run_sync(node.call, kwargs)
    else:
        result = node.call(**kwargs)
    mode = node.mode
    if mode == "value":
        if inspect.isasyncgen(result):
            value = await _enter_async(result, stack, node)
        elif inspect.isgenerator(result):
            # (decision, docs/internals/framework.md) the original passes the generator object on; treated as
            # `yield`.
            value = _enter_sync(result, stack, node)
        elif inspect.isawaitable(result):
            value = await result
        else:
            value = result
    elif mode == "yield":
        if inspect.isasyncgen(result):
            raise TypeError("dependency mode=yield does not accept async generator")
        if not inspect.isgenerator(result):
            raise TypeError("dependency mode=yield requires generator")
        value = _enter_sync(result, stack, node)
    else:
        if not inspect.isasyncgen(result):
            raise TypeError("dependency mode=async_yield requires async generator")
        value = await _enter_async(result, stack, node)
    if node.use_cache and cache is not None:
        cache[node.cache_key] = value
    return value


def _enter_sync(gen: Any, stack: Stack, node: DepNode) -> Any:
    try:
        value = next(gen)
    except StopIteration:
        raise RuntimeError("dependency generator did not yield") from None
    _push(stack, (False, gen, node.throw_errors, node.function_scope))
    return value


async def _enter_async(agen: Any, stack: Stack, node: DepNode) -> Any:
    try:
        value = await agen.__anext__()
    except StopAsyncIteration:
        raise RuntimeError("dependency async generator did not yield") from None
    _push(stack, (True, agen, node.throw_errors, node.function_scope))
    return value


def _push(stack: Stack, entry: Tuple[bool, Any, bool, bool]) -> None:
    """FastAPI keeps two exit stacks, the function's closed first: here one list whose
    function-scoped entries stay on top (a request-scoped one goes in below them)."""
    if entry[3] or not stack or not stack[-1][3]:
        stack.append(entry)
        return
    at = len(stack)
    while at and stack[at - 1][3]:
        at -= 1
    stack.insert(at, entry)


def function_scoped(stack: Stack) -> Stack:
    """Takes the function-scoped entries off the top of `stack` and returns them."""
    at = len(stack)
    while at and stack[at - 1][3]:
        at -= 1
    top = stack[at:]
    del stack[at:]
    return top


async def teardown(stack: Stack, error: Optional[BaseException] = None) -> Optional[Exception]:
    """Finishes every entered generator, newest first (docs/internals/framework.md, "Teardown");
    returns the exception the request ends with, or None. All teardowns run.

    The original's dependencies (`deps={...}`) are resumed once (`next`), failure or not: the
    code after their `yield` always runs, their `except` clauses never see the handler's
    exception. A dependency declared the FastAPI way (`throw_errors`) gets the handler's (or
    resolution's) exception `error` thrown in at its `yield`, as in FastAPI: its `except`
    clauses see it (a rollback), `finally` blocks run. One that raises another exception
    replaces `error` for the older ones and for the response (an `HTTPException` made from a
    database error); one that swallows it leaves `error` standing: the request still failed.
    Without `error`, the first teardown failure is returned.
    """
    first: Optional[Exception] = None
    current = error if isinstance(error, Exception) else None
    while stack:
        is_async, gen, throw_errors, _function = stack.pop()
        thrown = current if throw_errors else None
        try:
            if is_async:
                try:
                    if thrown is not None:
                        await gen.athrow(thrown)
                    else:
                        await gen.__anext__()
                except StopAsyncIteration:
                    continue
                await gen.aclose()
                raise RuntimeError("dependency async generator must yield exactly once")
            try:
                if thrown is not None:
                    gen.throw(thrown)
                else:
                    next(gen)
            except StopIteration:
                continue
            gen.close()
            raise RuntimeError("dependency generator must yield exactly once")
        except Exception as exc:
            if current is not None:
                # the thrown exception re-raised, or what the dependency made of it; a failure
                # of a resumed teardown does not replace the handler's (it wins, as before)
                current = exc if thrown is not None else current
            elif first is None:
                first = exc
    return current if current is not None else first
