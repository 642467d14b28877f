"""The .pth file's finder, in this process (``_alias.startup``)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

import asgiref
import asgiref.local
import asgiref.sync
import pytest

import anyio_bridge
import anyio_bridge.local
import anyio_bridge.sync
from anyio_bridge import _alias
from anyio_bridge._alias import install as alias_install
from anyio_bridge._alias import startup

from .helpers import (
    docs_blocks,
    tables_without_asgiref,
)

# Installing is process-wide and this process has the real asgiref imported,
# so the private modules of anyio_bridge._alias are tested on tables of
# their own, with the installing replaced where it would be process-wide.


# --- the .pth file's finder, in this process ------------------------------------


@pytest.fixture
def installed_package(monkeypatch: pytest.MonkeyPatch) -> list[types.ModuleType]:
    """install_as_asgiref() installs on tables of its own: the packages it
    returned."""
    modules, meta_path = tables_without_asgiref()
    installed: list[types.ModuleType] = []

    def install() -> types.ModuleType:
        installed.append(alias_install.install(modules, meta_path, {}))
        return installed[-1]

    monkeypatch.setattr(startup, "install_as_asgiref", install)
    return installed


@pytest.mark.parametrize("name", ["asgiref", "asgiref.sync"])
def test_first_import_installs_and_finds(
    installed_package: list[types.ModuleType],
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    spec = startup.install_at_first_import("1", name)
    (package,) = installed_package
    assert spec is not None
    assert spec.name == name
    assert spec.loader is package.__loader__
    own_spec = anyio_bridge.sync.__spec__
    try:  # as the import system goes on
        module = importlib.util.module_from_spec(spec)
    finally:
        anyio_bridge.sync.__spec__ = own_spec
    assert module is (package if name == "asgiref" else anyio_bridge.sync)
    assert capsys.readouterr() == ("", "")


def test_first_import_with_a_name_asgiref_has_not(
    installed_package: list[types.ModuleType],
) -> None:
    with pytest.raises(ModuleNotFoundError, match="anyio-bridge's stand-in"):
        startup.install_at_first_import("1", "asgiref.nope")


def test_first_import_with_a_value_it_does_not_know(
    installed_package: list[types.ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    assert startup.install_at_first_import("true", "asgiref") is None
    assert installed_package == []
    assert capsys.readouterr() == (
        "",
        "anyio-bridge: ANYIO_BRIDGE_AS_ASGIREF='true' is neither 1 nor 0, so "
        "asgiref is not aliased in this process\n",
    )


def test_first_import_after_the_real_asgiref_here(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """This process has the real asgiref: installing fails, and changes nothing."""
    modules, meta_path = dict(sys.modules), list(sys.meta_path)
    environ = dict(os.environ)
    assert startup.install_at_first_import("1", "asgiref") is None
    assert (dict(sys.modules), sys.meta_path) == (modules, meta_path)
    assert dict(os.environ) == environ
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        "anyio-bridge: ANYIO_BRIDGE_AS_ASGIREF=1, but the real asgiref (from "
        f"{asgiref.__file__}) was imported before anyio_bridge_as_asgiref.pth ran "
        "(sys.modules has asgiref, "
    )
    assert err.endswith(", so asgiref is not aliased in this process\n")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            _alias.AsgirefAlreadyImportedError(["asgiref"]),
            "the real asgiref was imported before anyio_bridge_as_asgiref.pth ran "
            "(sys.modules has asgiref)",
        ),
        (
            ImportError("No module named 'anyio'\n  (and more)"),
            "installing anyio-bridge as asgiref failed (ImportError: No module "
            "named 'anyio' (and more))",
        ),
    ],
)
def test_first_import_reports_a_failed_install_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    message: str,
) -> None:
    def install() -> None:
        raise error

    monkeypatch.setattr(startup, "install_as_asgiref", install)
    assert startup.install_at_first_import("1", "asgiref") is None
    assert capsys.readouterr() == (
        "",
        f"anyio-bridge: ANYIO_BRIDGE_AS_ASGIREF=1, but {message}, so asgiref is "
        "not aliased in this process\n",
    )


def test_docs_startup_message_is_the_real_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (shown,) = [
        code for code in docs_blocks("text") if code.startswith("anyio-bridge:")
    ]
    error = anyio_bridge.AsgirefAlreadyImportedError(
        ["asgiref", "asgiref.current_thread_executor", "asgiref.local", "asgiref.sync"],
        ".../site-packages/asgiref/__init__.py",
    )

    def install() -> None:
        raise error

    monkeypatch.setattr(startup, "install_as_asgiref", install)
    startup.install_at_first_import("1", "asgiref")
    assert capsys.readouterr().err == shown
