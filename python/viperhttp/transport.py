"""The original's low-level transport functions (docs/internals/tls-http2.md#low-level-functions).

`viperhttp.start(port, https, cert_pem, key_pem, http2, http2_max_streams)` starts the native
runtime alone (a hand-written bridge loop then polls it); `configure_https` / `configure_http2`
store settings that a later `start()` uses when its own `https` / `http2` argument is None;
`https_status()` / `http2_status()` report what is configured and what is active. `app.run()` does
not read the stored settings: its keywords are the whole configuration (docs/guide/deployment.md).
"""
from __future__ import annotations

import errno
from typing import Any, Dict, Optional, Union

from . import _native

Pem = Union[str, bytes, None]

#: the defaults of the original: no TLS, HTTP/2 off with 8 streams
_HTTPS: Dict[str, Any] = {"enabled": False, "cert_pem": None, "key_pem": None}
_HTTP2: Dict[str, Any] = {"enabled": False, "max_streams": 8}


def _refuse_while_running() -> None:
    if _native.is_running():
        raise OSError(errno.EBUSY, "server running: stop it before reconfiguring")


def _check_streams(max_streams: Any) -> int:
    if isinstance(max_streams, bool) or not isinstance(max_streams, int):
        raise TypeError("http2_max_streams must be an int")
    if not 0 <= max_streams <= 64:
        raise ValueError("http2_max_streams out of range")
    return max_streams


def configure_https(https_enabled: bool = False, cert_pem: Pem = None, key_pem: Pem = None) -> None:
    """Store the TLS settings for the next `start()` whose `https` is None; `OSError(EBUSY)`
    while the server runs. A missing certificate or key is reported by that `start()`."""
    _refuse_while_running()
    _HTTPS.update(enabled=bool(https_enabled), cert_pem=cert_pem, key_pem=key_pem)


def configure_http2(http2_enabled: bool = False, max_streams: int = 8) -> None:
    """Store the HTTP/2 settings for the next `start()` whose `http2` is None; `OSError(EBUSY)`
    while the server runs; `max_streams` 0..64 (0 means 8)."""
    _refuse_while_running()
    _HTTP2.update(enabled=bool(http2_enabled), max_streams=_check_streams(max_streams))


def https_status() -> Dict[str, bool]:
    """`configured`: TLS is set up (stored with a certificate and key, or running with TLS);
    `active`: the running server speaks TLS."""
    active = bool(_native.https_status()["active"])
    stored = _HTTPS["enabled"] and _HTTPS["cert_pem"] is not None and _HTTPS["key_pem"] is not None
    return {"configured": bool(stored) or active, "active": active}


def http2_status() -> Dict[str, Any]:
    """`configured` / `active` as `https_status()`, and the streams limit in force (running)
    or stored (not running)."""
    native = _native.http2_status()
    active = bool(native["active"])
    running = _native.is_running()
    streams = native["max_streams"] if running else _HTTP2["max_streams"]
    return {"configured": bool(_HTTP2["enabled"]) or active, "active": active,
            "max_streams": streams or 8}


def start(port: int = 8080, https: Optional[bool] = None, cert_pem: Pem = None, key_pem: Pem = None,
          http2: Optional[bool] = None, http2_max_streams: int = 8, *, host: str = "0.0.0.0",
          **runtime_knobs: Any) -> int:
    """Start the native runtime (no bridge); returns the bound port.

    `https=None` takes the `configure_https` settings, `http2=None` the `configure_http2` ones.
    A certificate or key without the `https` flag, or a non-default `http2_max_streams` without
    the `http2` flag, is a `ValueError` (the original's rule: say what you mean). Other keywords
    are the runtime knobs of `run()` (`max_body_size=`, `reuse_port=`, …)."""
    if https is None and (cert_pem is not None or key_pem is not None):
        raise ValueError("set https flag when passing cert_pem/key_pem")
    _check_streams(http2_max_streams)
    if http2 is None and http2_max_streams != 8:
        raise ValueError("set http2 flag when passing http2_max_streams")
    if https is None:
        https, cert_pem, key_pem = _HTTPS["enabled"], _HTTPS["cert_pem"], _HTTPS["key_pem"]
    if http2 is None:
        http2, http2_max_streams = _HTTP2["enabled"], _HTTP2["max_streams"]
    knobs = dict(runtime_knobs)
    if https:
        knobs.update(https=True, tls_cert_pem=cert_pem, tls_key_pem=key_pem)
    knobs.update(http2=bool(http2), http2_max_streams=http2_max_streams)
    return int(_native.start(host=host, port=port, **knobs))
