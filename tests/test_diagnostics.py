"""docs/internals/logging.md diagnostics and docs/internals/static-files.md#gzip gzip_static, over a running
server where it matters."""
import gzip

import pytest

import viperhttp

APP = """
import sys, viperhttp
app = viperhttp.ViperHTTP()
app.mount("/s", sys.argv[2])

@app.get("/stats")
def stats():
    return viperhttp.server_stats()

@app.post("/stats/reset")
def reset():
    viperhttp.server_stats_reset()
    return viperhttp.server_stats()

@app.get("/heap")
def heap():
    return viperhttp.heap_stats()

app.run(port=int(sys.argv[1]), wifi=False)
"""


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "page.html").write_text("<p>hello</p>" * 200)
    (root / "tiny.txt").write_text("x")
    (root / "logo.png").write_bytes(b"\x89PNG" + b"0" * 4000)
    return root


def test_gzip_static_builds_siblings_the_runtime_serves(serve, tmp_path, site):
    result = viperhttp.gzip_static(str(site))
    assert result == {"files_seen": 3, "gzipped": 1, "skipped_small": 1, "skipped_existing": 0,
                      "skipped_ext": 1, "errors": 0}
    assert viperhttp.gzip_static(str(site))["skipped_existing"] == 1
    script = tmp_path / "diag_app.py"
    script.write_text(APP)
    server = serve(str(script), str(site))
    resp = server.client.get("/s/page.html", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200
    assert resp.headers["content-encoding"] == "gzip"
    assert resp.content == (site / "page.html").read_bytes()  # httpx decodes the sibling
    raw = gzip.decompress((site / "page.html.gz").read_bytes())
    assert raw == (site / "page.html").read_bytes()


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"root": 3}, TypeError, "root must be str"),
    ({"min_size": -1}, ValueError, "min_size must be >= 0"),
    ({"level": 10}, ValueError, "level must be 0..9"),
])
def test_gzip_static_argument_errors(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        viperhttp.gzip_static(**kwargs)


def test_server_stats_reset_zeroes_counters_not_gauges(serve, tmp_path, site):
    script = tmp_path / "diag_app.py"
    script.write_text(APP)
    server = serve(str(script), str(site))
    for _ in range(5):
        server.client.get("/s/tiny.txt")
    before = server.client.get("/stats").json()
    assert before["requests_handled"] >= 5 and before["static_served"] >= 5
    after = server.client.post("/stats/reset").json()
    assert after["static_served"] == 0
    assert after["requests_handled"] <= 1  # only requests counted after the reset
    assert after["connections_open"] >= 1  # a gauge: kept


def test_heap_stats_keys(serve, tmp_path, site):
    script = tmp_path / "diag_app.py"
    script.write_text(APP)
    server = serve(str(script), str(site))
    heap = server.client.get("/heap").json()
    assert heap["rss"] > 0 and heap["internal_total"] > 0
    assert heap["psram_available"] is False and heap["psram_total"] == 0


def test_log_level_names_and_errors():
    assert viperhttp.set_log_level("WARNING") == {"value": viperhttp.LOG_WARN, "name": "warn"}
    assert viperhttp.get_log_level()["value"] == 2
    assert viperhttp.set_log_level(viperhttp.LOG_TRACE)["name"] == "trace"
    assert viperhttp.set_log_level(" 2")["name"] == "warn"  # digits, as a query parameter gives them
    for bad in (6, -1, "loud", 1.5, "6", "-1"):
        with pytest.raises(ValueError, match="log level out of range"):
            viperhttp.set_log_level(bad)
    viperhttp.reset()
    assert viperhttp.get_log_level() == {"value": viperhttp.LOG_INFO, "name": "info"}
