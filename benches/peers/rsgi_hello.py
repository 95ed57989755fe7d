"""Granian RSGI peer for benches/run_h2.sh: the raw protocol, no framework."""

BODY = b'{"message":"Hello, World!"}'
HEADERS = [("content-type", "application/json")]


async def app(scope, proto):
    proto.response_bytes(200, HEADERS, BODY)
