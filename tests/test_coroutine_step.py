"""The eager start's native first step, `_native._step_coroutine` (docs/internals/bridge.md,
"Eager start"): every way a coroutine's first step can end, and the context it runs in.

In-process on purpose: it is one native function with no server behind it; the bridge's use
of it is tested over real sockets in tests/test_bridge_workers.py.
"""
from __future__ import annotations

import contextvars
import types

import pytest

from viperhttp import _native

step = _native._step_coroutine
VAR: contextvars.ContextVar = contextvars.ContextVar("step_test", default="outer")


@types.coroutine
def _pause(value):
    return (yield value)


async def _returns(value):
    return value


async def _reads_var():
    return VAR.get()


async def _raises():
    raise KeyError("k")


async def _suspends():
    got = await _pause("waiting")
    return got + VAR.get()


async def _sets_var():
    VAR.set("set inside")
    return VAR.get()


@pytest.mark.parametrize("value", [{"msg": "ok"}, None, "text", 0, (1, 2), (), ValueError("as a value"),
                                   StopIteration("nested")],
                         ids=["dict", "none", "str", "zero", "tuple", "empty-tuple", "exception", "stopiteration"])
def test_a_coroutine_that_returns_gives_none_and_its_value(value):
    # Tuples and exception instances are the values CPython wraps in an instantiated StopIteration.
    ctx, result = step(_returns(value), VAR, "request")
    assert ctx is None
    assert result is value


def test_the_variable_is_set_inside_and_only_inside():
    assert step(_reads_var(), VAR, "request") == (None, "request")
    assert VAR.get() == "outer"
    assert step(_sets_var(), VAR, "request") == (None, "set inside")
    assert VAR.get() == "outer"  # a fresh context: what the handler set stays there


def test_an_exception_propagates_as_itself():
    with pytest.raises(KeyError, match="k"):
        step(_raises(), VAR, "request")
    assert VAR.get() == "outer"


def test_a_suspension_gives_the_context_to_resume_in():
    coro = _suspends()
    ctx, yielded = step(coro, VAR, "request")
    assert isinstance(ctx, contextvars.Context) and yielded == "waiting"
    assert ctx[VAR] == "request" and VAR.get() == "outer"
    with pytest.raises(StopIteration) as done:
        ctx.run(coro.send, "resumed-")
    assert done.value.value == "resumed-request"


def test_wrong_arguments_are_type_errors_not_crashes():
    coro = _returns(1)
    with pytest.raises(TypeError):
        step(coro, "not a ContextVar", "request")
    coro.close()
    with pytest.raises(AttributeError):
        step(object(), VAR, "request")
    # A finished coroutine cannot be stepped again: the interpreter's own RuntimeError.
    coro = _returns(1)
    assert step(coro, VAR, "request") == (None, 1)
    with pytest.raises(RuntimeError):
        step(coro, VAR, "request")
