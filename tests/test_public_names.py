"""Every name a module lists in `__all__` exists: `from module import *` works for each
module of every package the wheel ships (docs/guide: the public API)."""
import importlib
import pkgutil

import pytest

PACKAGES = ["viperhttp", "viperhttp_bridge", "viperhttp_responses", "viperhttp_session",
            "viperhttp_auth", "viperhttp_autodocs", "viperhttp_ws", "viperhttp_ota",
            "viperhttp_lifespan"]


def _modules():
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        yield name
        for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), prefix=name + "."):
            if info.name.endswith("__main__"):
                continue  # runs the CLI when imported
            yield info.name


@pytest.mark.parametrize("module", sorted(set(_modules())))
def test_all_names_exist(module):
    mod = importlib.import_module(module)
    missing = [n for n in getattr(mod, "__all__", ()) if not hasattr(mod, n)]
    assert missing == []
