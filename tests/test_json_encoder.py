"""The native JSON encoder (crates/viperhttp-py/src/json.rs, docs/internals/bridge.md
"Decisions on serialisation") gives exactly the bytes of
`json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()`.

Floats are formatted natively (ryu's digits, CPython's `repr` layout) instead of calling
`float.__repr__`: these tests compare the two for the layout's edges and for random bit patterns.
"""
from __future__ import annotations

import json
import math
import random
import struct

import pytest

from viperhttp import _native


def stdlib(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


EDGES = [
    0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1.5, 2.5, 1 / 3, 2 / 3, 100.0, 123456.789,
    # positional up to 16 digits before the point, exponent from 17 on
    1e15, 1e16, 9999999999999998.0, 1e17, 12345678901234567890.0, 1.5e16, 1.5e17,
    # positional down to 1e-4, exponent from 1e-5 on; two exponent digits at least
    1e-4, 1.5e-4, 1e-5, 1.5e-5, 0.00012345, 1e-9, 1e-10, 1e-99, 1e-100, 1e99, 1e100,
    5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
    0.30000000000000004, 4.35, 2 ** 52 + 0.5, float(2 ** 53), float(2 ** 63), 1e22, 1e23,
]


@pytest.mark.parametrize("value", EDGES, ids=repr)
def test_float_edges_match_repr(value):
    assert _native.json_dumps(value) == stdlib(value) == repr(value).encode()
    assert _native.json_dumps([value, -value]) == stdlib([value, -value])


def test_random_bit_patterns_match_repr():
    rng = random.Random(20261206)
    wrong = []
    for _ in range(200_000):
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if not math.isfinite(value):
            continue
        if _native.json_dumps(value) != repr(value).encode():
            wrong.append(value)
    assert wrong == [], [repr(v) for v in wrong[:10]]


def test_random_decimal_floats_match_repr():
    # Short decimals (prices, scores) are what handlers return most; their digits are the
    # cases where a shortest-digits algorithm could differ in the last place.
    rng = random.Random(7)
    for _ in range(100_000):
        value = round(rng.uniform(-1e6, 1e6), rng.randint(0, 8)) * 10.0 ** rng.randint(-30, 30)
        assert _native.json_dumps(value) == repr(value).encode(), repr(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=repr)
def test_non_finite_floats_raise_as_json_does(value):
    with pytest.raises(ValueError) as native:
        _native.json_dumps({"x": value})
    with pytest.raises(ValueError) as python:
        stdlib({"x": value})
    assert str(native.value) == str(python.value)


def test_float_subclass_is_written_as_json_does():
    class Price(float):
        def __repr__(self) -> str:
            return "Price!"

    assert _native.json_dumps([Price(1.5)]) == stdlib([Price(1.5)])


def test_mixed_document_matches_stdlib():
    doc = {"id": 42, "name": "user", "email": "user@example.com", "active": True, "score": 1.5,
           "verbose": False, "roles": ["a", "b"], "team": None, "ratio": 1e-7, "big": 2 ** 70,
           "text": "zażółć \"quoted\" \\ \n\t\x01", "nested": [{"f": -0.0}, (1, 2.25)]}
    assert _native.json_dumps(doc) == stdlib(doc)


@pytest.mark.parametrize("doc", [
    {}, {"": ""}, {"a": {}}, {1: "int key"}, {None: 1, True: 2, 1.5: 3}, {"a": 1, 2: "mixed keys"},
    {"nested": {"deeper": {"deepest": [1, {"k": "v"}]}}},
    {"k" * 300: "v" * 3000},
], ids=repr)
def test_dicts_match_stdlib(doc):
    # Non-str keys are not written natively: the whole document goes to the stdlib call.
    assert _native.json_dumps(doc) == stdlib(doc)


def test_deep_nesting_and_dict_subclasses_match_stdlib():
    deep: dict = {}
    node = deep
    for _ in range(100):  # past the native depth limit: the stdlib writes it
        node["n"] = {}
        node = node["n"]
    assert _native.json_dumps(deep) == stdlib(deep)

    class Ordered(dict):
        pass

    doc = {"outer": Ordered(b=1, a=2)}
    assert _native.json_dumps(doc) == stdlib(doc)


def test_a_collection_during_the_walk_cannot_free_what_is_being_encoded():
    """A big int used to go through an OverflowError, whose creation can start a garbage
    collection on 3.10/3.11, and a finaliser that empties the dict then ran mid-walk: PyO3's
    dict iterator panicked (a 500), and a borrowed-reference walk tried for a while read the
    freed value (a stale number and a missing key, or a crash)."""
    import gc

    class Clears:
        def __del__(self):
            target.clear()

    big = int("1" * 25)
    target = {"a": big, "b": 2}
    threshold = gc.get_threshold()
    gc.collect()
    cycle = Clears()
    cycle.self = cycle
    del cycle
    gc.set_threshold(1)
    try:
        out = _native.json_dumps(target)
    finally:
        gc.set_threshold(*threshold)
        gc.collect()
    # Either the whole dict as it was, or (had a collection run mid-walk) what the stdlib makes
    # of it afterwards; never a stale value.
    assert out in (b'{"a":1111111111111111111111111,"b":2}', b"{}"), out


@pytest.mark.parametrize("value", [2 ** 63 - 1, -2 ** 63, 2 ** 63, -2 ** 63 - 1, 10 ** 100, -10 ** 100, 0, -1],
                         ids=repr)
def test_ints_at_and_past_64_bits_match_stdlib(value):
    assert _native.json_dumps({"n": value, "l": [value]}) == stdlib({"n": value, "l": [value]})
