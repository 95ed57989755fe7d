"""A minimal cookie-keeping client for session tests.

httpx's own cookie jar hides what is sent; `Browser` keeps the session cookie value itself,
sends it as a plain `Cookie` header, and records every `Set-Cookie` it sees, so tests can
replay old cookies, plant forged ones and check attributes exactly.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import httpx

COOKIE = "vhttp_session"


def set_cookies(response: httpx.Response) -> List[str]:
    return response.headers.get_list("set-cookie")


def session_cookie(response: httpx.Response, name: str = COOKIE) -> Optional[str]:
    """The value the response sets for the session cookie ("" for a deletion), or None."""
    for line in set_cookies(response):
        key, _, rest = line.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    return None


class Browser:
    def __init__(self, base: str, cookie: Optional[str] = None, name: str = COOKIE) -> None:
        self.base = base
        self.cookie = cookie
        self.name = name

    def request(self, method: str, path: str, headers: Optional[Dict[str, str]] = None, **kw: Any) -> httpx.Response:
        sent = dict(headers or {})
        if self.cookie and "Cookie" not in sent:
            sent["Cookie"] = f"{self.name}={self.cookie}"
        response = httpx.request(method, self.base + path, headers=sent, timeout=10.0, **kw)
        value = session_cookie(response, self.name)
        if value is not None:
            self.cookie = value or None
        return response

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def login(self, user: str = "alice", password: str = "wonderland") -> httpx.Response:
        return self.post("/login", json={"username": user, "password": password})
