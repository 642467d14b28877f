"""Real ASGI servers on 127.0.0.1 (a free port), for the end-to-end tests.

Each server runs in a background thread of the test process, with its own
event loop: hypercorn on asyncio, hypercorn on trio, and uvicorn (asyncio).
They serve a :class:`Mount`, whose application a test swaps before it sends
requests, so one server serves a whole test module.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]

SERVERS = ("hypercorn-asyncio", "hypercorn-trio", "uvicorn")
STARTUP_TIMEOUT = 30.0


class Mount:
    """An ASGI application that forwards HTTP requests to :attr:`app`.

    Lifespan is answered here, so the mounted applications see only HTTP.
    """

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if self.app is None:  # the start-up probe
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def _listener() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(100)
    listener.setblocking(False)
    return listener


class _Hypercorn:
    def __init__(self, app: Mount, listener: socket.socket, backend: str) -> None:
        from hypercorn.config import Config, Sockets

        class ListenerConfig(Config):
            def create_sockets(self) -> Sockets:
                return Sockets([], [listener], [])

        self.config = ListenerConfig()
        self.config.loglevel = "WARNING"
        self.config.graceful_timeout = 1
        # hypercorn closes an idle connection only when this runs out, even
        # after the client has closed it: keep it short, or every test would
        # wait that long for the file descriptor leak check.
        self.config.keep_alive_timeout = 0.2
        self.app = app
        self.backend = backend
        self.started = threading.Event()
        self.token: anyio.lowlevel.EventLoopToken | None = None
        self.stop_event: anyio.Event | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            anyio.run(self._serve, backend=self.backend)
        except BaseException as exc:  # reported by the fixture
            self.error = exc
            self.started.set()

    async def _serve(self) -> None:
        self.token = anyio.lowlevel.current_token()
        self.stop_event = anyio.Event()
        self.started.set()
        if self.backend == "trio":
            from hypercorn.trio import serve as trio_serve

            await trio_serve(
                self.app,  # type: ignore[arg-type]
                self.config,
                shutdown_trigger=self.stop_event.wait,
            )
        else:
            from hypercorn.asyncio import serve as asyncio_serve

            await asyncio_serve(
                self.app,  # type: ignore[arg-type]
                self.config,
                shutdown_trigger=self.stop_event.wait,
            )

    def stop(self) -> None:
        assert self.stop_event is not None
        anyio.from_thread.run_sync(self.stop_event.set, token=self.token)


class _Uvicorn:
    def __init__(self, app: Mount, listener: socket.socket) -> None:
        import uvicorn

        self.listener = listener
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
            )
        )
        self.started = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        # The listener already accepts connections: requests wait in its
        # backlog until the server takes them.
        self.started.set()
        try:
            self.server.run(sockets=[self.listener])
        except BaseException as exc:  # reported by the fixture
            self.error = exc

    def stop(self) -> None:
        self.server.should_exit = True


@contextmanager
def running_server(kind: str) -> Iterator[tuple[str, Mount]]:
    """Run a server of *kind* (one of :data:`SERVERS`); yield its URL and mount."""
    mount = Mount()
    listener = _listener()
    server: _Hypercorn | _Uvicorn
    if kind == "uvicorn":
        server = _Uvicorn(mount, listener)
    else:
        server = _Hypercorn(mount, listener, kind.split("-")[1])
    thread = threading.Thread(target=server.run, name=f"test server {kind}")
    thread.start()
    port = listener.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, server, thread)
        yield url, mount
    finally:
        if thread.is_alive():
            server.stop()
        thread.join(STARTUP_TIMEOUT)
        listener.close()
        assert not thread.is_alive(), f"{kind} did not stop"
    if server.error is not None:
        raise server.error


def _wait_until_serving(url: str, server: Any, thread: threading.Thread) -> None:
    """Poll the listener until the server answers (or fail with its error)."""
    import httpx

    server.started.wait(STARTUP_TIMEOUT)
    if server.error is not None:
        raise server.error
    with httpx.Client(timeout=STARTUP_TIMEOUT) as client:
        # The listener already accepts connections: the first request waits
        # in the backlog until the server takes it, so no polling is needed.
        assert client.get(url + "/").status_code == 404
