"""`run()` keywords: which side owns each, and the bridge knobs' clamping rules
(docs/internals/architecture.md#knobs: bridge knobs clamp silently, never raise)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from viperhttp import _native

#: Runtime knobs, validated natively by `_native.start`. The list lives once, in the binding
#: (crates/viperhttp-py/src/knobs.rs, each knob named as its Rust field); see
#: docs/internals/architecture.md, "Knobs".
RUNTIME_KNOBS = frozenset(_native.RUNTIME_KNOBS)

#: Keywords accepted by `run()` for features of other subsystems (docs, OTA,
#: scale-out). They are accepted so apps written for the original run;
#: those that have no effect yet are listed in docs/internals/bridge.md.
ACCEPTED_ELSEWHERE = frozenset({
    "ota", "ota_prefix", "ota_token", "ota_token_header",
    "ota_token_query", "ota_dir", "ota_slot_size", "auto_docs", "title", "version", "description",
    "openapi_url", "docs_url", "redoc_url", "include_websocket_docs", "cache_schema", "servers",
    "swagger_ui_oauth2_redirect_url", "swagger_ui_init_oauth", "swagger_ui_parameters",
    "workers",
})


#: the worker pool when `run()` names neither bound (host mapping, see `clamp_bridge_knobs`)
DEFAULT_MIN_WORKERS = 4
DEFAULT_MAX_WORKERS = 256


@dataclass(frozen=True)
class BridgeKnobs:
    """The clamped `bridge_*` settings (docs/internals/architecture.md#knobs)."""

    min_workers: int = 4
    max_workers: int = 256
    queue_size: int = 256
    autoscale: bool = True
    #: a request no worker is free for starts one at once (the host default pool, and
    #: `bridge_grow_on_demand=True`); a pool sized by `run()` otherwise grows by the original's
    #: scaler alone (`bridge_scale_up_max_burst`)
    grow_on_demand: bool = True
    enqueue_wait_ms: int = 8
    worker_yield_every: int = 4
    scale_up_max_burst: int = 4
    poll_burst: int = 4
    idle_sleep_ms: int = 1


def _int(value: Any) -> int:
    return int(value)  # non-integers raise TypeError/ValueError from int(), as the original


def clamp_bridge_knobs(kw: Dict[str, Any]) -> BridgeKnobs:
    """Apply the documented defaults and clamps; pops the bridge keys from `kw`."""
    def take(name: str) -> Optional[int]:
        v = kw.pop(name, None)
        return None if v is None else _int(v)

    mn, mx = take("bridge_min_workers"), take("bridge_max_workers")
    on_demand = mn is None and mx is None
    if on_demand:
        # (host mapping, docs/internals/bridge.md#worker-model) the device's fixed 4 workers
        # bounded its RAM; on a computer a suspended handler costs a few KiB, so by default up
        # to 256 wait at once (FastAPI has no bound at all), started as requests need them.
        mn, mx = DEFAULT_MIN_WORKERS, DEFAULT_MAX_WORKERS
    elif mn is None:
        mn = mx
    elif mx is None:
        mx = mn
    assert mn is not None and mx is not None
    mn = max(1, mn)
    mx = max(mn, mx)
    queue = take("bridge_queue_size")
    queue = max(mx, 16 if queue is None else queue)
    grow_kw = kw.pop("bridge_grow_on_demand", None)
    autoscale_kw = kw.pop("bridge_autoscale", None)
    autoscale = (mx > mn) if autoscale_kw is None else bool(autoscale_kw)
    if mn == mx:
        autoscale = False
    if not autoscale:
        mx = mn  # explicit False with min < max: a fixed pool of min workers (decision)
    wait = take("bridge_enqueue_wait_ms")
    yield_every = take("bridge_worker_yield_every")
    burst = take("bridge_scale_up_max_burst")
    poll_burst = take("bridge_poll_burst")
    idle = take("bridge_idle_sleep_ms")
    return BridgeKnobs(
        min_workers=mn,
        max_workers=mx,
        queue_size=queue,
        autoscale=autoscale,
        grow_on_demand=autoscale and (on_demand if grow_kw is None else bool(grow_kw)),
        enqueue_wait_ms=max(0, 8 if wait is None else wait),
        worker_yield_every=max(1, 4 if yield_every is None else yield_every),
        scale_up_max_burst=max(1, 4 if burst is None else burst),
        poll_burst=max(1, 4 if poll_burst is None else poll_burst),
        idle_sleep_ms=max(0, 1 if idle is None else idle),
    )


def split_run_kwargs(kw: Dict[str, Any]) -> Tuple[BridgeKnobs, Dict[str, Any], Dict[str, Any]]:
    """Split `run()` keywords into (bridge knobs, runtime knobs, other accepted ones).
    Unknown keywords raise TypeError (docs/internals/bridge.md#start-and-stop)."""
    kw = dict(kw)
    bridge = clamp_bridge_knobs(kw)
    runtime: Dict[str, Any] = {}
    other: Dict[str, Any] = {}
    for name, value in kw.items():
        if name in RUNTIME_KNOBS:
            runtime[name] = value
        elif name in ACCEPTED_ELSEWHERE:
            other[name] = value
        else:
            raise TypeError(f"run() got an unexpected keyword argument '{name}'")
    return bridge, runtime, other
