"""The OTA HTTP endpoints (docs/internals/ota.md): token check, input fields, JSON errors."""
from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl

from viperhttp.app import framework_routes
from viperhttp.responses import JSONResponse

__all__ = ["install_ota_routes", "normalize_prefix"]

log = logging.getLogger("viperhttp.ota")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def normalize_prefix(prefix: Any) -> str:
    """Blank → `/ota`; a leading `/` added; one trailing `/` removed."""
    if prefix is None or not str(prefix).strip():
        return "/ota"
    prefix = str(prefix).strip()
    if not prefix.startswith("/"):
        prefix = "/" + prefix
    if len(prefix) > 1 and prefix.endswith("/"):
        prefix = prefix[:-1]
    return prefix or "/ota"


def _bool(value: Any, default: bool) -> bool:
    """JSON true/false, the integers 0 and 1, or the spellings `1/true/yes/on` and
    `0/false/no/off` (case-insensitive); anything else (`2`, `"maybe"`) gives `default`."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {0: False, 1: True}.get(value, default)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return default


def _int(value: Any, name: str) -> Optional[int]:
    from viperhttp_ota import OTAError
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise OTAError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            pass
    raise OTAError(f"{name} must be an integer")


def _content_kind(request: Any) -> str:
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        return "json"
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return "form"
    return "raw"


def _fields(request: Any) -> Tuple[Dict[str, Any], str]:
    """Query parameters overlaid by JSON or form fields (parsed only for those types)."""
    from viperhttp_ota import OTAError
    fields: Dict[str, Any] = dict(parse_qsl(request.query or "", keep_blank_values=True))
    kind = _content_kind(request)
    if kind == "json" and request.body:
        try:
            parsed = json.loads(request.body)
        except ValueError:
            raise OTAError("invalid JSON body") from None
        if not isinstance(parsed, dict):
            raise OTAError("JSON body must be an object")
        fields.update(parsed)
    elif kind == "form" and request.body:
        try:
            form = request.form()
        except Exception:
            raise OTAError("invalid form body") from None
        fields.update({k: v for k, v in form.items() if isinstance(v, str)})
    return fields, kind


def _data(request: Any, fields: Dict[str, Any], kind: str, empty: str) -> bytes:
    from viperhttp_ota import OTAError
    if "data_base64" in fields:
        try:
            data = base64.b64decode(str(fields["data_base64"]), validate=True)
        except (binascii.Error, ValueError):
            raise OTAError("invalid data_base64") from None
    elif "data_hex" in fields:
        try:
            data = bytes.fromhex(str(fields["data_hex"]))
        except ValueError:
            raise OTAError("invalid data_hex") from None
    elif kind == "raw":
        data = bytes(request.body or b"")
    else:
        data = b""
    if not data:
        raise OTAError(empty)
    return data


def _error(exc: Exception) -> JSONResponse:
    """The JSON answer for a failed call; its detail becomes `last_error` (the manager
    functions record theirs already, this also covers the route layer's own errors:
    body parsing, `empty chunk`, `offset must be an integer`, ...)."""
    import viperhttp_ota
    if isinstance(exc, viperhttp_ota.OTAError):
        detail, status = exc.detail, exc.status_code
    else:
        log.error("ota_error %r", exc, exc_info=True)
        detail, status = "ota internal error", 500
    with viperhttp_ota._M.lock:
        viperhttp_ota._M.last_error = detail
    return JSONResponse(status, {"detail": detail})


def _token_ok(request: Any, token: str, header: str, query: str) -> bool:
    given = request.headers.get(header)
    if given is None:
        given = request.query_params.get(query) if query else None
    if given is None:
        auth = request.headers.get("authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            given = value.strip()
    if given is None:
        return False
    return hmac.compare_digest(str(given).encode("utf-8"), token.encode("utf-8"))


def _cross_origin(request: Any) -> bool:
    """An `Origin` (sent by browsers on every cross-site request, and on same-site POSTs) whose
    scheme, host and port are not the request's own."""
    origin = request.headers.get("origin")
    if not origin:
        return False
    scheme, sep, authority = origin.partition("://")
    own_scheme = str(getattr(request, "scheme", "http") or "http")
    return (not sep or scheme.lower() != own_scheme.lower()
            or authority.lower() != str(request.headers.get("host") or "").lower())


