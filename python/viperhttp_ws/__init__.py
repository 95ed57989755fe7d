"""WebSocket helpers under the original's module name (extensions.md §1.8).

Placeholder: `ConnectionManager` is added here by the WebSocket work; WebSocket routes
themselves are declared with `app.websocket(...)` (viperhttp.routing) and dispatched by
`ViperHTTP.ws_dispatch`.
"""
