"""Reading a handler's signature without pydantic: markers, `Depends`, and whether it is typed.

Owns the registration-time question "does this route need the typed machinery?"
(docs/internals/typed-api.md "How a parameter is classified"). `typed.py` and `typed_response.py`
build their plans with pydantic; this module decides, with the standard library only, whether
they are needed at all, so an app whose routes declare nothing typed never imports pydantic
(docs/internals/benchmarks.md "Memory": pydantic and pydantic-core cost about 7 MiB of RSS).
"""
from __future__ import annotations

import inspect
import sys
import typing
from typing import Any, Dict, List, Optional, Tuple

from .background import BackgroundTasks
from .deps import Depends, SecurityScopes
from .forms import UploadFile
from .params import Param, Query
from .request import Request
from .responses import Response

__all__ = ["Annotated", "return_hint", "TypedParam", "typed_params", "typed_plan", "signature_deps", "expand_depends",
           "names_model", "is_pydantic_model", "resolve_hints"]

Annotated = typing.Annotated
_EMPTY = inspect.Parameter.empty

#: (parameter with its resolved annotation, annotation without `Annotated`, marker or None,
#: `Depends` or None): one parameter the typed plan handles.
TypedParam = Tuple[inspect.Parameter, Any, Any, Any]


def is_pydantic_model(tp: Any) -> bool:
    """`tp` is a pydantic model class. Without importing pydantic: a `BaseModel` subclass can
    only exist once `pydantic.main` has been imported by whoever defined it."""
    main = sys.modules.get("pydantic.main")
    return main is not None and isinstance(tp, type) and issubclass(tp, main.BaseModel)


def _is_dataclass_type(tp: Any) -> bool:
    # `dataclasses.is_dataclass` for a class, without importing `dataclasses` for every app.
    return isinstance(tp, type) and hasattr(tp, "__dataclass_fields__")


def is_union(tp: Any) -> bool:
    """`Union[A, B]`, `Optional[A]` or `A | B`."""
    return typing.get_origin(tp) is typing.Union or type(tp).__name__ == "UnionType"


