"""The options of ``anyio-bridge serve``, as :func:`.serve.serve` takes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from .app import AppSpec
from .listen import DEFAULT_HOST, DEFAULT_PORT

__all__ = ["LOG_LEVELS", "Backend", "ServeOptions"]

Backend = Literal["asyncio", "trio"]
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class ServeOptions:
    """The options of ``anyio-bridge serve``."""

    app: AppSpec
    backend: Backend = "asyncio"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    #: ``limiter`` of :class:`~anyio_bridge.wsgi.WsgiToAsgi` (None: its default).
    threads: int | None = None
    root_path: str = ""
    log_level: str = "info"
    #: Install anyio-bridge as asgiref before importing the application.
    as_asgiref: bool = False
