"""Shared by the tests of ``anyio-bridge serve``: an application module, and
a current directory holding it."""

from __future__ import annotations

import importlib
import os
import re
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WAIT = 30  # seconds: generous bound for things that must happen
URL = re.compile(r"http://\S+")
SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: A WSGI application module for the servers under test.  /stream sends one
#: line, then blocks until /release is requested (or the test ends).
APP_SOURCE = """
import threading

release = threading.Event()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return stream()
    if path == "/release":
        release.set()
    body = f"{environ['SCRIPT_NAME']}|{path}|{environ['REQUEST_METHOD']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def stream():
    yield b"first line\\n"
    release.wait()
    yield b"last line\\n"


not_callable = 42


async def asgi_app(scope, receive, send):
    pass


class AsgiClass:
    async def __call__(self, scope, receive, send):
        pass


asgi_instance = AsgiClass()


class Api:
    def wsgi_app(self, environ, start_response):
        start_response("204 No Content", [])
        return []


api = Api()
"""


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo the changes importing applications makes to sys.path and sys.modules.

    Only the modules imported from directories the test put on sys.path are
    forgotten: a library a test happened to import first (httpx's internals,
    say) stays, so that its classes stay the ones other tests catch.
    """
    path_before = list(sys.path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    added = [
        os.path.join(os.path.abspath(entry), "")
        for entry in sys.path
        if entry not in path_before
    ]
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None) or ""
        if any(os.path.abspath(file).startswith(entry) for entry in added):
            del sys.modules[name]


@pytest.fixture
def app_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_imports: None
) -> Path:
    """The current directory, holding the application module ``webapp``."""
    (tmp_path / "webapp.py").write_text(APP_SOURCE)
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    return tmp_path


def unique_name() -> str:
    return f"serve_test_{uuid.uuid4().hex}"
