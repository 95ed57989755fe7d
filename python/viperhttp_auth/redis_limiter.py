"""`RedisAuthRateLimiter`: the `AuthRateLimiter` rules with the state in Redis, so every process
behind one port or load balancer counts the same failures (docs/sessions-auth.md#authratelimiter).

One hash per key, `<prefix><key>` → `s` (window start ms), `f` (failures), `b` (banned until ms),
updated by one Lua script per failure (atomic across processes) and expiring by itself once
neither the window nor the ban needs it. `AuthMiddleware` awaits the `a*` methods (asyncio
client). If Redis is unreachable the limiter fails open — requests are allowed, a
`auth_limiter_store_error` line is logged — because failing closed would lock every user out
during an outage; the backends still check every credential.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, Callable, Optional

from .limiter import AuthRateLimiter

__all__ = ["RedisAuthRateLimiter"]

log = logging.getLogger("viperhttp.auth")

_RECORD_FAILURE = """
local k = KEYS[1]
local now, window, max_fails, ban = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local start = tonumber(redis.call('HGET', k, 's') or '0')
local fails = tonumber(redis.call('HGET', k, 'f') or '0')
local banned = tonumber(redis.call('HGET', k, 'b') or '0')
if start == 0 or now - start > window then start = now; fails = 0 end
fails = fails + 1
if fails >= max_fails then banned = now + ban; start = now; fails = 0 end
redis.call('HSET', k, 's', start, 'f', fails, 'b', banned)
redis.call('PEXPIRE', k, math.max(window, banned - now) + 1000)
return banned
"""


def _now_ms() -> int:
    return int(time.time() * 1000)  # wall clock: shared by processes (and hosts, give or take skew)


class RedisAuthRateLimiter(AuthRateLimiter):
    """`RedisAuthRateLimiter(url, prefix="vhttp:auth:", max_fails=5, window_ms=60000,
    ban_ms=300000, key_fn=None, trust_proxy_headers=False, *, socket_timeout=0.5,
    connect_timeout=0.5)`: the same keys and rules as `AuthRateLimiter`."""

    def __init__(self, url: str, prefix: str = "vhttp:auth:", max_fails: int = 5, window_ms: int = 60000,
                 ban_ms: int = 300000, key_fn: Optional[Callable[[Any], Any]] = None,
                 trust_proxy_headers: bool = False, *, socket_timeout: float = 0.5,
                 connect_timeout: float = 0.5) -> None:
        super().__init__(max_fails, window_ms, ban_ms, key_fn, trust_proxy_headers)
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ImportError("RedisAuthRateLimiter needs redis-py: pip install 'redis>=5'") from None
        from redis.connection import parse_url

        parse_url(url)  # a bad URL is a ValueError now, not on the first request
        self.url = url
        self.prefix = prefix
        self.socket_timeout = float(socket_timeout)
        self.connect_timeout = float(connect_timeout)
        self._client: Any = None
        self._loop: Any = None
        self._script: Any = None
        self._sync_client: Any = None
        self._sync_script: Any = None

    def _redis(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import redis.asyncio
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._client = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=self.socket_timeout, socket_connect_timeout=self.connect_timeout,
                retry=Retry(NoBackoff(), 1), health_check_interval=0)
            self._script = self._client.register_script(_RECORD_FAILURE)
            self._loop = loop
        return self._client

    def _sync(self) -> Any:
        if self._sync_client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._sync_client = redis.Redis.from_url(
                self.url, socket_timeout=self.socket_timeout, socket_connect_timeout=self.connect_timeout,
                retry=Retry(NoBackoff(), 1), health_check_interval=0)
            self._sync_script = self._sync_client.register_script(_RECORD_FAILURE)
        return self._sync_client

    # Blocking forms, for code outside AuthMiddleware (a login route counting a bad password).

    def retry_after(self, request: Any) -> int:
        try:
            banned = self._sync().hget(self.prefix + self.key(request), "b")
        except Exception as exc:
            self._failed(exc)
            return 0
        left = int(banned or 0) - _now_ms()
        return math.ceil(left / 1000) if left > 0 else 0

    def check(self, request: Any) -> bool:
        return self.retry_after(request) == 0

    def record_failure(self, request: Any) -> None:
        try:
            client = self._sync()
            self._sync_script(keys=[self.prefix + self.key(request)],
                              args=[_now_ms(), self.window_ms, self.max_fails, self.ban_ms], client=client)
        except Exception as exc:
            self._failed(exc)

    def record_success(self, request: Any) -> None:
        """Does nothing, like `AuthRateLimiter.record_success`: failures expire with the window."""
        return None

    def _failed(self, exc: BaseException) -> None:
        log.error("auth_limiter_store_error %s: %s", type(exc).__name__, exc)

    async def aretry_after(self, request: Any) -> int:
        """Whole seconds left on the ban (0 when not banned, or when Redis is unreachable)."""
        try:
            banned = await self._redis().hget(self.prefix + self.key(request), "b")
        except Exception as exc:  # redis errors, timeouts, OSError: fail open
            self._failed(exc)
            return 0
        left = int(banned or 0) - _now_ms()
        return math.ceil(left / 1000) if left > 0 else 0

    async def acheck(self, request: Any) -> bool:
        return await self.aretry_after(request) == 0

    async def arecord_failure(self, request: Any) -> None:
        try:
            client = self._redis()
            await self._script(keys=[self.prefix + self.key(request)],
                               args=[_now_ms(), self.window_ms, self.max_fails, self.ban_ms], client=client)
        except Exception as exc:
            self._failed(exc)

    async def arecord_success(self, request: Any) -> None:
        """Does nothing (no Redis round trip): a success never clears the failures or the ban."""
        return None

    def close(self) -> None:
        """Drop the blocking client's connections (the asyncio one closes with its loop)."""
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None

    def __len__(self) -> int:
        return 0  # the state lives in Redis, bounded by key expiry
