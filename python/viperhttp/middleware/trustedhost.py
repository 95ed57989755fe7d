"""FastAPI's and Starlette's module path, `from fastapi.middleware.trustedhost import
TrustedHostMiddleware`: the same native class as `viperhttp.middleware.TrustedHostMiddleware`
(docs/internals/cors-hosts-ratelimit.md), so a ported app changes only its package name."""
from . import TrustedHostMiddleware

__all__ = ["TrustedHostMiddleware"]
