"""The finder and the stand-in package (``_alias.package``)."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

import anyio_bridge
import anyio_bridge.local
import anyio_bridge.sync
from anyio_bridge._alias import install as alias_install
from anyio_bridge._alias import package as alias_package

from .helpers import (
    tables_without_asgiref,
)

# Installing is process-wide and this process has the real asgiref imported,
# so the private modules of anyio_bridge._alias are tested on tables of
# their own, with the installing replaced where it would be process-wide.


# --- the finder ----------------------------------------------------------------


@pytest.fixture
def finder() -> alias_package.AsgirefFinder:
    modules, meta_path = tables_without_asgiref()
    alias_install.install(modules, meta_path, {})
    (finder,) = meta_path
    assert isinstance(finder, alias_package.AsgirefFinder)
    return finder


def test_finder_leaves_other_names_alone(finder: alias_package.AsgirefFinder) -> None:
    for name in ("json", "asgiref_tools", "anyio_bridge.sync"):
        assert finder.find_spec(name, None) is None
    assert (
        repr(finder) == "<anyio_bridge._alias.package.AsgirefFinder: "
        "asgiref is anyio_bridge>"
    )


@pytest.mark.parametrize("name", ["asgiref.nope", "asgiref.sync.deeper"])
def test_finder_refuses_other_asgiref_modules(
    finder: alias_package.AsgirefFinder, name: str
) -> None:
    with pytest.raises(ModuleNotFoundError) as caught:
        finder.find_spec(name, None)
    assert caught.value.name == name
    assert str(caught.value).startswith(f"No module named {name!r}: asgiref is ")
    assert "asgiref.sync, asgiref.testing" in str(caught.value)


def test_finder_loads_the_existing_module(finder: alias_package.AsgirefFinder) -> None:
    """A name removed from sys.modules and imported again is the same module,
    with its own spec."""
    module = anyio_bridge.local
    own_spec = module.__spec__
    spec = finder.find_spec("asgiref.local", None)
    assert spec is not None
    assert spec.origin == module.__file__
    assert spec.loader is finder
    try:
        # What the import system does: this sets module.__spec__ to spec...
        assert importlib.util.module_from_spec(spec) is module
        # ...and the loader puts the module's own back.
        finder.exec_module(module)
    finally:
        module.__spec__ = own_spec
    assert module.__spec__ is own_spec


def test_finder_loads_the_stand_in(finder: alias_package.AsgirefFinder) -> None:
    spec = finder.find_spec("asgiref", None)
    assert spec is not None
    assert spec is finder.package.__spec__
    assert importlib.util.module_from_spec(spec) is finder.package
    finder.exec_module(finder.package)
    assert finder.package.__spec__ is spec
    assert finder.package.sync is anyio_bridge.sync
