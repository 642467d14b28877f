"""The adapters compared: AsgiToWsgi on asyncio and on trio, and a2wsgi.

Plus a reference that is no adapter: the same endpoints written as a plain
WSGI application, which shows what gunicorn costs on its own.

Each is built around the ASGI app by a function that imports its library;
a peer that is not installed raises :class:`NotInstalledError`, so its
cells say "not installed" instead of "error".
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from .. import ASYNCIO, TRIO, installed
from .apps import ASGIApp, WSGIApp, reference_wsgi_app


class NotInstalledError(Exception):
    """A library is missing: its cells say "not installed", not "error"."""


def _import_peer(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] == top:
            raise NotInstalledError(f"{top} not installed") from exc
        raise


def _build_ours(backend: str) -> Callable[[ASGIApp], WSGIApp]:
    def build(app: ASGIApp) -> WSGIApp:
        if backend == TRIO and not installed("trio"):
            raise NotInstalledError("trio not installed")
        # Not _import_peer: a broken anyio_bridge is an error, never
        # "not installed".
        module = importlib.import_module("anyio_bridge.wsgi")
        return module.AsgiToWsgi(app, backend=backend)  # type: ignore[no-any-return]

    return build


def _build_a2wsgi(app: ASGIApp) -> WSGIApp:
    return _import_peer("a2wsgi").ASGIMiddleware(app)  # type: ignore[no-any-return]


def _build_reference(app: ASGIApp) -> WSGIApp:
    return reference_wsgi_app


@dataclass(frozen=True)
class Adapter:
    key: str
    label: str
    backend: str
    build: Callable[[ASGIApp], WSGIApp]
    ours: bool = False
    #: not an adapter: the same endpoints as a plain WSGI app (gunicorn alone)
    reference: bool = False

    def close(self, wsgi_app: object) -> None:
        """Shut *wsgi_app* down if the adapter can (AsgiToWsgi's ``close()``)."""
        close = getattr(wsgi_app, "close", None)
        if self.ours and callable(close):
            close()


OURS_ASYNCIO = Adapter(
    "ours-asyncio",
    "anyio_bridge `AsgiToWsgi` (asyncio)",
    ASYNCIO,
    _build_ours(ASYNCIO),
    ours=True,
)
OURS_TRIO = Adapter(
    "ours-trio", "anyio_bridge `AsgiToWsgi` (trio)", TRIO, _build_ours(TRIO), ours=True
)
A2WSGI = Adapter("a2wsgi", "a2wsgi `ASGIMiddleware` (asyncio)", ASYNCIO, _build_a2wsgi)

REFERENCE = Adapter(
    "wsgi",
    "reference: the same endpoints as a plain WSGI app",
    "-",
    _build_reference,
    reference=True,
)

ADAPTERS: tuple[Adapter, ...] = (OURS_ASYNCIO, OURS_TRIO, A2WSGI, REFERENCE)
ADAPTER_BY_KEY = {adapter.key: adapter for adapter in ADAPTERS}
