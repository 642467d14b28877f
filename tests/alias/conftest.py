"""Fixtures shared by the tests of the asgiref stand-in."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import (
    EARLY_PLUGIN,
    ENTRY_POINTS,
    PLAIN_WSGI,
    PROBE,
    SETTINGS,
    URLS,
    USER_TEST,
    docs_file,
    environment,
    python,
)


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    """probe.py in sub/, and the package pkg with probe and __main__ modules."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "probe.py").write_text(PROBE)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "probe.py").write_text(PROBE)
    (tmp_path / "pkg" / "__main__.py").write_text(PROBE)
    return tmp_path


@pytest.fixture
def project_with_pytest(
    tmp_path: Path,
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """A project to run pytest in; with_plugin puts imports_asgiref on its path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "imports_asgiref.py").write_text(EARLY_PLUGIN)
    dist_info = site / "imports_asgiref-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: imports-asgiref\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "real_asgiref_first.py").write_text("import asgiref.sync\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_user.py").write_text(USER_TEST)

    def run(
        *args: str, with_plugin: bool = True, variable: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = environment(variable, PYTHONPATH=str(site) if with_plugin else "")
        if not (project / "pyproject.toml").exists():
            (project / "pytest.ini").write_text("[pytest]\n")
        # pytest-asyncio, when installed beside (CI's 3.12 run), is not under
        # test: its configuration warning would fail projects that turn
        # warnings into errors before anything of ours runs.
        return python(
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            "-q",
            *args,
            cwd=project,
            env=env,
        )

    return run


@pytest.fixture
def django_project(tmp_path: Path) -> Path:
    """mysite/ with a /report view, manage.py and wsgi.py and asgi.py from the
    docs, and plain_wsgi.py: Django's wsgi.py without the alias."""
    pytest.importorskip("django")
    site = tmp_path / "mysite"
    site.mkdir()
    (site / "__init__.py").write_text("")
    (site / "settings.py").write_text(SETTINGS)
    (site / "urls.py").write_text(URLS)
    (site / "plain_wsgi.py").write_text(PLAIN_WSGI)
    (site / "wsgi.py").write_text(docs_file("mysite/wsgi.py"))
    (site / "asgi.py").write_text(docs_file("mysite/asgi.py"))
    (tmp_path / "manage.py").write_text(docs_file("manage.py"))
    return tmp_path
