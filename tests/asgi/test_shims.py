"""The old private paths of the ASGI helpers, kept as shims until the lead's
final pass updates the imports (the restructure plan)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("anyio_bridge._future", "anyio_bridge._asgi.future"),
        ("anyio_bridge._queue", "anyio_bridge._asgi.queue"),
    ],
)
def test_old_private_path_reexports_the_new_module(old: str, new: str) -> None:
    shim, module = importlib.import_module(old), importlib.import_module(new)
    assert shim.__all__
    for name in shim.__all__:
        assert getattr(shim, name) is getattr(module, name)
