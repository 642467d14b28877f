"""The adapters compared: ours, asgiref, a2wsgi, hypercorn's and starlette's.

Each is built around the WSGI app by a function that imports its library;
a peer that is not installed raises :class:`NotInstalledError`, so its cells
say "not installed" instead of "error".
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread

from .. import ASYNCIO_ONLY, BOTH
from .app import ASGIApp, Scope, WSGIApp


class NotInstalledError(Exception):
    """A peer library is missing: its cells say "not installed", not "error"."""


def _import_peer(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] == top:
            raise NotInstalledError(f"{top} not installed") from exc
        raise


def _build_ours(app: WSGIApp) -> ASGIApp:
    # Not _import_peer: a broken anyio_bridge is an error, never "not installed".
    return importlib.import_module("anyio_bridge.wsgi").WsgiToAsgi(app)  # type: ignore[no-any-return]


def _build_asgiref(app: WSGIApp) -> ASGIApp:
    return _import_peer("asgiref.wsgi").WsgiToAsgi(app)  # type: ignore[no-any-return]


def _build_a2wsgi(app: WSGIApp) -> ASGIApp:
    return _import_peer("a2wsgi").WSGIMiddleware(app)  # type: ignore[no-any-return]


async def _hypercorn_sync_spawn(func: Callable[..., Any], *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args)


def _hypercorn_call_soon(func: Callable[..., Any], *args: Any) -> Any:
    return anyio.from_thread.run(func, *args)


class HypercornShim:
    """Hypercorn's ``WSGIWrapper`` as a plain ASGI app, on any anyio backend.

    The wrapper is no ASGI app: hypercorn calls it as ``await wrapper(scope,
    receive, send, sync_spawn, call_soon)``.  By default ``sync_spawn`` is
    ``anyio.to_thread.run_sync`` and ``call_soon`` is
    ``anyio.from_thread.run``: what hypercorn's trio worker passes, through
    trio's own functions.  Lifespan scopes are answered here (the wrapper
    ignores them, which hypercorn's trio worker does not survive).
    """

    def __init__(
        self,
        wrapper: Any,
        sync_spawn: Callable[..., Any] = _hypercorn_sync_spawn,
        call_soon: Callable[..., Any] = _hypercorn_call_soon,
    ) -> None:
        self.wrapper = wrapper
        self.sync_spawn = sync_spawn
        self.call_soon = call_soon

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"{message['type']}.complete"})
                if kind == "shutdown":
                    return
        await self.wrapper(scope, receive, send, self.sync_spawn, self.call_soon)


def _build_hypercorn(app: WSGIApp) -> ASGIApp:
    module = _import_peer("hypercorn.app_wrappers")
    return HypercornShim(module.WSGIWrapper(app, max_body_size=1 << 40))


def _build_starlette(app: WSGIApp) -> ASGIApp:
    with warnings.catch_warnings():
        # The module warns on import that it is deprecated.
        warnings.simplefilter("ignore")
        module = _import_peer("starlette.middleware.wsgi")
    return module.WSGIMiddleware(app)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Adapter:
    key: str
    label: str
    backends: tuple[str, ...]
    build: Callable[[WSGIApp], ASGIApp]
    ours: bool = False


ADAPTERS: tuple[Adapter, ...] = (
    Adapter("anyio_bridge", "anyio_bridge `WsgiToAsgi`", BOTH, _build_ours, ours=True),
    Adapter("asgiref", "asgiref `WsgiToAsgi`", ASYNCIO_ONLY, _build_asgiref),
    Adapter("a2wsgi", "a2wsgi `WSGIMiddleware`", ASYNCIO_ONLY, _build_a2wsgi),
    Adapter("hypercorn", "hypercorn `WSGIWrapper`", BOTH, _build_hypercorn),
    Adapter("starlette", "starlette `WSGIMiddleware`", BOTH, _build_starlette),
)
ADAPTER_BY_KEY = {adapter.key: adapter for adapter in ADAPTERS}
OURS = ADAPTERS[0]
