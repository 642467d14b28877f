"""``anyio-bridge serve --as-asgiref``."""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asgiref.sync  # noqa: F401 - the real one: see below
import pytest

from anyio_bridge._cli import app as cli_app
from anyio_bridge._cli import command as cli_command
from anyio_bridge._cli import main as cli_main
from anyio_bridge._cli import serve as cli_serve
from anyio_bridge._cli.app import AppSpec
from anyio_bridge._cli.errors import ServeError
from anyio_bridge._cli.options import ServeOptions

# Installing is process-wide and this process has the real asgiref imported
# (above, so that this holds when this module runs alone too), so the private
# modules of anyio_bridge._alias are tested on tables of
# their own, with the installing replaced where it would be process-wide.


# --- anyio-bridge serve --as-asgiref ----------------------------------------------


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.fixture
def webapp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_imports: None) -> str:
    """The name of a WSGI application module in the current directory."""
    name = f"alias_webapp_{os.getpid()}"
    (tmp_path / f"{name}.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'']\n"
    )
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    return name


def test_serve_refuses_when_the_real_asgiref_is_imported(webapp: str) -> None:
    options = ServeOptions(AppSpec(webapp, "app"), port=0, as_asgiref=True)
    with pytest.raises(ServeError, match="anyio-bridge cannot stand in for asgiref"):
        cli_serve.serve(options)
    assert webapp not in sys.modules  # refused before importing the application


def test_serve_command_reports_it(
    webapp: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli_main(["serve", "--as-asgiref", f"{webapp}:app", "--bind=127.0.0.1:0"]) == 1
    )
    err = capsys.readouterr().err
    assert err.startswith(
        "anyio-bridge serve: error: anyio-bridge cannot stand in for asgiref"
    )


def test_serve_installs_before_importing_in_every_process(
    webapp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the command's process, then in each worker (run here, as hypercorn's
    would)."""
    import hypercorn.run
    from hypercorn.config import Config
    from hypercorn.utils import load_application

    events: list[str] = []
    load = cli_app.load_wsgi_app

    def install() -> None:
        events.append("install")

    def load_app(spec: AppSpec, directory: str | None = None) -> Any:
        events.append("load")
        return load(spec, directory)

    def run(config: Config) -> int:
        sockets = config.create_sockets()
        try:
            load_application(config.application_path, 1000)
        finally:
            for sock in sockets.insecure_sockets:
                sock.close()
        return 0

    monkeypatch.setattr(cli_app, "install_as_asgiref", install)
    monkeypatch.setattr(cli_app, "load_wsgi_app", load_app)
    monkeypatch.setattr(hypercorn.run, "run", run)
    options = ServeOptions(AppSpec(webapp, "app"), port=0, workers=2, as_asgiref=True)
    assert cli_serve.serve(options, output=io.StringIO()) == 0
    assert events == ["install", "load", "install", "load"]


def test_serve_without_the_option_installs_nothing(
    webapp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hypercorn.run
    from hypercorn.config import Config
    from hypercorn.utils import load_application

    def install() -> None:
        raise AssertionError("installed")

    def run(config: Config) -> int:
        sockets = config.create_sockets()
        try:
            load_application(config.application_path, 1000)
        finally:
            for sock in sockets.insecure_sockets:
                sock.close()
        return 0

    monkeypatch.setattr(cli_app, "install_as_asgiref", install)
    monkeypatch.setattr(hypercorn.run, "run", run)
    options = ServeOptions(AppSpec(webapp, "app"), port=0, workers=2)
    assert cli_serve.serve(options, output=io.StringIO()) == 0


def test_command_line_option_reaches_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ServeOptions] = []

    def serve(options: ServeOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(cli_command, "serve", serve)
    assert cli_main(["serve", "webapp:app", "--as-asgiref"]) == 0
    assert cli_main(["serve", "webapp:app"]) == 0
    assert [options.as_asgiref for options in seen] == [True, False]
