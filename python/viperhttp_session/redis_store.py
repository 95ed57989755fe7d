"""`RedisSessionStore`: sessions in Redis, shared by every process that points at the same
server (docs/sessions-auth.md#redissessionstore).

One key per session, `<prefix><sid>`, holding the data as JSON; Redis' own TTL (`PX`) does
expiry. The client is redis-py. Two clients, created lazily: a blocking one behind the
interface methods (`get`, `set`, ...) for scripts and tools, and an asyncio one behind
`aget`/`aset`/`adelete`/`atouch`, which `SessionMiddleware` uses so a slow Redis delays only
the requests that wait on it, never the interpreter thread.

Failure policy: every socket operation has a bounded timeout (`socket_timeout`,
`connect_timeout`, one immediate retry to replace a stale pooled connection after a Redis
restart), and any Redis or socket error becomes `SessionStoreError`, which the middleware
answers with 503 — never a hang, and never a silent "no session" (logout).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Optional

from .session import is_session_id
from .store import SessionStore, SessionStoreError, check_size

__all__ = ["RedisSessionStore"]


def _redis() -> Any:
    try:
        import redis
    except ImportError:
        raise ImportError("RedisSessionStore needs redis-py: pip install 'redis>=5'") from None
    return redis


def _decode(raw: Any) -> Optional[Dict[str, Any]]:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, TypeError):
        return None  # not ours / corrupted: treated as no session
    return data if isinstance(data, dict) else None


class RedisSessionStore(SessionStore):
    """`RedisSessionStore(url, prefix="vhttp:sess:", ttl_ms=3600000, max_bytes=4096)`.

    `url` is a redis-py URL (`redis://host:port/db`, `rediss://`, `unix://`). Extra keywords:
    `socket_timeout=0.5` and `connect_timeout=0.5` (seconds) bound every operation.
    `max_sessions` does not apply: Redis' `maxmemory` policy is the limit.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", prefix: str = "vhttp:sess:",
                 ttl_ms: int = 3600000, max_bytes: int = 4096, *, socket_timeout: float = 0.5,
                 connect_timeout: float = 0.5) -> None:
        if not isinstance(url, str) or not url:
            raise TypeError("url must be a non-empty str")
        _redis()  # fail at construction, not at the first request, when redis-py is missing
        self.url = url
        self.prefix = prefix
        self.ttl_ms = int(ttl_ms)
        self.max_bytes = max_bytes
        self.socket_timeout = float(socket_timeout)
        self.connect_timeout = float(connect_timeout)
        self._client: Any = None
        self._aclient: Any = None
        self._aloop: Any = None
        self._getex = True
        self._sync()  # parses the URL now (a bad one is a ValueError here); connects on first use

    def _options(self, retry: Any) -> Dict[str, Any]:
        redis = _redis()
        from redis.backoff import NoBackoff

        return {"socket_timeout": self.socket_timeout, "socket_connect_timeout": self.connect_timeout,
                "retry": retry(NoBackoff(), 1), "health_check_interval": 0,
                "retry_on_error": [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]}

    def _sync(self) -> Any:
        client = self._client
        if client is None:
            redis = _redis()
            from redis.retry import Retry

            client = self._client = redis.Redis.from_url(self.url, **self._options(Retry))
        return client

    def _async(self) -> Any:
        # An asyncio client's connections belong to the loop that opened them.
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:
            import redis.asyncio
            from redis.asyncio.retry import Retry

            self._aclient = redis.asyncio.Redis.from_url(self.url, **self._options(Retry))
            self._aloop = loop
        return self._aclient

    def _key(self, sid: str) -> str:
        return self.prefix + sid

    def _ttl(self, ttl_ms: Optional[int]) -> int:
        return max(1, self.ttl_ms if ttl_ms is None else int(ttl_ms))

    def _failed(self, exc: BaseException) -> SessionStoreError:
        return SessionStoreError(f"redis session store unavailable ({type(exc).__name__}: {exc})")

    # --- blocking interface ----------------------------------------------------------------

    def get(self, sid: str) -> Optional[Dict[str, Any]]:
        if not is_session_id(sid):
            return None
        try:
            raw = self._sync().get(self._key(sid))
        except (_redis().RedisError, OSError) as exc:
            raise self._failed(exc) from exc
        return _decode(raw)

    def set(self, sid: str, data: Dict[str, Any], ttl_ms: Optional[int] = None) -> None:
        if not is_session_id(sid):
            raise ValueError("invalid session id")
        text = check_size(data, self.max_bytes)
        try:
            self._sync().set(self._key(sid), text, px=self._ttl(ttl_ms))
        except (_redis().RedisError, OSError) as exc:
            raise self._failed(exc) from exc

    def delete(self, sid: str) -> None:
        if not is_session_id(sid):
            return
        try:
            self._sync().delete(self._key(sid))
        except (_redis().RedisError, OSError) as exc:
            raise self._failed(exc) from exc

    def touch(self, sid: str, ttl_ms: Optional[int] = None) -> None:
        if not is_session_id(sid):
            return
        try:
            self._sync().pexpire(self._key(sid), self._ttl(ttl_ms))
        except (_redis().RedisError, OSError) as exc:
            raise self._failed(exc) from exc

    # --- asyncio interface (used by SessionMiddleware) -------------------------------------

    async def aget(self, sid: str) -> Optional[Dict[str, Any]]:
        if not is_session_id(sid):
            return None
        try:
            raw = await self._async().get(self._key(sid))
        except (_redis().RedisError, OSError) as exc:
            raise self._failed(exc) from exc
        return _decode(raw)

    async def aget_touch(self, sid: str, ttl_ms: Optional[int] = None) -> Optional[Dict[str, Any]]:
        """`aget` and `atouch` in one round trip (`GETEX … PX`, Redis ≥ 6.2; older servers get
        `GET` + `PEXPIRE`). The middleware uses it when `touch_on_read` is on."""
        if not is_session_id(sid):
            return None
        client = self._async()
        key, ttl = self._key(sid), self._ttl(ttl_ms)
        try:
            if self._getex:
                try:
                    return _decode(await client.getex(key, px=ttl))
                except _redis().ResponseError as exc:
                    if "unknown command" not in str(exc).lower():
                        raise  # WRONGTYPE, OOM, …: a store error for this request only
                    self._getex = False  # a Redis before 6.2: GET + PEXPIRE from now on
            raw = await client.get(key)
            if raw is not None:
                await client.pexpire(key, ttl)
        except (_redis().RedisError, OSError) as exc:
            raise self._failed(exc) from exc
        return _decode(raw)

    async def aset(self, sid: str, data: Dict[str, Any], ttl_ms: Optional[int] = None) -> None:
        if not is_session_id(sid):
            raise ValueError("invalid session id")
        text = check_size(data, self.max_bytes)
        try:
            await self._async().set(self._key(sid), text, px=self._ttl(ttl_ms))
        except (_redis().RedisError, OSError) as exc:
            raise self._failed(exc) from exc

    async def adelete(self, sid: str) -> None:
        if not is_session_id(sid):
            return
        try:
            await self._async().delete(self._key(sid))
        except (_redis().RedisError, OSError) as exc:
            raise self._failed(exc) from exc

    async def atouch(self, sid: str, ttl_ms: Optional[int] = None) -> None:
        if not is_session_id(sid):
            return
        try:
            await self._async().pexpire(self._key(sid), self._ttl(ttl_ms))
        except (_redis().RedisError, OSError) as exc:
            raise self._failed(exc) from exc

    def close(self) -> None:
        """Drop the blocking client's connections (the asyncio one closes with its loop)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        return f"<RedisSessionStore prefix={self.prefix!r}>"  # the URL may hold a password
