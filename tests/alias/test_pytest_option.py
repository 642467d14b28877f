"""``pytest -p anyio_bridge.as_asgiref`` and the import in conftest.py."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import (
    checked,
    docs_blocks,
)

# Installing is process-wide and this process has the real asgiref imported,
# so the private modules of anyio_bridge._alias are tested on tables of
# their own, with the installing replaced where it would be process-wide.


# --- pytest -p anyio_bridge.as_asgiref -------------------------------------------


def test_pytest_plugin_comes_before_plugins_that_import_asgiref(
    project_with_pytest: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = project_with_pytest("-p", "anyio_bridge.as_asgiref")
    assert "1 passed" in checked(result)


def test_pytest_plugin_in_addopts_as_the_docs_show(
    project_with_pytest: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    (toml,) = docs_blocks("toml")
    (tmp_path / "project" / "pyproject.toml").write_text(toml)
    result = project_with_pytest()
    assert "1 passed" in checked(result)


def test_pytest_plugin_after_a_plugin_that_imported_asgiref(
    project_with_pytest: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = project_with_pytest(
        "-p", "real_asgiref_first", "-p", "anyio_bridge.as_asgiref"
    )
    assert result.returncode != 0
    assert "AsgirefAlreadyImportedError: anyio-bridge cannot stand in" in result.stderr
    assert "sys.modules has asgiref, " in result.stderr
    assert "pass `-p anyio_bridge.as_asgiref`" in result.stderr


@pytest.mark.parametrize("with_plugin", [False, True])
def test_import_in_conftest(
    project_with_pytest: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    with_plugin: bool,
) -> None:
    """Works, unless a plugin imported asgiref before the conftest files."""
    (tmp_path / "project" / "conftest.py").write_text(
        "import anyio_bridge.as_asgiref\n"
    )
    result = project_with_pytest(with_plugin=with_plugin)
    if with_plugin:
        assert result.returncode != 0
        assert "AsgirefAlreadyImportedError" in result.stdout + result.stderr
    else:
        assert "1 passed" in checked(result)
