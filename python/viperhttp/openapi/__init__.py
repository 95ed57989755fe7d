"""FastAPI's `fastapi.openapi` package names (docs/internals/api-docs.md#customising-the-document)."""
