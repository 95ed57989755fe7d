"""FastAPI's `fastapi.security` classes (docs/internals/typed-api.md, "Security dependencies").

Each is a dependency object: `token: str = Depends(OAuth2PasswordBearer(tokenUrl="token"))`. It
reads the credential from the request and returns it, or answers FastAPI's 401
`{"detail": "Not authenticated"}` with its `WWW-Authenticate` header (None instead with
`auto_error=False`). Checking the credential is the app's business, as in FastAPI. The OpenAPI
document declares each one used by a route under `components.securitySchemes` and the route's
`security`, so `/docs` offers its Authorize button. `viperhttp_auth` is the original's own,
middleware-based authentication; both can be used.
"""
from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Annotated, Any, Dict, List, Optional, Sequence, Tuple, Union

from pydantic import BaseModel

from .deps import Depends, SecurityScopes
from .exceptions import HTTPException
from .params import Form
from .request import Request

__all__ = [
    "APIKeyCookie", "APIKeyHeader", "APIKeyQuery", "HTTPAuthorizationCredentials", "HTTPBasic",
    "HTTPBasicCredentials", "HTTPBearer", "HTTPDigest", "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm", "SecurityBase", "Security", "SecurityScopes", "get_authorization_scheme_param",
]


def get_authorization_scheme_param(value: Optional[str]) -> Tuple[str, str]:
    """`"Bearer abc"` → `("Bearer", "abc")`; `("", "")` for no value."""
    if not value:
        return "", ""
    scheme, _, param = value.partition(" ")
    return scheme, param.strip()


class HTTPAuthorizationCredentials(BaseModel):
    scheme: str
    credentials: str


class HTTPBasicCredentials(BaseModel):
    username: str
    password: str


class SecurityBase:
    """What the OpenAPI document needs: `scheme_name` and `openapi_scheme()`."""

    scheme_name: str
    auto_error: bool
    description: Optional[str] = None

    def openapi_scheme(self) -> Dict[str, Any]:  # pragma: no cover - every subclass has one
        raise NotImplementedError

    #: the `WWW-Authenticate` challenge of a refusal
    challenge = "Bearer"

    def make_authenticate_headers(self) -> Dict[str, str]:
        """FastAPI's hook: the headers of a refusal."""
        return {"WWW-Authenticate": self.challenge}

    def make_not_authenticated_error(self) -> HTTPException:
        """FastAPI's hook: what a missing or malformed credential raises (a subclass may answer
        403, as FastAPI did before 0.118)."""
        return HTTPException(401, "Not authenticated", headers=self.make_authenticate_headers())

    def _refuse(self) -> None:
        """FastAPI's answer to a missing credential (none with `auto_error=False`)."""
        if self.auto_error:
            raise self.make_not_authenticated_error()

    def _describe(self, scheme: Dict[str, Any]) -> Dict[str, Any]:
        if self.description:
            scheme["description"] = self.description
        return scheme


class _HTTPScheme(SecurityBase):
    scheme = ""

    def __init__(self, *, scheme_name: Optional[str] = None, description: Optional[str] = None,
                 auto_error: bool = True) -> None:
        self.scheme_name = scheme_name or type(self).__name__
        self.description = description
        self.auto_error = auto_error

    def openapi_scheme(self) -> Dict[str, Any]:
        return self._describe({"type": "http", "scheme": self.scheme})

    @property
    def challenge(self) -> str:  # type: ignore[override]
        return self.scheme.title()

    async def __call__(self, request: Request) -> Optional[HTTPAuthorizationCredentials]:
        authorization = request.headers.get("authorization")
        scheme, credentials = get_authorization_scheme_param(authorization)
        if not (authorization and scheme and credentials) or scheme.lower() != self.scheme:
            self._refuse()
            return None
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)


class HTTPBearer(_HTTPScheme):
    """`Authorization: Bearer <token>` → `HTTPAuthorizationCredentials`."""

    scheme = "bearer"

    def __init__(self, *, bearerFormat: Optional[str] = None, scheme_name: Optional[str] = None,  # noqa: N803
                 description: Optional[str] = None, auto_error: bool = True) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.bearer_format = bearerFormat

    def openapi_scheme(self) -> Dict[str, Any]:
        out = super().openapi_scheme()
        if self.bearer_format:
            out["bearerFormat"] = self.bearer_format
        return out


class HTTPDigest(_HTTPScheme):
    """`Authorization: Digest ...` → `HTTPAuthorizationCredentials` (not verified, as FastAPI)."""

    scheme = "digest"


