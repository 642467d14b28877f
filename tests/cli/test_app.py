"""MODULE:APP parsed, and the WSGI application imported (``_cli.app``)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from anyio_bridge._cli import serve as cli_serve
from anyio_bridge._cli.app import AppSpec, load_wsgi_app, parse_app_spec
from anyio_bridge._cli.errors import ServeError, UsageError
from anyio_bridge._cli.options import ServeOptions

from .conftest import APP_SOURCE, unique_name

# The command line has no Python API but main(): its parts are tested
# through their private modules where a behaviour cannot be reached
# through main() or a subprocess quickly.

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    pass


@pytest.mark.parametrize(
    ("text", "module", "attribute", "is_file"),
    [
        ("webapp:app", "webapp", "app", False),
        ("myproject.wsgi:application", "myproject.wsgi", "application", False),
        ("pkg.mod:api.wsgi_app", "pkg.mod", "api.wsgi_app", False),
        ("examples/flask_app.py:app", "examples/flask_app.py", "app", True),
        ("C:\\site\\app.py:app", "C:\\site\\app.py", "app", True),
    ],
)
def test_parse_app_spec(text: str, module: str, attribute: str, is_file: bool) -> None:
    spec = parse_app_spec(text)
    assert spec == AppSpec(module, attribute)
    assert spec.is_file is is_file
    assert str(spec) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("webapp", "has no ':'"),
        (":app", "not of the form MODULE:APP"),
        ("webapp:", "not of the form MODULE:APP"),
        ("webapp:app()", "not an attribute name"),
        ("webapp:app.", "not an attribute name"),
        ("my-app:app", "neither a dotted module name"),
        ("examples/flask_app:app", "neither a dotted module name"),
    ],
)
def test_parse_app_spec_rejects(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_app_spec(text)


# --- importing the application ----------------------------------------------


def test_load_from_the_current_directory(app_dir: Path) -> None:
    assert app_dir not in map(Path, sys.path)
    app = load_wsgi_app(AppSpec("webapp", "app"))
    assert app is sys.modules["webapp"].app
    assert sys.path[0] == str(app_dir)


def test_load_a_nested_attribute(app_dir: Path) -> None:
    app = load_wsgi_app(AppSpec("webapp", "api.wsgi_app"))
    assert app == sys.modules["webapp"].api.wsgi_app


def test_load_from_a_package_in_a_given_directory(
    tmp_path: Path, clean_imports: None
) -> None:
    package = unique_name()
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "wsgi.py").write_text(APP_SOURCE)
    importlib.invalidate_caches()
    app = load_wsgi_app(AppSpec(f"{package}.wsgi", "app"), str(tmp_path))
    assert app.__module__ == f"{package}.wsgi"


def test_load_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_imports: None
) -> None:
    name = unique_name()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / f"{name}.py").write_text(APP_SOURCE)
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    app = load_wsgi_app(AppSpec(f"site/{name}.py", "app"))
    assert app.__module__ == name
    assert sys.path[0] == str(tmp_path / "site")


def test_file_not_found(app_dir: Path) -> None:
    with pytest.raises(ServeError, match="no such file"):
        load_wsgi_app(AppSpec("missing.py", "app"))


def test_file_name_is_not_a_module_name(app_dir: Path) -> None:
    (app_dir / "my-app.py").write_text(APP_SOURCE)
    with pytest.raises(ServeError, match="'my-app' is not a valid module name"):
        load_wsgi_app(AppSpec("my-app.py", "app"))


def test_file_name_taken_by_another_module(app_dir: Path) -> None:
    (app_dir / "json.py").write_text(APP_SOURCE)
    with pytest.raises(ServeError, match="'json' is already taken by"):
        load_wsgi_app(AppSpec("json.py", "app"))


def test_module_not_found(app_dir: Path) -> None:
    with pytest.raises(ServeError, match="no module named 'nowhere'") as info:
        load_wsgi_app(AppSpec("nowhere.wsgi", "app"))
    assert str(app_dir) in str(info.value)
    assert not info.value.details


def test_module_needs_a_missing_module(app_dir: Path) -> None:
    (app_dir / "needy.py").write_text("import not_installed_anywhere\n")
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("needy", "app"))
    assert str(info.value) == (
        "importing 'needy' failed: No module named 'not_installed_anywhere'"
    )


def test_module_raises(app_dir: Path) -> None:
    (app_dir / "broken.py").write_text("x = 1\nraise RuntimeError('bad config')\n")
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("broken", "app"))
    assert str(info.value) == "importing 'broken' failed: RuntimeError: bad config"
    assert "Traceback" in info.value.details
    assert "broken.py" in info.value.details


@pytest.mark.parametrize("attribute", ["application", "api.missing"])
def test_attribute_missing(app_dir: Path, attribute: str) -> None:
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("webapp", attribute))
    assert str(info.value) == (
        f"module 'webapp' has no attribute {attribute!r}; try webapp:app"
    )


def test_not_callable(app_dir: Path) -> None:
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("webapp", "not_callable"))
    assert str(info.value) == (
        "webapp:not_callable is not a WSGI application: a int object is not "
        "callable; try webapp:app"
    )


def test_application_factory_is_refused(app_dir: Path) -> None:
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("webapp", "create_app"))
    assert str(info.value) == (
        "webapp:create_app is not a WSGI application: it cannot be called with "
        "(environ, start_response), its signature being (); if it is an "
        "application factory, create the application in a module (app = "
        "create_app()) and name that"
    )


SEVERAL_APPS = """
import json
from json import dumps
from os import getcwd


class Wsgi:
    def __call__(self, environ, start_response):
        return []


class Asgi:
    async def __call__(self, scope, receive, send):
        pass


def first(environ, start_response):
    return []


def helper(value, other):
    return value


async def asgi(scope, receive, send):
    pass


second = Wsgi()
asgi_instance = Asgi()
_private = Wsgi()
not_an_app = 3
"""


def test_the_suggestions_list_every_wsgi_application(app_dir: Path) -> None:
    (app_dir / "several.py").write_text(SEVERAL_APPS)
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("several", "app"))
    assert str(info.value) == (
        "module 'several' has no attribute 'app'; it has several:first, several:second"
    )


def test_no_suggestion_without_a_wsgi_application(app_dir: Path) -> None:
    (app_dir / "empty.py").write_text("value = 1\n")
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("empty", "app"))
    assert str(info.value) == "module 'empty' has no attribute 'app'"


def test_a_callable_without_a_signature_is_taken_as_it_is(app_dir: Path) -> None:
    (app_dir / "opaque.py").write_text(
        "def app(environ, start_response):\n    return []\n\n"
        "app.__signature__ = 'not one'\n"
    )
    assert load_wsgi_app(AppSpec("opaque", "app")) is sys.modules["opaque"].app


@pytest.mark.parametrize("attribute", ["asgi_app", "asgi_instance"])
def test_asgi_application_is_refused(app_dir: Path, attribute: str) -> None:
    with pytest.raises(ServeError, match="ASGI application, not a WSGI one"):
        load_wsgi_app(AppSpec("webapp", attribute))


def test_hypercorn_missing(app_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hypercorn.asyncio", None)
    with pytest.raises(
        ServeError, match=re.escape("pip install 'anyio-bridge[serve]'")
    ):
        cli_serve.serve(ServeOptions(AppSpec("webapp", "app"), port=0))


def test_trio_missing(app_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "trio", None)
    with pytest.raises(ServeError, match=re.escape("pip install 'anyio-bridge[trio]'")):
        cli_serve.serve(ServeOptions(AppSpec("webapp", "app"), backend="trio", port=0))
