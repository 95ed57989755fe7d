"""FastAPI's and Starlette's module path, `from fastapi.middleware.cors import CORSMiddleware`:
the same native CORS class as `viperhttp.middleware.CORSMiddleware`
(docs/internals/cors-hosts-ratelimit.md), so a ported app changes only its package name."""
from . import CORSMiddleware

__all__ = ["CORSMiddleware"]
