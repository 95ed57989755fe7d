"""`viperhttp.testclient.TestClient` (docs/guide/testing.md): a user's pytest file run as a
user runs it, in its own pytest process, against the real runtime."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import TESTS

PROJECT = TESTS / "user_project"


def _pytest(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(path.parent),
         "-c", "/dev/null", *extra, str(path)],
        cwd=path.parent, capture_output=True, text=True, timeout=120)


def test_users_pytest_file_passes():
    proc = _pytest(PROJECT / "test_myapp.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "14 passed" in proc.stdout, proc.stdout


def test_a_failing_user_test_fails(tmp_path):
    # The client really reports what the server answered: a wrong expectation fails.
    (tmp_path / "conftest.py").write_text((PROJECT / "conftest.py").read_text().replace(
        "Path(__file__).parent", repr(str(PROJECT))))
    (tmp_path / "test_wrong.py").write_text(
        "from viperhttp.testclient import TestClient\nfrom myapp import app\n"
        "def test_wrong():\n    with TestClient(app) as c:\n"
        "        assert c.get('/').json() == {'hello': 'mars'}\n"
        "def test_unhandled_reraised():\n    with TestClient(app) as c:\n"
        "        c.get('/broken')\n")
    proc = _pytest(tmp_path / "test_wrong.py")
    assert proc.returncode == 1
    assert "2 failed" in proc.stdout, proc.stdout
    assert "ZeroDivisionError: bug in the handler" in proc.stdout


def test_startup_failure_raises_in_the_test(tmp_path):
    (tmp_path / "test_startup.py").write_text(
        "import pytest\nfrom viperhttp import ViperHTTP\nfrom viperhttp.testclient import TestClient\n"
        "app = ViperHTTP()\n@app.on_event('startup')\ndef boom():\n    raise KeyError('db')\n"
        "def test_it():\n    with pytest.raises(RuntimeError, match='startup failed'):\n"
        "        with TestClient(app):\n            pass\n")
    proc = _pytest(tmp_path / "test_startup.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