def strip_annotated(tp: Any) -> Any:
    """`Annotated[T, ...]` → `T` (the metadata stays on the hint pydantic validates with)."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def has_metadata(tp: Any) -> bool:
    """True when `tp`, or the `T` of `Optional[T]`, is an `Annotated[...]` with metadata
    (constraints, validators): such a value must go through pydantic, never the fast path."""
    if typing.get_origin(tp) is Annotated:
        return True
    return is_union(tp) and any(typing.get_origin(a) is Annotated for a in typing.get_args(tp))


def unwrap_optional(tp: Any) -> Any:
    """`Optional[T]` / `T | None` → `T`, and `Annotated[T, ...]` → `T`; anything else unchanged.
    For deciding what kind of value a parameter is; pydantic gets the whole hint."""
    tp = strip_annotated(tp)
    if is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return strip_annotated(args[0])
    return tp


def is_upload(tp: Any) -> bool:
    """`UploadFile`, optionally inside `Optional`/`list`/`tuple`."""
    tp = unwrap_optional(tp)
    if typing.get_origin(tp) in (list, tuple) and typing.get_args(tp):
        tp = typing.get_args(tp)[0]
    return tp is UploadFile


def _is_injected(param: inspect.Parameter, hint: Any) -> bool:
    # A `Response` annotation is FastAPI's sub-response parameter, never a query value.
    return (param.name in ("request", "background_tasks") or hint in (Request, BackgroundTasks)
            or (isinstance(hint, type) and issubclass(hint, (Request, BackgroundTasks, Response, SecurityScopes))))


def marker_of(param: inspect.Parameter) -> Tuple[Any, Any, Any]:
    """(annotation, marker or None, Depends or None) from `Annotated[...]` and the default.

    A marker inside `Annotated` carries no default (FastAPI's rule): the parameter's own
    default is then the default, so the marker is returned as `InAnnotated(marker, default)`."""
    hint = param.annotation
    marker: Any = None
    dep: Any = None
    if typing.get_origin(hint) is Annotated:
        args = typing.get_args(hint)
        rest = []
        for extra in args[1:]:
            if isinstance(extra, Depends):
                dep = extra
            elif isinstance(extra, (Param, Query)):
                marker = InAnnotated(extra, param.default)
            else:
                rest.append(extra)  # constraints, validators, a discriminator: pydantic's
        # The metadata that is not ours stays on the hint, so pydantic applies it (dropping it
        # let `Annotated[int, Field(lt=5)]`, `PositiveInt` and `AfterValidator(...)` through).
        hint = Annotated[(args[0], *rest)] if rest else args[0]
    default = param.default
    if isinstance(default, Depends):
        dep = default
    elif isinstance(default, (Param, Query)):
        marker = default
    return hint, marker, dep


class InAnnotated:
    """A marker from `Annotated[T, Query(...)]` with the parameter's default."""

    __slots__ = ("source", "options", "default", "marker")

    def __init__(self, marker: Any, default: Any) -> None:
        self.marker = marker
        self.source = marker.source
        self.options = marker.options
        self.default = ... if default is _EMPTY else default


class _Annotations:
    """One annotation on its own, for `typing.get_type_hints` (see `resolve_hints`)."""

    def __init__(self, name: str, annotation: Any) -> None:
        self.__annotations__ = {name: annotation}


def resolve_hints(func: Any) -> Tuple[Dict[str, Any], Dict[str, BaseException]]:
    """`func`'s annotations resolved, and why those that could not be were not.

    With `from __future__ import annotations` every annotation is a string, resolved here in the
    function's module. `typing.get_type_hints` fails as a whole when one of them does not resolve
    (a type imported under `if TYPE_CHECKING:`, a class local to a function): then each is
    resolved on its own, as FastAPI does, so one such parameter (typically a dependency's, whose
    type nobody reads) neither drops the others' `Query(le=...)` nor gives the whole route an
    obscure pydantic error. An unresolved annotation stays its string
    (docs/internals/typed-api.md "How a parameter is classified")."""
    try:
        return typing.get_type_hints(func, include_extras=True), {}
    except Exception:
        pass
    raw = getattr(func, "__annotations__", None)
    if not isinstance(raw, dict):
        return {}, {}
    globalns = getattr(inspect.unwrap(func), "__globals__", {})  # where get_type_hints itself looks
    hints: Dict[str, Any] = {}
    errors: Dict[str, BaseException] = {}
    for name, annotation in raw.items():
        try:
            hints.update(typing.get_type_hints(_Annotations(name, annotation), globalns=globalns,
                                               include_extras=True))
        except Exception as exc:
            hints[name] = annotation
            errors[name] = exc
    return hints, errors


def annotation_error(name: str, annotation: Any, exc: BaseException, where: str) -> TypeError:
    """The registration error for a parameter whose annotation could not be resolved."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    hint = ""
    if isinstance(exc, NameError):
        hint = ("; with `from __future__ import annotations` it is looked up in the module when the "
                "route is registered: import the type at module level (not under `if TYPE_CHECKING:`), "
                "not inside a function")
    return TypeError(f"the annotation {text!r} of parameter {name!r} cannot be resolved "
                     f"({where}): {type(exc).__name__}: {exc}{hint}")


def _target(func: Any) -> Any:
    """What to introspect: a class's `__init__`, a callable object's `__call__`."""
    if inspect.isclass(func):
        return func.__init__
    if not (inspect.isfunction(func) or inspect.ismethod(func)) and hasattr(func, "__call__"):
        return func.__call__
    return func


def return_hint(handler: Any) -> Any:
    """`handler`'s return annotation, resolved (despite a parameter's unresolved type), read
    where its parameters are (`_target`): a callable instance's is its `__call__`'s, as FastAPI
    reads it (`inspect.signature`), and a `functools.partial`'s is its function's. The one reader
    behind the response model, the inferred `APIRoute.response_model` and a streamed path
    operation's item type. Through `functools.wraps` wrappers too, as `inspect.signature`."""
    from .callables import unwrapped

    return resolve_hints(_target(unwrapped(handler)))[0].get("return")


