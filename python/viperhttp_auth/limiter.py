"""`AuthRateLimiter`: bans a client after repeated failed logins (docs/sessions-auth.md#authratelimiter).

Keyed by the client IP (the TCP peer; forwarding headers only with `trust_proxy_headers=True`;
IPv6 by its /64) and by nothing else, so varying the password or the token does not escape the ban. Without any
IP the original's fallbacks apply (credential hash, then User-Agent hash, then `anon`). State
is at most `max_keys` entries, so a flood of addresses cannot grow memory without bound; when
full, unbanned entries are dropped before banned ones.
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections import OrderedDict
from typing import Any, Callable, List, Optional

__all__ = ["AuthRateLimiter"]

_FORWARD_HEADERS = ("x-forwarded-for", "x-real-ip", "cf-connecting-ip")


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _ip_key(ip: str) -> str:
    """`ip:<v4>` for IPv4 (also IPv4-mapped IPv6), `ip:<net>/64` for IPv6: one IPv6 client
    (a home line, a VM) holds at least a /64 and can pick any address in it. Text that is not
    an address (an odd forwarding header) is kept as it is."""
    try:
        addr = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return "ip:" + ip
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped
        if mapped is None:
            return "ip:" + str(ipaddress.IPv6Network((addr, 64), strict=False))
        addr = mapped
    return "ip:" + str(addr)


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


class AuthRateLimiter:
    """`AuthRateLimiter(max_fails=5, window_ms=60000, ban_ms=300000, key_fn=None,
    trust_proxy_headers=False, max_keys=10000)`."""

    def __init__(self, max_fails: int = 5, window_ms: int = 60000, ban_ms: int = 300000,
                 key_fn: Optional[Callable[[Any], Any]] = None, trust_proxy_headers: bool = False,
                 max_keys: int = 10000) -> None:
        if max_fails < 1 or window_ms < 1 or ban_ms < 0 or max_keys < 1:
            raise ValueError("max_fails, window_ms and max_keys must be >= 1, ban_ms >= 0")
        self.max_fails = int(max_fails)
        self.window_ms = int(window_ms)
        self.ban_ms = int(ban_ms)
        self.key_fn = key_fn
        self.trust_proxy_headers = bool(trust_proxy_headers)
        self.max_keys = int(max_keys)
        # key -> [window_start_ms, fails, banned_until_ms]; oldest-updated first
        self._state: "OrderedDict[str, List[int]]" = OrderedDict()

    # --- key -------------------------------------------------------------------------------

    def client_ip(self, request: Any) -> Optional[str]:
        headers = request.headers
        if self.trust_proxy_headers:
            for name in _FORWARD_HEADERS:
                value = headers.get(name)
                if value:
                    first = value.split(",")[0].strip()
                    if first:
                        return first
        client = getattr(request, "client", None)
        if client:
            return str(client[0])
        return None

    def key(self, request: Any) -> str:
        if self.key_fn is not None:
            custom = self.key_fn(request)
            if custom:
                return str(custom)
        ip = self.client_ip(request)
        if ip:
            return _ip_key(ip)  # IP (IPv6: its /64) alone: the credential must not be part of the key
        headers = request.headers
        auth = headers.get("authorization")
        if auth:
            return "auth:" + _sha(auth)
        api_key = headers.get("x-api-key")
        if api_key:
            return "key:" + _sha(api_key)
        agent = headers.get("user-agent")
        if agent:
            return "ua:" + _sha(agent)
        return "anon"

    # --- state -----------------------------------------------------------------------------

    def check(self, request: Any) -> bool:
        """False while the request's key is banned."""
        return self.retry_after(request) == 0

    def retry_after(self, request: Any) -> int:
        """Whole seconds left on the ban (0 when not banned)."""
        entry = self._state.get(self.key(request))
        if entry is None:
            return 0
        left = entry[2] - _now_ms()
        return math.ceil(left / 1000) if left > 0 else 0

    def record_failure(self, request: Any) -> None:
        key = self.key(request)
        now = _now_ms()
        state = self._state
        entry = state.get(key)
        if entry is None or now - entry[0] > self.window_ms:
            banned_until = entry[2] if entry is not None else 0
            entry = [now, 0, banned_until]
        entry[1] += 1
        if entry[1] >= self.max_fails:
            entry[2] = now + self.ban_ms
            entry[0], entry[1] = now, 0  # a new window starts with the ban
        state[key] = entry
        state.move_to_end(key)
        while len(state) > self.max_keys:
            self._evict_one(now)

    def _evict_one(self, now: int) -> None:
        """Drops the least recently updated key that is not banned; only when every key is
        banned, the ban that ends first. A flood of fresh addresses thus pushes out other
        unbanned counts, never a running ban (docs/sessions-auth.md#decisions)."""
        state = self._state
        for key, entry in state.items():  # oldest first
            if entry[2] <= now:
                del state[key]
                return
        del state[min(state, key=lambda k: state[k][2])]

    def record_success(self, request: Any) -> None:
        """Does nothing: failures expire with their window, never with a success.

        The key is the client IP, not the credential, so any success from that IP — another
        account, a token, a page view on the client's own session — would otherwise wipe the
        count and the ban (docs/sessions-auth.md#decisions). Kept so custom code and
        `AuthMiddleware` can keep calling it; a subclass may override it."""
        return None

    def __len__(self) -> int:
        return len(self._state)