class HTTPBasic(SecurityBase):
    """`Authorization: Basic <base64 user:password>` → `HTTPBasicCredentials`."""

    def __init__(self, *, scheme_name: Optional[str] = None, realm: Optional[str] = None,
                 description: Optional[str] = None, auto_error: bool = True) -> None:
        self.scheme_name = scheme_name or type(self).__name__
        self.realm = realm
        self.description = description
        self.auto_error = auto_error

    @property
    def challenge(self) -> str:  # type: ignore[override]
        return f'Basic realm="{self.realm}"' if self.realm else "Basic"

    def openapi_scheme(self) -> Dict[str, Any]:
        return self._describe({"type": "http", "scheme": "basic"})

    async def __call__(self, request: Request) -> Optional[HTTPBasicCredentials]:
        authorization = request.headers.get("authorization")
        scheme, param = get_authorization_scheme_param(authorization)
        if not authorization or scheme.lower() != "basic":
            self._refuse()
            return None
        try:
            data = b64decode(param).decode("ascii")
        except (ValueError, UnicodeDecodeError, binascii.Error):
            data = ""
        username, separator, password = data.partition(":")
        if not separator:  # malformed: refused even with auto_error=False, as FastAPI
            raise self.make_not_authenticated_error()
        return HTTPBasicCredentials(username=username, password=password)


class OAuth2PasswordBearer(SecurityBase):
    """The bearer token of OAuth2's password flow (`tokenUrl` is where clients get one): the
    token as a str."""

    def __init__(self, tokenUrl: str, scheme_name: Optional[str] = None,  # noqa: N803
                 scopes: Optional[Dict[str, str]] = None, description: Optional[str] = None,
                 auto_error: bool = True, refreshUrl: Optional[str] = None) -> None:  # noqa: N803
        self.token_url = tokenUrl
        self.refresh_url = refreshUrl
        self.scopes = scopes or {}
        self.scheme_name = scheme_name or type(self).__name__
        self.description = description
        self.auto_error = auto_error

    def openapi_scheme(self) -> Dict[str, Any]:
        flow: Dict[str, Any] = {"tokenUrl": self.token_url, "scopes": dict(self.scopes)}
        if self.refresh_url:
            flow["refreshUrl"] = self.refresh_url
        return self._describe({"type": "oauth2", "flows": {"password": flow}})

    async def __call__(self, request: Request) -> Optional[str]:
        authorization = request.headers.get("authorization")
        scheme, param = get_authorization_scheme_param(authorization)
        if not authorization or scheme.lower() != "bearer":
            self._refuse()
            return None
        return param


class _APIKey(SecurityBase):
    where = ""
    challenge = "APIKey"

    def __init__(self, *, name: str, scheme_name: Optional[str] = None, description: Optional[str] = None,
                 auto_error: bool = True) -> None:
        self.name = name
        self.scheme_name = scheme_name or type(self).__name__
        self.description = description
        self.auto_error = auto_error

    def openapi_scheme(self) -> Dict[str, Any]:
        return self._describe({"type": "apiKey", "in": self.where, "name": self.name})

    def _check(self, value: Optional[str]) -> Optional[str]:
        if not value:
            self._refuse()
            return None
        return value


class APIKeyHeader(_APIKey):
    """The API key in header `name`."""

    where = "header"

    async def __call__(self, request: Request) -> Optional[str]:
        return self._check(request.headers.get(self.name))


class APIKeyQuery(_APIKey):
    """The API key in query parameter `name`."""

    where = "query"

    async def __call__(self, request: Request) -> Optional[str]:
        return self._check(request.query_params.get(self.name))


class APIKeyCookie(_APIKey):
    """The API key in cookie `name`."""

    where = "cookie"

    async def __call__(self, request: Request) -> Optional[str]:
        return self._check(request.cookies.get(self.name))


class OAuth2PasswordRequestForm:
    """The form of OAuth2's password flow (`form_data: OAuth2PasswordRequestForm = Depends()` in
    FastAPI; here `Depends(OAuth2PasswordRequestForm)`): `username`, `password`, `scopes` (the
    `scope` field split on spaces), `grant_type`, `client_id`, `client_secret`."""

    def __init__(self, username: Annotated[str, Form()], password: Annotated[str, Form()],
                 grant_type: Annotated[Union[str, None], Form(pattern="^password$")] = None,
                 scope: Annotated[str, Form()] = "", client_id: Annotated[Union[str, None], Form()] = None,
                 client_secret: Annotated[Union[str, None], Form()] = None) -> None:
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes: List[str] = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


def Security(dependency: Any, *, scopes: Optional[Sequence[str]] = None,  # noqa: N802
             use_cache: bool = False) -> Depends:
    """FastAPI's `Security(dep, scopes=[...])`: `Depends(dep)` that also requires OAuth2 `scopes`.

    The scopes add up along the dependency chain: a `SecurityScopes` parameter of `dep`, or of
    anything it depends on, receives them, to check against the token's (docs/internals/typed-api.md,
    "OAuth2 scopes"); the OpenAPI document lists them in the route's `security`."""
    if isinstance(scopes, (str, bytes)):
        raise TypeError("Security(scopes=...) takes a list of scope names, not one string")
    dep = Depends(dependency, use_cache=use_cache)
    if scopes:
        if not all(isinstance(scope, str) for scope in scopes):
            raise TypeError("Security(scopes=...) scope names must be str")
        dep.scopes = tuple(dict.fromkeys(scopes))
    return dep
