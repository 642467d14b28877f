"""Installing the alias, and refusing to (``_alias.install``); the alias in
fresh processes."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import sys
from typing import Any

import asgiref
import asgiref.local
import asgiref.sync
import pytest

import anyio_bridge
import anyio_bridge.local
import anyio_bridge.sync
from anyio_bridge import _alias
from anyio_bridge._alias import install as alias_install
from anyio_bridge._alias import package as alias_package
from anyio_bridge._alias import runner, startup

from .helpers import (
    CHECK_ALIAS,
    ENV_VAR,
    OURS,
    checked,
    python,
    tables_without_asgiref,
)

# Installing is process-wide and this process has the real asgiref imported,
# so the private modules of anyio_bridge._alias are tested on tables of
# their own, with the installing replaced where it would be process-wide.


# --- installing, on tables of its own ----------------------------------------


def test_install_maps_every_module() -> None:
    modules, meta_path = tables_without_asgiref()
    environ: dict[str, str] = {}
    package = alias_install.install(modules, meta_path, environ)
    assert environ == {"ANYIO_BRIDGE_AS_ASGIREF": "1"}  # for child processes
    assert modules["asgiref"] is package
    assert package.__name__ == "asgiref"
    assert package.__version__ == _alias.ASGIREF_VERSION == "3.13.0"
    assert package.__alias_of__ == "anyio_bridge"
    assert package.__path__ == []
    assert package.__package__ == "asgiref"
    assert not hasattr(package, "__file__")
    (finder,) = meta_path
    assert package.__loader__ is finder
    spec = package.__spec__
    assert spec is not None
    assert spec.name == "asgiref"
    assert spec.submodule_search_locations == []
    assert "anyio-bridge" in repr(package)
    for name, target in OURS.items():
        assert modules[f"asgiref.{name}"] is sys.modules[target]
        assert getattr(package, name) is sys.modules[target]
    assert sorted(name for name in modules if alias_package.is_asgiref(name)) == sorted(
        ["asgiref", *(f"asgiref.{name}" for name in OURS)]
    )


def test_install_again_changes_nothing() -> None:
    modules, meta_path = tables_without_asgiref()
    package = alias_install.install(modules, meta_path, {})
    before = (dict(modules), list(meta_path))
    assert alias_install.install(modules, meta_path, {}) is package
    assert (dict(modules), list(meta_path)) == before


@pytest.mark.parametrize(
    ("before", "after"),
    [(None, "1"), ("", "1"), ("1", "1"), ("yes", "1"), ("0", "0")],
)
def test_install_sets_the_variable_for_child_processes(
    before: str | None, after: str
) -> None:
    """To 1, which child processes inherit; a 0 stays, to keep them without."""
    modules, meta_path = tables_without_asgiref()
    environ = {} if before is None else {ENV_VAR: before}
    alias_install.install(modules, meta_path, environ)
    assert environ == {ENV_VAR: after}
    environ.pop(ENV_VAR)
    alias_install.install(modules, meta_path, environ)  # installing again, too
    assert environ == {ENV_VAR: "1"}


def test_install_again_puts_back_what_was_removed() -> None:
    modules, meta_path = tables_without_asgiref()
    package = alias_install.install(modules, meta_path, {})
    del modules["asgiref.sync"]
    meta_path.clear()
    assert alias_install.install(modules, meta_path, {}) is package
    assert modules["asgiref.sync"] is anyio_bridge.sync
    (finder,) = meta_path
    assert package.__loader__ is finder


def test_the_real_asgiref_blocks_the_install() -> None:
    modules, meta_path, environ = dict(sys.modules), list[Any](), dict[str, str]()
    with pytest.raises(_alias.AsgirefAlreadyImportedError) as caught:
        alias_install.install(modules, meta_path, environ)
    assert (modules, meta_path, environ) == (dict(sys.modules), [], {})
    error = caught.value
    assert {"asgiref", "asgiref.local", "asgiref.sync"} <= set(error.modules)
    assert list(error.modules) == sorted(error.modules)
    assert error.location == asgiref.__file__
    message = str(error)
    assert f"(the real asgiref, from {asgiref.__file__})" in message
    assert "sys.modules has asgiref, " in message
    for fix in (
        "`python -m anyio_bridge.as_asgiref SCRIPT [ARG ...]`",
        "`python -m anyio_bridge.as_asgiref -m MODULE [ARG ...]`",
        "`-p anyio_bridge.as_asgiref`",
        "`import anyio_bridge.as_asgiref` the first import of manage.py",
    ):
        assert fix in message


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("asgiref.sync", asgiref.sync),  # the real one next to the stand-in
        ("asgiref.local", anyio_bridge.sync),  # ours, under the wrong name
        ("asgiref._native", anyio_bridge.sync),  # not a module of asgiref
        ("asgiref.typing", None),  # imports of it blocked
    ],
)
def test_any_module_not_ours_blocks_the_install(name: str, module: Any) -> None:
    modules, meta_path = tables_without_asgiref()
    alias_install.install(modules, meta_path, {})
    modules[name] = module
    before = (dict(modules), list(meta_path))
    with pytest.raises(_alias.AsgirefAlreadyImportedError) as caught:
        alias_install.install(modules, meta_path, {})
    assert caught.value.modules == (name,)
    assert caught.value.location is None
    assert "already; sys.modules has " in str(caught.value)
    assert (dict(modules), list(meta_path)) == before


def test_a_blocked_asgiref_blocks_the_install() -> None:
    modules, meta_path = tables_without_asgiref()
    modules["asgiref"] = None
    with pytest.raises(_alias.AsgirefAlreadyImportedError) as caught:
        alias_install.install(modules, meta_path, {})
    assert caught.value.modules == ("asgiref",)


def test_install_here_raises_and_changes_nothing() -> None:
    modules, meta_path = dict(sys.modules), list(sys.meta_path)
    environ = dict(os.environ)
    with pytest.raises(anyio_bridge.AsgirefAlreadyImportedError):
        anyio_bridge.install_as_asgiref()
    assert (dict(sys.modules), sys.meta_path) == (modules, meta_path)
    assert dict(os.environ) == environ
    assert "ANYIO_BRIDGE_AS_ASGIREF" not in environ


def test_importing_the_module_here_raises_and_changes_nothing() -> None:
    modules, meta_path = dict(sys.modules), list(sys.meta_path)
    with pytest.raises(anyio_bridge.AsgirefAlreadyImportedError):
        importlib.import_module("anyio_bridge.as_asgiref")
    assert (dict(sys.modules), sys.meta_path) == (modules, meta_path)


def test_error_class() -> None:
    error_class = anyio_bridge.AsgirefAlreadyImportedError
    assert error_class is _alias.AsgirefAlreadyImportedError
    assert issubclass(error_class, RuntimeError)
    assert not issubclass(error_class, ImportError)
    assert error_class.__module__ == "anyio_bridge"
    error = error_class(["asgiref.sync", "asgiref"], "/site/asgiref/__init__.py")
    assert error.modules == ("asgiref", "asgiref.sync")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is error_class
    assert (copy.modules, copy.location, str(copy)) == (
        error.modules,
        error.location,
        str(error),
    )


def test_public_names() -> None:
    assert anyio_bridge.install_as_asgiref is _alias.install_as_asgiref
    assert {"install_as_asgiref", "AsgirefAlreadyImportedError"} <= set(
        anyio_bridge.__all__
    )


def test_import_anyio_bridge_imports_no_more_for_it() -> None:
    """The alias costs nothing until it is installed."""
    code = "import sys, anyio_bridge; print(' '.join(sorted(sys.modules)))"
    loaded = set(checked(python("-c", code)).split())
    assert "anyio_bridge._alias" in loaded
    assert (
        not {
            "importlib.abc",
            "runpy",
            "anyio_bridge.testing",
            "anyio_bridge.server",
            "anyio_bridge.wsgi",
            "anyio_bridge._alias.runner",
            "anyio_bridge._alias.startup",
            "anyio_bridge._cli",
        }
        & loaded
    )


def test_names_the_package_loads_on_first_use() -> None:
    """_alias keeps the names other code imports from it: main (for
    as_asgiref) and _install_at_first_import (for the finder of the .pth
    file, in environments installed by any version)."""
    assert _alias.main is runner.main
    assert _alias._install_at_first_import is startup.install_at_first_import
    namespace: dict[str, object] = {}
    exec("from anyio_bridge._alias import _install_at_first_import", namespace)
    assert namespace["_install_at_first_import"] is startup.install_at_first_import
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _alias.nope  # noqa: B018


# --- the alias in a process of its own -----------------------------------------


@pytest.mark.parametrize(
    "install",
    [
        "import anyio_bridge.as_asgiref",
        "import anyio_bridge; anyio_bridge.install_as_asgiref()",
    ],
)
def test_alias_in_a_fresh_process(install: str) -> None:
    assert checked(python("-c", install + "\n" + CHECK_ALIAS)) == "alias ok\n"


FRAMEWORKS = """
import anyio_bridge.as_asgiref
import sys

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "channels"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
import channels.db
import channels.generic.websocket
import channels.testing
import channels.worker
import daphne.cli
import daphne.server
import django.core.handlers.asgi
import django.core.handlers.wsgi
import django.test