def install_ota_routes(app: Any, prefix: Any = "/ota", token: Optional[str] = None,
                       token_header: str = "X-OTA-Token", token_query: str = "token") -> Dict[str, Any]:
    """Registers the OTA endpoints under `prefix`; existing method+path pairs are skipped."""
    import viperhttp_ota as ota

    prefix = normalize_prefix(prefix)
    if token is not None and not isinstance(token, str):
        raise TypeError("token must be str or None")
    token = token or None

    def guarded(work: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def handler(request: Any) -> Any:
            if token is not None and not _token_ok(request, token, token_header, token_query):
                return JSONResponse(401, {"detail": "invalid ota token"})
            if token is None and _cross_origin(request):
                # Open endpoints (the original's rule without a token) still refuse a browser's
                # cross-site request: any page the user opens could otherwise post an image
                # (a `text/plain` POST needs no CORS preflight). Device tools send no `Origin`.
                return JSONResponse(403, {"detail": "cross-origin ota request refused; set ota_token"})
            try:
                return work(request)
            except Exception as exc:  # OTAError → its status; anything else → logged 500
                return _error(exc)
        handler.__name__ = "ota_" + work.__name__
        handler.__doc__ = work.__doc__
        return handler

    def status(request: Any) -> Any:
        """OTA status snapshot."""
        return ota.ota_status()

    def begin(request: Any) -> Any:
        """Open an update session on the next slot."""
        fields, _ = _fields(request)
        size = fields.get("expected_size", fields.get("size"))
        return ota.ota_begin(_int(size, "expected_size"), fields.get("expected_sha256") or None,
                             _bool(fields.get("force"), False))

    def chunk(request: Any) -> Any:
        """Append one chunk (raw body, or data_base64 / data_hex) at `offset`."""
        fields, kind = _fields(request)
        data = _data(request, fields, kind, "empty chunk")
        return ota.ota_write(data, _int(fields.get("offset"), "offset"))

    def finalize(request: Any) -> Any:
        """Verify size and SHA-256, switch the boot slot, optionally restart."""
        fields, _ = _fields(request)
        return ota.ota_finalize(_bool(fields.get("set_boot"), True), _bool(fields.get("reboot"), False),
                                _bool(fields.get("strict_size"), True), fields.get("sha256") or None)

    def abort(request: Any) -> Any:
        """Drop the current session."""
        return ota.ota_abort()

    def upload(request: Any) -> Any:
        """Whole image in one request."""
        fields, kind = _fields(request)
        data = _data(request, fields, kind, "empty upload body")
        return ota.ota_apply(data, fields.get("expected_sha256") or fields.get("sha256") or None,
                             _bool(fields.get("set_boot"), True), _bool(fields.get("reboot"), False))

    def mark_valid(request: Any) -> Any:
        """Cancel the rollback of the running image."""
        return ota.ota_mark_app_valid()

    table: List[Tuple[str, str, Callable[[Any], Any], bool]] = [
        ("GET", "/status", status, True), ("POST", "/begin", begin, True),
        ("POST", "/chunk", chunk, True), ("POST", "/write", chunk, False),
        ("POST", "/finalize", finalize, True), ("POST", "/abort", abort, True),
        ("POST", "/upload", upload, True), ("POST", "/mark-valid", mark_valid, True),
    ]
    existing = {(r["method"], r["path"]) for r in app.routes()}
    installed, skipped = [], []
    with framework_routes(app):  # not the app's dependencies= / default_response_class
        for method, path, work, in_schema in table:
            full = prefix + path
            label = f"{method} {full}"
            if (method, full) in existing:
                skipped.append(label)
                continue
            decorator = app.get if method == "GET" else app.post
            kwargs: Dict[str, Any] = {"tags": ["ota"]}
            if not in_schema:
                kwargs["include_in_schema"] = False
            decorator(full, **kwargs)(guarded(work))
            installed.append(label)
    return {"ok": True, "prefix": prefix, "token_required": token is not None,
            "token_header": token_header, "token_query": token_query, "installed": installed,
            "skipped": skipped}


def install_from_run(app: Any, options: Dict[str, Any], host: str) -> None:
    """`app.run(ota=..., ota_prefix=..., ota_token=..., ota_dir=..., ota_slot_size=...)`."""
    import viperhttp_ota as ota

    if "ota_dir" in options or "ota_slot_size" in options:
        ota.configure(options.get("ota_dir"), options.get("ota_slot_size"))
    if not options.get("ota"):
        return
    token = options.get("ota_token")
    result = install_ota_routes(app, options.get("ota_prefix", "/ota"), token,
                                options.get("ota_token_header", "X-OTA-Token"),
                                options.get("ota_token_query", "token"))
    if not token and not _is_loopback(host):
        log.warning("ota_no_token: OTA endpoints under %s are open to the network on %s; "
                    "set ota_token", result["prefix"], host)


def _is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
