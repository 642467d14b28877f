"""The options of ``anyio-bridge serve``, as :func:`.serve.serve` takes them.

They travel as JSON to the processes that serve without a command line of
their own: the worker processes of ``--workers`` and the server that
``--reload`` restarts (:meth:`ServeOptions.to_json`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from .app import AppSpec
from .listen import DEFAULT_HOST, DEFAULT_PORT

__all__ = [
    "ACCESS_LOG_OFF",
    "LOG_LEVELS",
    "Backend",
    "ProxyMode",
    "ServeOptions",
    "StaticMount",
]

Backend = Literal["asyncio", "trio"]
#: Which headers ``--proxy-headers`` trusts: ``X-Forwarded-For`` and
#: ``X-Forwarded-Proto``, or RFC 7239's ``Forwarded``.
ProxyMode = Literal["x-forwarded", "forwarded"]
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")
#: ``--access-log off``.
ACCESS_LOG_OFF: Final = "off"


@dataclass(frozen=True)
class StaticMount:
    """``--static URL_PREFIX=DIRECTORY``: files of *directory* under *prefix*.

    *prefix* starts with ``/`` and has no ``/`` at the end.
    """

    prefix: str
    directory: str

    def __str__(self) -> str:
        return f"{self.prefix}={self.directory}"


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
    #: ``-`` (standard output), a file name, or :data:`ACCESS_LOG_OFF`.
    access_log: str = "-"
    static: tuple[StaticMount, ...] = ()
    reload: bool = False
    certfile: str | None = None
    keyfile: str | None = None
    #: None: the proxy headers are ignored.
    proxy_headers: ProxyMode | None = None
    #: Peers whose proxy headers are trusted: addresses, networks, or ``*``.
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    #: Proxies in front of the server, each adding one entry to the headers.
    proxy_hops: int = 1
    #: Seconds the requests in progress have to finish once shutting down.
    graceful_timeout: float = 3.0
    #: Seconds an idle keep-alive connection stays open.
    keep_alive: float = 5.0

    @property
    def tls(self) -> bool:
        """Whether the server speaks HTTPS (``--certfile``)."""
        return self.certfile is not None

    def to_json(self) -> str:
        """These options as JSON, for :meth:`from_json`."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        """The options :meth:`to_json` wrote."""
        values: dict[str, Any] = json.loads(text)
        values["app"] = AppSpec(**values["app"])
        values["static"] = tuple(StaticMount(**mount) for mount in values["static"])
        values["forwarded_allow_ips"] = tuple(values["forwarded_allow_ips"])
        return cls(**values)