import anyio_bridge.local, anyio_bridge.server, anyio_bridge.sync, anyio_bridge.testing

assert anyio_bridge.testing.ApplicationCommunicator in (
    channels.testing.ApplicationCommunicator.__mro__
)
assert channels.worker.Worker.__mro__[1] is anyio_bridge.server.StatelessServer
assert issubclass(channels.db.database_sync_to_async, anyio_bridge.sync.SyncToAsync)
assert django.core.handlers.asgi.sync_to_async is anyio_bridge.sync.sync_to_async
import django.urls.base
assert type(django.urls.base._prefixes) is anyio_bridge.local.Local
for name, module in list(sys.modules.items()):
    if name.startswith("asgiref."):
        assert module is sys.modules["anyio_bridge." + name[8:]], name
    file = getattr(module, "__file__", None) or ""
    assert "site-packages/asgiref" not in file, name
print("frameworks ok")
"""


def test_django_channels_and_daphne_import_ours() -> None:
    assert checked(python("-c", FRAMEWORKS)) == "frameworks ok\n"


def test_import_after_the_real_asgiref_fails_in_a_fresh_process() -> None:
    code = "import django.core.management\nimport anyio_bridge.as_asgiref\n"
    result = python("-c", code)
    assert result.returncode == 1
    last = result.stderr.splitlines()[-4]
    assert last.startswith(
        "anyio_bridge.AsgirefAlreadyImportedError: anyio-bridge cannot stand in "
        "for asgiref: asgiref is imported already (the real asgiref, from "
    )
    assert "sys.modules has asgiref, asgiref.current_thread_executor" in last
