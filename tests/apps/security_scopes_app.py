"""OAuth2 scopes as FastAPI's tutorial writes them (tests/test_security.py): `Security(dep,
scopes=[...])` along a dependency chain and `SecurityScopes` in the dependency that checks them.
Tokens are "<user>:<scope> <scope>..." instead of JWTs, to keep the test about the framework."""
import sys
from typing import Annotated, List

from viperhttp import Depends, HTTPException, ViperHTTP
from viperhttp.security import OAuth2PasswordBearer, Security, SecurityScopes

app = ViperHTTP(title="scopes")
oauth2 = OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Read yourself.", "items": "Read items."})
CALLS: List[str] = []


async def current_user(security_scopes: SecurityScopes, token: Annotated[str, Depends(oauth2)]) -> dict:
    if security_scopes.scopes:
        authenticate = f'Bearer scope="{security_scopes.scope_str}"'
    else:
        authenticate = "Bearer"
    user, _, granted = token.partition(":")
    for scope in security_scopes.scopes:
        if scope not in granted.split():
            raise HTTPException(401, "Not enough permissions", headers={"WWW-Authenticate": authenticate})
    CALLS.append(security_scopes.scope_str)
    return {"name": user, "required": security_scopes.scopes}


async def active_user(user: Annotated[dict, Security(current_user, scopes=["me"])]) -> dict:
    return user


@app.get("/users/me")
async def read_me(user: Annotated[dict, Depends(active_user)]):
    return user


@app.get("/users/me/items")
async def read_items(user: Annotated[dict, Security(active_user, scopes=["items"])]):
    return user


@app.get("/status")
async def status(user: Annotated[dict, Depends(current_user)]):
    return user


@app.get("/cached", dependencies=[Security(current_user, scopes=["items"], use_cache=True)])
async def cached(a: Annotated[dict, Security(current_user, scopes=["items"], use_cache=True)],
                 b: Annotated[dict, Security(current_user, scopes=["me"], use_cache=True)]):
    """Cached per scope set, as FastAPI caches: the two "items" uses share one call."""
    calls = list(CALLS)
    CALLS.clear()
    return {"a": a["required"], "b": b["required"], "calls": calls}


@app.get("/handler-scopes")
def handler_scopes(scopes: SecurityScopes):
    return {"scopes": scopes.scopes, "str": scopes.scope_str}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), host="127.0.0.1")
