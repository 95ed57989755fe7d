"""Granian RSGI peer for benches/run.sh: the four routes of benches/apps/paths_app.py on the raw
protocol, no framework: fixed bodies for the hellos, the id and `verbose` parsed from the target
for the typed GET, the JSON body parsed and echoed for the POST (no validation)."""
import json
from urllib.parse import parse_qs

HELLO = b'{"msg":"ok"}'
JSON = [("content-type", "application/json")]
NOT_FOUND = b'{"detail":"Not Found"}'
TRUE = {"1", "true", "on", "yes"}


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


async def app(scope, proto):
    path = scope.path
    if scope.method == "GET" and path in ("/hello", "/ahello"):
        proto.response_bytes(200, JSON, HELLO)
    elif scope.method == "GET" and path.startswith("/users/") and path[7:].isdigit():
        verbose = parse_qs(scope.query_string).get("verbose", ["0"])[-1].lower() in TRUE
        proto.response_bytes(200, JSON, dumps({
            "id": int(path[7:]), "name": "user", "email": "user@example.com", "active": True,
            "score": 1.5, "verbose": verbose, "roles": ["a", "b"], "team": None}))
    elif scope.method == "POST" and path == "/items":
        item = json.loads(await proto())
        proto.response_bytes(200, JSON, dumps(
            {"name": item["name"], "price": float(item["price"]), "tags": item.get("tags", [])}))
    else:
        proto.response_bytes(404, JSON, NOT_FOUND)
