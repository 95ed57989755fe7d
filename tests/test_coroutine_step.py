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


def run(coro, value="request"):
    ctx = contextvars.copy_context()
    return ctx, step(coro, ctx, VAR, value)


@pytest.mark.parametrize("value", [{"msg": "ok"}, None, "text", 0, (1, 2), (), ValueError("as a value"),
                                   StopIteration("nested")],
                         ids=["dict", "none", "str", "zero", "tuple", "empty-tuple", "exception", "stopiteration"])
def test_a_coroutine_that_returns_gives_true_and_its_value(value):
    # Tuples and exception instances are the values CPython wraps in an instantiated StopIteration.
    _, (done, result) = run(_returns(value))
    assert done is True
    assert result is value


def test_the_variable_is_set_inside_the_given_context_only():
    assert run(_reads_var())[1] == (True, "request")
    assert VAR.get() == "outer"
    ctx, out = run(_sets_var())
    assert out == (True, "set inside") and VAR.get() == "outer"
    assert ctx[VAR] == "set inside"  # what the handler set stays in its context


def test_an_exception_propagates_and_the_context_keeps_the_step_s_state():
    ctx = contextvars.copy_context()
    with pytest.raises(KeyError, match="k"):
        step(_raises(), ctx, VAR, "request")
    assert VAR.get() == "outer" and ctx[VAR] == "request"  # an error handler can run in it


def test_a_suspension_is_resumed_in_the_same_context():
    coro = _suspends()
    ctx, (done, yielded) = run(coro)
    assert done is False and yielded == "waiting"
    assert ctx[VAR] == "request" and VAR.get() == "outer"
    with pytest.raises(StopIteration) as finished:
        ctx.run(coro.send, "resumed-")
    assert finished.value.value == "resumed-request"


def test_wrong_arguments_are_errors_not_crashes():
    coro = _returns(1)
    with pytest.raises(TypeError):
        step(coro, contextvars.copy_context(), "not a ContextVar", "request")
    with pytest.raises(TypeError):
        step(coro, "not a Context", VAR, "request")
    coro.close()
    with pytest.raises(AttributeError):
        run(object())
    ctx, coro = contextvars.copy_context(), _returns(1)
    with pytest.raises(RuntimeError):  # a context cannot be entered twice
        ctx.run(step, coro, ctx, VAR, "request")
    coro.close()
    # A finished coroutine cannot be stepped again: the interpreter's own RuntimeError.
    coro = _returns(1)
    assert run(coro)[1] == (True, 1)
    with pytest.raises(RuntimeError):
        run(coro)
