"""FastAPI's security dependencies (tests/test_security.py): `viperhttp.security`."""
import sys
from typing import Annotated, Optional

from viperhttp import Depends, HTTPException, ViperHTTP
from viperhttp.security import (APIKeyCookie, APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials,
                                HTTPBasic, HTTPBasicCredentials, HTTPBearer, OAuth2PasswordBearer,
                                OAuth2PasswordRequestForm)

app = ViperHTTP(title="security")
bearer = HTTPBearer(bearerFormat="JWT")
oauth2 = OAuth2PasswordBearer(tokenUrl="token")
basic = HTTPBasic(realm="shop")
key_header = APIKeyHeader(name="X-API-Key")
key_query = APIKeyQuery(name="api_key")
key_cookie = APIKeyCookie(name="session")
maybe = HTTPBearer(auto_error=False, scheme_name="OptionalBearer")
USERS = {"ada": "lovelace"}


@app.post("/token")
def token(form: Annotated[OAuth2PasswordRequestForm, Depends(OAuth2PasswordRequestForm)]):
    if USERS.get(form.username) != form.password:
        raise HTTPException(400, "Incorrect username or password")
    return {"access_token": form.username, "token_type": "bearer", "scopes": form.scopes}


def current_user(token: Annotated[str, Depends(oauth2)]) -> str:
    if token not in USERS:
        raise HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"})
    return token


@app.get("/me")
def me(user: Annotated[str, Depends(current_user)]):
    return {"user": user}


@app.get("/bearer")
def with_bearer(creds: HTTPAuthorizationCredentials = Depends(bearer)):
    return {"scheme": creds.scheme, "credentials": creds.credentials}


@app.get("/basic")
def with_basic(creds: HTTPBasicCredentials = Depends(basic)):
    return {"username": creds.username, "password": creds.password}


@app.get("/keys")
def with_keys(h: str = Depends(key_header), q: str = Depends(key_query), c: str = Depends(key_cookie)):
    return {"header": h, "query": q, "cookie": c}


@app.get("/optional")
def optional(creds: Optional[HTTPAuthorizationCredentials] = Depends(maybe)):
    return {"creds": None if creds is None else creds.credentials}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), host="127.0.0.1")
