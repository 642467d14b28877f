"""The ASGI applications the end-to-end tests serve through ``AsgiToWsgi``.

* :func:`server_app`: a plain ASGI application on anyio (so on either
  backend) for the server matrix: hello, upload digests, deterministic
  streamed downloads, an endless download that records how it learnt that
  the client left;
* :func:`starlette_app`, :func:`fastapi_app`: framework applications (they
  run on asyncio and, through anyio, on trio);
* :func:`django_asgi_app`: Django's ASGI handler, settings configured here;
  asyncio only (Django's handler uses asyncio directly), and only in a
  process of its own (gunicorn), never in the test process, where other
  tests configure Django differently;
* :func:`trio_app`: a trio-native application (``trio`` APIs only), for
  ``backend="trio"``;
* :func:`lifespan_recording_app`: appends ``startup <pid>`` and
  ``shutdown <pid>`` to a file, to count lifespans per process.

:class:`Dispatcher` mounts several adapters under path prefixes (so each gets
a ``root_path``) and records which iterable each WSGI call returned.  The
``gunicorn_*`` factories are what gunicorn loads (``module:factory()``); they
read their options from ``E2E_*`` environment variables.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import random
import threading
import wsgiref.util
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import anyio
import trio

from anyio_bridge.wsgi import AsgiToWsgi, ClientDisconnected

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

Message = dict[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StartResponse = Callable[..., Any]

MiB = 1024 * 1024
#: Seconds an application waits for something another request triggers.
WAIT = 20.0
#: An endless download stops here if the adapter never reports the client gone.
ENDLESS_CAP = 1024 * MiB


# -- deterministic payloads ----------------------------------------------------


@functools.cache
def _block() -> bytes:
    return random.Random(20240611).randbytes(MiB)


def payload(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """*size* deterministic bytes in pieces of at most *chunk* bytes.

    Each MiB starts with its index, so a lost, repeated or reordered piece
    changes the digest.
    """
    block = _block()
    sent = index = 0
    while sent < size:
        data = index.to_bytes(8, "big") + block[8:]
        index += 1
        for start in range(0, MiB, chunk):
            piece = data[start : start + chunk][: size - sent]
            if not piece:
                return
            sent += len(piece)
            yield piece


def payload_digest(size: int) -> str:
    """The SHA-256 of ``payload(size)``."""
    digest = hashlib.sha256()
    for piece in payload(size, MiB):
        digest.update(piece)
    return digest.hexdigest()


def current_library() -> str:
    """``"trio"`` or ``"asyncio"``: the event loop running the caller."""
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        asyncio.current_task()  # raises outside of both
        return "asyncio"
    return "trio"


# -- plain ASGI helpers ----------------------------------------------------------


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope["query_string"].decode("latin-1")))


def _headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
    }


async def send_json(send: Send, data: object, status: int = 200) -> None:
    body = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> tuple[str, int, int] | None:
    """Read the request body: its SHA-256, length and message count.

    ``None`` if the client went away (``http.disconnect``).
    """
    digest = hashlib.sha256()
    length = messages = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body = message.get("body", b"")
        digest.update(body)
        length += len(body)
        messages += 1
        if not message.get("more_body", False):
            return digest.hexdigest(), length, messages


# -- the server matrix' application --------------------------------------------


class _Disconnect:
    """How one endless download learnt that its client had gone."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.how: list[str] = []


#: Endless downloads by id (each lives on the loop of the adapter serving it).
_disconnects: dict[str, _Disconnect] = {}


def _disconnect_record(key: str) -> _Disconnect:
    record = _disconnects.get(key)
    if record is None:
        record = _disconnects[key] = _Disconnect()
    return record


async def _endless(scope: Scope, receive: Receive, send: Send) -> None:
    """Stream until the client goes; record whether receive() or send() said so."""
    record = _disconnect_record(_query(scope)["id"])
    try:
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                record.how.append("http.disconnect")
                group.cancel_scope.cancel()

            group.start_soon(watch)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")],
                }
            )
            sent = 0
            try:
                while sent < ENDLESS_CAP:
                    for piece in payload(64 * MiB):
                        await send(
                            {
                                "type": "http.response.body",
                                "body": piece,
                                "more_body": True,
                            }
                        )
                        sent += len(piece)
            except ClientDisconnected:
                record.how.append("ClientDisconnected")
            except OSError as exc:
                record.how.append(f"another OSError: {exc!r}")
            else:
                record.how.append(f"no disconnect after {sent} bytes")
            group.cancel_scope.cancel()
    finally:
        record.done.set()


