"""get_worker_limits / set_worker_limits (docs/internals/architecture.md#knobs): the native worker limits
API."""
import os

import pytest

import viperhttp


def test_defaults_never_fail_on_small_machines():
    limits = viperhttp.get_worker_limits()
    expected_max = max(min((os.cpu_count() or 1) - 1, 8), 1)
    assert limits == {"min_workers": min(4, expected_max), "max_workers": expected_max}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_workers": 0}, "min_workers out of range"),
        ({"max_workers": 70000}, "max_workers out of range"),
        ({"max_workers": 300}, "invalid worker limits"),
        ({"min_workers": 5, "max_workers": 2}, "invalid worker limits"),
    ],
)
def test_set_worker_limits_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        viperhttp.set_worker_limits(**kwargs)


def test_set_then_served_with_them(serve, tmp_path):
    app = tmp_path / "limits_app.py"
    app.write_text(
        "import sys, viperhttp\n"
        "viperhttp.set_worker_limits(min_workers=1, max_workers=2)\n"
        "app = viperhttp.ViperHTTP()\n"
        "@app.get('/limits')\n"
        "def limits():\n"
        "    return viperhttp.get_worker_limits()\n"
        "app.run(port=int(sys.argv[1]), wifi=False)\n"
    )
    server = serve(str(app))
    assert server.client.get("/limits").json() == {"min_workers": 1, "max_workers": 2}