def _params(func: Any, skip_first: bool,
            errors: Optional[Dict[str, BaseException]] = None) -> List[Tuple[inspect.Parameter, Any]]:
    """(parameter, resolved annotation) pairs, string annotations resolved; why an annotation
    could not be resolved goes into `errors` (the annotation stays its string)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    hints, failed = resolve_hints(_target(func))
    if errors is not None:
        errors.update(failed)
    params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if skip_first and params:
        params = params[1:]
    return [(p.replace(annotation=hints.get(p.name, p.annotation)), hints.get(p.name, p.annotation))
            for p in params]


def _name_of(func: Any) -> str:
    return f"function {getattr(func, '__qualname__', repr(func))}"


def typed_params(handler: Any, skip: set, skip_first: bool = False,
                 allow_path: bool = False, where: str = "") -> Optional[List[TypedParam]]:
    """The parameters a typed plan handles, or None when the handler declares nothing typed.

    Left to the original mechanisms: names in `skip` (`query={...}` entries, `deps={...}` keys),
    the injected request / background tasks, and unannotated parameters without a marker (the
    query string value as a string). With `allow_path` (a dependency's own signature) a
    `Depends` is already one of its `deps=` children. Everything else makes the route typed.
    """
    out: List[TypedParam] = []
    errors: Dict[str, BaseException] = {}
    for param, _ in _params(handler, skip_first, errors):
        if param.name in skip:
            continue
        hint, marker, dep = marker_of(param)
        exc = errors.get(param.name)
        # A missing name is harmless where nothing reads the type (a `Depends` default, the
        # injected `request` found by its name); anything else would reach pydantic as a string
        # and fail there obscurely, or raised while evaluated (`Annotated[Form, Depends()]`).
        if exc is not None and not (isinstance(exc, NameError)
                                    and (dep is not None or _is_injected(param, hint))):
            raise annotation_error(param.name, param.annotation, exc, where or _name_of(handler)) from exc
        if dep is not None:
            if allow_path:
                continue
            out.append((param, hint, marker, dep))
            continue
        if marker is None and (_is_injected(param, hint) or hint is _EMPTY):
            continue
        out.append((param, hint, marker, dep))
    return out or None


def typed_plan(handler: Any, path_names: set, skip: set, where: str, skip_first: bool = False,
               allow_path: bool = False, body_model: Optional[str] = None) -> Any:
    """`typed.compile_typed`, importing pydantic only for a handler that declares something typed
    (`body_model`: `typed.build_plan`'s)."""
    entries = typed_params(handler, skip, skip_first, allow_path, where)
    if entries is None:
        return None
    from .typed import build_plan  # pydantic: loaded by the first typed route, not by `import viperhttp`

    return build_plan(entries, path_names, where, allow_path, body_model)


def signature_deps(func: Any, where: str, _depth: int = 0) -> Dict[str, Any]:
    """The `Depends` declared in `func`'s signature as an original-style deps spec, recursively.

    A `Depends(f)` without an explicit `deps=` gets the sub-dependencies of `f`'s own
    signature, so nested `Depends` defaults form the same tree `deps={...}` builds.
    """
    spec: Dict[str, Any] = {}
    if _depth > 8:
        raise ValueError(f"dependency chain too deep ({where})")
    for param, _ in _params(func, False):
        _, _, dep = marker_of(param)
        if dep is not None:
            spec[param.name] = expand_depends(dep, where, _depth + 1)
    return spec


def expand_depends(dep: Any, where: str, _depth: int = 0) -> Any:
    """`dep`, declared the FastAPI way (a parameter's default or `Annotated`, or
    `dependencies=[...]`), as the spec the route compiles: `deps=` filled from its callable's
    signature when none was given, and marked to tear down as FastAPI does (`deps.teardown`).
    A copy: the same `Depends` object may also appear in an original-style `deps={...}`."""
    sub = dep.get("deps")
    if sub is None:
        sub = signature_deps(dep["callable"], where, _depth) or None
    out = Depends(dep["callable"], sub, mode=dep["mode"], use_cache=dep.use_cache,
                  scope=getattr(dep, "scope", None))
    out.throw_errors = True
    out.scopes = dep.scopes
    return out


def names_model(tp: Any) -> bool:
    """A return annotation naming a model: a pydantic model or a dataclass, possibly inside
    `list[...]`/`Optional[...]` (docs/internals/typed-api.md "Return values")."""
    origin = typing.get_origin(tp)
    if origin is not None:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if origin in (list, tuple, set, frozenset) or is_union(tp):
            return bool(args) and all(names_model(a) for a in args if a is not Ellipsis)
        return False
    return is_pydantic_model(tp) or _is_dataclass_type(tp)