async def _disconnected(scope: Scope, send: Send) -> None:
    key = _query(scope)["id"]
    record = _disconnect_record(key)
    with anyio.move_on_after(WAIT):
        await record.done.wait()
    _disconnects.pop(key, None)
    await send_json(send, {"done": record.done.is_set(), "how": record.how})


async def _download(scope: Scope, send: Send) -> None:
    query = _query(scope)
    size = int(query["size"])
    headers = [(b"content-type", b"application/octet-stream")]
    if query.get("length"):
        headers.append((b"content-length", str(size).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for piece in payload(size, int(query.get("chunk", 64 * 1024))):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def server_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The application of the server matrix (``lifespan="off"``)."""
    assert scope["type"] == "http", scope["type"]
    path = scope["path"]
    if path.startswith("/hello"):
        await send_json(
            send,
            {
                "path": path,
                "raw_path": scope["raw_path"].decode("latin-1"),
                "query_string": scope["query_string"].decode("latin-1"),
                "root_path": scope["root_path"],
                "method": scope["method"],
                "http_version": scope["http_version"],
                "asgi": scope["asgi"],
                "client_host": (scope["client"] or ["?"])[0],
                "library": current_library(),
                "pid": os.getpid(),
            },
        )
    elif path == "/upload":
        # With ?id=K, what the application saw is also kept for /disconnected.
        key = _query(scope).get("id")
        record = _disconnect_record(key) if key else None
        result = await read_body(receive)
        if record is not None:
            record.how.append(
                "http.disconnect" if result is None else f"body of {result[1]} bytes"
            )
            record.done.set()
        if result is None:
            return
        sha256, length, messages = result
        headers = _headers(scope)
        await send_json(
            send,
            {
                "sha256": sha256,
                "length": length,
                "messages": messages,
                "content_length": headers.get("content-length"),
                "transfer_encoding": headers.get("transfer-encoding"),
            },
        )
    elif path == "/download":
        await _download(scope, send)
    elif path == "/endless":
        await _endless(scope, receive, send)
    elif path == "/disconnected":
        await _disconnected(scope, send)
    elif path == "/pid":
        await send_json(send, {"pid": os.getpid(), "library": current_library()})
    else:
        await send_json(send, {"error": "not found"}, 404)


def server_wsgi(backend: str) -> AsgiToWsgi:
    """:func:`server_app` as a WSGI application on *backend*."""
    return AsgiToWsgi(server_app, backend=backend, lifespan="off")


# -- Starlette -------------------------------------------------------------------

#: Gates of the gated stream, by id: the stream waits until /release opens it.
_gates: dict[str, anyio.Event] = {}


def _gate(key: str) -> anyio.Event:
    gate = _gates.get(key)
    if gate is None:
        gate = _gates[key] = anyio.Event()
    return gate


def starlette_app(files: Path) -> Starlette:
    """A Starlette application serving files from *files*."""
    # Imported here: the test modules that need no framework (and the
    # dependency-floors run, where Starlette cannot import) do without it.
    from starlette.applications import Starlette
    from starlette.responses import (
        FileResponse,
        JSONResponse,
        PlainTextResponse,
        StreamingResponse,
    )
    from starlette.routing import Route

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"started_by": os.getpid(), "library": current_library()}

    async def hello(request: Request) -> Response:
        return JSONResponse(
            {
                "name": request.path_params["name"],
                "query": dict(request.query_params),
                "root_path": request.scope["root_path"],
                "url_path": request.url.path,
                "state": {
                    "started_by": request.state.started_by,
                    "library": request.state.library,
                },
                "library": current_library(),
            }
        )

    async def file(request: Request) -> Response:
        return FileResponse(files / request.path_params["name"])

    async def stream(request: Request) -> Response:
        count = int(request.query_params["count"])

        async def parts() -> AsyncIterator[bytes]:
            for index in range(count):
                await anyio.sleep(0)
                yield f"part {index} {current_library()}\n".encode()

        return StreamingResponse(parts(), media_type="text/plain")

    async def gated(request: Request) -> Response:
        # The first part reaches the client before the application can go
        # on: it waits for the client's /release request.
        key = request.query_params["id"]

        async def parts() -> AsyncIterator[bytes]:
            yield b"before the gate\n"
            with anyio.fail_after(WAIT):
                await _gate(key).wait()
            _gates.pop(key, None)
            yield b"after the gate\n"

        return StreamingResponse(parts(), media_type="text/plain")

    async def release(request: Request) -> Response:
        _gate(request.query_params["id"]).set()
        return PlainTextResponse("released")

    async def upload(request: Request) -> Response:
        digest = hashlib.sha256()
        length = 0
        async for chunk in request.stream():
            digest.update(chunk)
            length += len(chunk)
        return JSONResponse({"sha256": digest.hexdigest(), "length": length})

    return Starlette(
        routes=[
            Route("/hello/{name}", hello),
            Route("/files/{name}", file),
            Route("/stream", stream),
            Route("/gated", gated),
            Route("/release", release),
            Route("/upload", upload, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


# -- FastAPI ---------------------------------------------------------------------

try:
    import pydantic
    from fastapi import FastAPI
except ImportError as exc:
    # CI's dependency-floors run pins typing_extensions 4.6 (the floor on
    # Python 3.10), older than pydantic-core accepts.
    FASTAPI_MISSING: str | None = f"FastAPI cannot be imported here: {exc}"
else:
    FASTAPI_MISSING = None

    class Item(pydantic.BaseModel):
        name: str
        price: float
        tags: list[str] = []

    class Priced(pydantic.BaseModel):
        item_id: int
        name: str
        total: float
        tags: list[str]
        q: str | None
        library: str


def fastapi_app() -> Any:
    app = FastAPI()

    @app.post("/items/{item_id}")
    async def create_item(
        item_id: int, item: Item, q: str | None = None, count: int = 1
    ) -> Priced:
        return Priced(
            item_id=item_id,
            name=item.name,
            total=item.price * count,
            tags=item.tags,
            q=q,
            library=current_library(),
        )

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


# -- Django (asyncio only, in a process of its own) --------------------------------

_django_lock = threading.Lock()


def django_asgi_app() -> Any:
    """Django's ASGI application, with settings configured here.

    Django's ASGI handler is asyncio-only: it calls ``asyncio.create_task``
    and ``asyncio.wait`` itself, so it cannot run on trio.  Configure once
    per process; refuses to run in a process where Django was configured for
    something else.
    """
    import django  # type: ignore[import-untyped]
    from django.conf import settings  # type: ignore[import-untyped]

    with _django_lock:
        if not settings.configured:
            settings.configure(
                DEBUG=False,
                SECRET_KEY="e2e tests only",
                ALLOWED_HOSTS=["127.0.0.1"],
                ROOT_URLCONF=__name__,
                INSTALLED_APPS=[],
                MIDDLEWARE=[],
                DATABASES={},
                USE_TZ=True,
                DATA_UPLOAD_MAX_MEMORY_SIZE=None,
                LOGGING_CONFIG=None,
            )
            django.setup(set_prefix=False)
        elif __name__ != settings.ROOT_URLCONF:
            raise RuntimeError("Django is configured for another URLconf here")
    from django.core.handlers.asgi import ASGIHandler  # type: ignore[import-untyped]

    return ASGIHandler()


def _django_urlpatterns() -> list[Any]:
    from django.http import HttpRequest, HttpResponse, JsonResponse  # type: ignore[import-untyped]
    from django.urls import path  # type: ignore[import-untyped]
    from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

    async def hello(request: HttpRequest, name: str) -> HttpResponse:
        return HttpResponse(f"hello {name} from {current_library()}")

    async def echo(request: HttpRequest) -> JsonResponse:
        body = request.body
        form = (
            request.POST.dict()
            if request.content_type == "application/x-www-form-urlencoded"
            else None
        )
        return JsonResponse(
            {
                "method": request.method,
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "form": form,
                "path": request.path,
                "path_info": request.path_info,
                "script_name": request.META.get("SCRIPT_NAME"),
                "library": current_library(),
            }
        )

    return [
        path("hello/<str:name>", hello),
        path("echo", csrf_exempt(echo)),
    ]


def __getattr__(name: str) -> Any:
    # Django imports ROOT_URLCONF (this module) for `urlpatterns` once it is
    # set up; the views need Django's settings, so they are made then.
    if name == "urlpatterns":
        return _django_urlpatterns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- trio-native -----------------------------------------------------------------


async def trio_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI application written against trio alone (serve with ``backend="trio"``).

    ``/ping``: two tasks in a nursery hand a value over through a
    ``trio.Event``; ``/shout``: the request body, upper-cased, streamed from
    a producer task through a trio memory channel; ``/nap``: ``trio.sleep``.
    """
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    path = scope["path"][len(scope["root_path"]) :]
    if path == "/ping":
        handed: list[str] = []
        ready = trio.Event()

        async def producer() -> None:
            await trio.sleep(0)
            handed.append(f"pong from {trio.lowlevel.current_task().name}")
            ready.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(producer, name="trio producer")
            await ready.wait()
        await send_json(
            send,
            {
                "handed": handed,
                "token": type(trio.lowlevel.current_trio_token()).__name__,
            },
        )
    elif path == "/shout":
        sender, receiver = trio.open_memory_channel[bytes](2)

        async def shout() -> None:
            async with sender:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    await sender.send(message.get("body", b"").upper())
                    if not message.get("more_body", False):
                        return

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(shout)
            async with receiver:
                async for chunk in receiver:
                    await send(
                        {"type": "http.response.body", "body": chunk, "more_body": True}
                    )
        await send({"type": "http.response.body", "body": b""})
    elif path == "/nap":
        before = trio.current_time()
        await trio.sleep(0.01)
        await send_json(send, {"slept": trio.current_time() - before >= 0.01})
    else:
        await send_json(send, {"error": "not found"}, 404)


# -- lifespan, per process -------------------------------------------------------


def _record(path: str, line: str) -> None:
    # One short O_APPEND write: atomic between the worker processes.
    with open(path, "a") as file:
        file.write(line + "\n")


def lifespan_recording_app(record: str) -> ASGIApp:
    """An application that appends its lifespan events, with its pid, to *record*.

    ``/pid``: this process and the one whose startup filled ``scope["state"]``.
    ``/hold?port=N``: starts its response, connects to the test on port N,
    sends its pid and holds the request (and a sync worker) until the test
    closes that connection.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        pid = os.getpid()
        if scope["type"] == "lifespan":
            await receive()
            _record(record, f"startup {pid}")
            scope["state"]["pid"] = pid
            await send({"type": "lifespan.startup.complete"})
            await receive()
            _record(record, f"shutdown {pid}")
            await send({"type": "lifespan.shutdown.complete"})
            return
        info = {"pid": pid, "state_pid": scope["state"]["pid"]}
        if scope["path"] == "/pid":
            await send_json(send, info)
            return
        assert scope["path"] == "/hold", scope["path"]
        port = int(_query(scope)["port"])
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send(
            {
                "type": "http.response.body",
                "body": json.dumps(info).encode() + b"\n",
                "more_body": True,
            }
        )
        with anyio.fail_after(WAIT):
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                await stream.send(str(pid).encode())
                try:
                    while True:
                        await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass
        await send({"type": "http.response.body", "body": b"released\n"})

    return app


# -- mounting several adapters -----------------------------------------------------


class Dispatcher:
    """Mounts adapters under ``/<name>`` and records the iterables they return.

    ``SCRIPT_NAME`` gets the prefix (the application's ``root_path``).  A
    request with ``X-E2E-Id: K`` has the kind of iterable its WSGI call
    returned recorded under K (``file_wrapper``: the server's
    ``wsgi.file_wrapper``, else the class name), read back from
    ``/_e2e/iterable?id=K``; ``X-E2E-No-File-Wrapper: 1`` hides the server's
    ``wsgi.file_wrapper`` from the adapter.  ``/_e2e/pid`` answers the pid.
    """

    def __init__(self, apps: dict[str, AsgiToWsgi]) -> None:
        self.apps = apps
        self.iterables: dict[str, str] = {}

    def __call__(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/_e2e/"):
            return self._own(environ, start_response)
        name = wsgiref.util.shift_path_info(environ)
        app = self.apps.get(name or "")
        if app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such application"]
        inner = environ
        if environ.get("HTTP_X_E2E_NO_FILE_WRAPPER"):
            inner = {k: v for k, v in environ.items() if k != "wsgi.file_wrapper"}
        result = app(inner, start_response)
        key = environ.get("HTTP_X_E2E_ID")
        if key:
            wrapper = inner.get("wsgi.file_wrapper")
            if isinstance(wrapper, type) and isinstance(result, wrapper):
                self.iterables[key] = "file_wrapper"
            else:
                self.iterables[key] = type(result).__name__
        return result

    def _own(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/_e2e/pid":
            data: object = {"pid": os.getpid()}
        elif path == "/_e2e/iterable":
            key = dict(parse_qsl(environ.get("QUERY_STRING", "")))["id"]
            data = {"iterable": self.iterables.pop(key, None)}
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such page"]
        body = json.dumps(data).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def close(self) -> None:
        for app in self.apps.values():
            app.close()


def frameworks_wsgi(backend: str, files: Path, *, django: bool = False) -> Dispatcher:
    """Starlette and FastAPI on *backend*, plus trio-native (on trio) or Django.

    *django* only in a process of its own (see :func:`django_asgi_app`).
    """
    apps = {"starlette": AsgiToWsgi(starlette_app(files), backend=backend)}
    if FASTAPI_MISSING is None:
        apps["fastapi"] = AsgiToWsgi(fastapi_app(), backend=backend)
    if backend == "trio":
        apps["trio"] = AsgiToWsgi(trio_app, backend="trio")
    if django:
        # asyncio whatever the others run on: Django's handler needs it.
        apps["django"] = AsgiToWsgi(django_asgi_app(), backend="asyncio")
    return Dispatcher(apps)


# -- what gunicorn loads ---------------------------------------------------------


def _backend() -> str:
    return os.environ.get("E2E_BACKEND", "asyncio")


def gunicorn_server_app() -> AsgiToWsgi:
    """:func:`server_wsgi` on ``$E2E_BACKEND``."""
    return server_wsgi(_backend())


def gunicorn_frameworks_app() -> Dispatcher:
    """:func:`frameworks_wsgi` on ``$E2E_BACKEND``, files from ``$E2E_FILES``,
    Django too on asyncio."""
    backend = _backend()
    return frameworks_wsgi(
        backend, Path(os.environ["E2E_FILES"]), django=backend == "asyncio"
    )


def _ignore_start(status: str, headers: list[Any], exc_info: Any = None) -> Any:
    return None


def gunicorn_lifespan_app() -> AsgiToWsgi:
    """:func:`lifespan_recording_app` on ``$E2E_BACKEND``, ``lifespan="on"``.

    Records ``load <pid>`` when called (where gunicorn imports the
    application: the master with ``--preload``, else each worker).  With
    ``E2E_WARM_LOOP=1`` it first serves one request through another adapter
    on the same backend, so the process's loop thread is running when
    gunicorn forks: the workers must not inherit it.
    """
    backend = _backend()
    record = os.environ["E2E_LIFESPAN_FILE"]
    _record(record, f"load {os.getpid()}")
    if os.environ.get("E2E_WARM_LOOP"):
        warm = AsgiToWsgi(server_app, backend=backend, lifespan="off")
        environ: dict[str, Any] = {}
        wsgiref.util.setup_testing_defaults(environ)
        environ["PATH_INFO"] = "/pid"
        body = b"".join(warm(environ, _ignore_start))
        warm.close()
        _record(record, f"warm {json.loads(body)['pid']} {backend}")
    return AsgiToWsgi(lifespan_recording_app(record), backend=backend, lifespan="on")
