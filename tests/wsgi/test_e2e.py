"""WsgiToAsgi end to end: real servers on loopback, httpx as the client.

Each test runs against hypercorn's asyncio and trio workers and uvicorn (see
``tests/wsgi/servers.py``); the server's event loop runs in a thread of its own,
so the tests themselves are synchronous.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import anyio.from_thread
import flask
import httpx
import psutil
import pytest
import trio

from anyio_bridge.wsgi import WsgiToAsgi

from .servers import SERVERS, Mount, running_server

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WAIT = 20.0
MiB = 1024 * 1024
CHUNK = 64 * 1024


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Mount]]:
    with running_server(request.param) as (url, mount):
        yield url, mount


@pytest.fixture
def serve(server: tuple[str, Mount]) -> Iterator[Callable[..., str]]:
    """``serve(wsgi_app, **options)`` mounts the app; returns the base URL."""
    url, mount = server

    def mount_app(app: Any, **options: Any) -> str:
        mount.app = WsgiToAsgi(app, **options)
        return url

    yield mount_app
    mount.app = None


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=WAIT) as http:
        yield http


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    body = f"hello {environ['PATH_INFO']}?{environ['QUERY_STRING']}".encode()
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    )
    return [body]


def test_hello_and_head(serve: Callable[..., str], client: httpx.Client) -> None:
    url = serve(validator(hello))
    response = client.get(url + "/path/x", params={"q": "1"})
    assert (response.status_code, response.text) == (200, "hello /path/x?q=1")
    assert response.headers["content-type"] == "text/plain"
    head = client.head(url + "/path/x")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len("hello /path/x?"))


def test_chunked_upload_read_by_flask(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    app = flask.Flask(__name__)

    @app.post("/upload")
    def upload() -> dict[str, Any]:
        data = flask.request.get_data()
        return {
            "size": len(data),
            "sha": hashlib.sha256(data).hexdigest(),
            "length": flask.request.headers.get("Content-Length"),
        }

    parts = [bytes([i]) * 10_000 for i in range(30)]
    url = serve(app)
    # A generator body has no length: httpx sends it chunked.
    response = client.post(url + "/upload", content=iter(parts))
    assert response.status_code == 200
    assert response.json() == {
        "size": 300_000,
        "sha": hashlib.sha256(b"".join(parts)).hexdigest(),
        "length": None,
    }


class PeakRSS:
    """Sample this process's resident memory in a thread, keep the peak."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self.done.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / MiB


def test_64_mib_upload_and_download_in_bounded_memory(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    size = 64 * MiB

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            digest = hashlib.sha256()
            total = 0
            while data := environ["wsgi.input"].read(CHUNK):
                digest.update(data)
                total += len(data)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [f"{total} {digest.hexdigest()}".encode()]
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(size)),
            ],
        )
        return (bytes([i % 251]) * CHUNK for i in range(size // CHUNK))

    expected = hashlib.sha256()
    for i in range(size // CHUNK):
        expected.update(bytes([i % 251]) * CHUNK)
    url = serve(validator(app))

    def body() -> Iterator[bytes]:
        for i in range(size // CHUNK):
            yield bytes([i % 251]) * CHUNK

    with PeakRSS() as upload_memory:
        response = client.post(url + "/", content=body())
    assert response.text == f"{size} {expected.hexdigest()}"

    received = hashlib.sha256()
    total = 0
    with PeakRSS() as download_memory, client.stream("GET", url + "/") as response:
        for data in response.iter_raw():
            received.update(data)
            total += len(data)
    assert (total, received.hexdigest()) == (size, expected.hexdigest())
    # Neither the server nor the adapter holds the body: what grows is a few
    # buffers, not 64 MiB.
    assert upload_memory.growth_mib < 32, upload_memory.growth_mib
    assert download_memory.growth_mib < 32, download_memory.growth_mib


def test_streamed_response_arrives_part_by_part(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    first_seen = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first|"
        # Only once the client has the first part: proves it was sent alone.
        assert first_seen.wait(WAIT)
        yield b"second"

    url = serve(validator(app))
    received = b""
    with client.stream("GET", url + "/") as response:
        for data in response.iter_raw():
            received += data
            if received == b"first|":
                first_seen.set()
    assert received == b"first|second"
    assert first_seen.is_set()


def test_client_disconnect_closes_the_iterable_and_frees_the_thread(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    closed = threading.Event()

    class Endless:
        def __iter__(self) -> Iterator[bytes]:
            while not closed.is_set():
                yield b"x" * CHUNK

        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/after":
            return hello(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Endless()

    # One token: the request after the disconnect runs only if the first
    # request gave its thread back.
    url = serve(app, limiter=1)
    with client.stream("GET", url + "/endless") as response:
        for data in response.iter_raw():
            assert data
            break
    # Leaving the block closed the connection mid-response.
    assert closed.wait(WAIT)
    assert client.get(url + "/after").text == "hello /after?"


def test_error_before_the_response_is_a_500(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise RuntimeError("broken view")

    url = serve(app)
    response = client.get(url + "/")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert "broken view" not in response.text
    assert len(response.content) < 100


def test_error_after_the_first_part_drops_the_connection(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    closed = threading.Event()

    class Failing:
        def __iter__(self) -> Iterator[bytes]:
            yield b"partial"
            raise RuntimeError("failed mid-response")

        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Failing()

    url = serve(app)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(url + "/")
    assert closed.wait(WAIT)


def test_too_many_repeated_headers_is_a_400(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    url = serve(validator(hello), duplicate_header_limit=5)
    ok = client.get(url + "/", headers=[("x-many", str(i)) for i in range(5)])
    assert ok.status_code == 200
    refused = client.get(url + "/", headers=[("x-many", str(i)) for i in range(6)])
    assert refused.status_code == 400


def test_body_over_max_body_size_is_a_413(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    def echo(environ: Environ, start_response: StartResponse) -> list[bytes]:
        data = environ["wsgi.input"].read(CHUNK)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [data]

    url = serve(echo, max_body_size=1000)
    assert client.post(url + "/", content=b"a" * 1000).content == b"a" * 1000
    # Declared too large: refused before the application runs.
    # The refusals close the connection (the body is left unread), so the
    # client's next request goes out on a new connection instead of one the
    # server is dropping.
    refused = client.post(url + "/", content=b"a" * 1001)
    assert refused.status_code == 413
    assert refused.headers["connection"] == "close"
    # Chunked, found too large while the application reads it.
    response = client.post(url + "/", content=iter([b"a" * 600, b"b" * 600]))
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert client.post(url + "/", content=b"ok").content == b"ok"


def test_limiter_bounds_the_requests_running_at_once(
    serve: Callable[..., str],
) -> None:
    condition = threading.Condition()
    running = queued = most = 0
    release = False

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        nonlocal running, most
        with condition:
            running += 1
            most = max(most, running)
            condition.notify_all()
            assert condition.wait_for(lambda: release, WAIT)
            running -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    url = serve(app, limiter=2)
    adapter = _current_adapter(url)

    async def counting(
        scope: MutableMapping[str, Any], receive: Any, send: Any
    ) -> None:
        calls = 0

        async def counting_receive() -> Any:
            nonlocal calls, queued
            calls += 1
            if calls == 2:  # waiting for a thread, the adapter watches
                with condition:
                    queued += 1
                    condition.notify_all()
            return await receive()

        await adapter(scope, counting_receive, send)

    _mount_of(url).app = counting
    results: list[str] = []

    def one_request() -> None:
        with httpx.Client(timeout=WAIT) as http:
            results.append(http.get(url + "/").text)

    threads = [threading.Thread(target=one_request) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        with condition:
            # Each request runs or waits for a thread: where they all are,
            # nothing moves until the release.
            assert condition.wait_for(lambda: running + queued == 6, WAIT)
            assert (running, queued) == (2, 4)
            release = True
            condition.notify_all()
    finally:
        with condition:
            release = True
            condition.notify_all()
        for thread in threads:
            thread.join(WAIT)
    assert results == ["done"] * 6
    assert most == 2


@pytest.mark.parametrize(
    "sent",
    [
        b"GET /queued HTTP/1.1\r\nHost: test\r\n\r\n",
        # Mid-upload: 1 KB of a declared 1 MB body.
        b"POST /queued HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\n"
        + b"x" * 1000,
    ],
    ids=["no-body", "mid-upload"],
)
def test_queued_request_whose_client_left_is_dropped(
    serve: Callable[..., str], client: httpx.Client, sent: bytes
) -> None:
    """A request waiting for the only thread, whose client closes the
    connection, never reaches the application."""
    entered = threading.Event()
    release = threading.Event()
    watching = threading.Event()
    queued_returned = threading.Event()
    paths: list[str] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        paths.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/first":
            entered.set()
            assert release.wait(WAIT)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    url = serve(app, limiter=1)
    adapter = _current_adapter(url)

    async def observed(
        scope: MutableMapping[str, Any], receive: Any, send: Any
    ) -> None:
        if scope["path"] != "/queued":
            await adapter(scope, receive, send)
            return
        calls = 0

        async def counting_receive() -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:  # queued, the adapter reads on and watches
                watching.set()
            return await receive()

        await adapter(scope, counting_receive, send)
        queued_returned.set()

    _mount_of(url).app = observed
    first: list[str] = []
    thread = threading.Thread(
        target=lambda: first.append(client.get(url + "/first").text)
    )
    thread.start()
    try:
        assert entered.wait(WAIT)
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=WAIT) as sock:
            sock.sendall(sent)
            assert watching.wait(WAIT)
        # The connection is closed: the request leaves the queue at once,
        # while the first one still holds the only thread.
        assert queued_returned.wait(WAIT)
    finally:
        release.set()
        thread.join(WAIT)
    assert first == ["done"]
    assert paths == ["/first"]
    assert client.get(url + "/after").text == "done"


def _stopped_reading(receive: Any) -> bool:
    """Whether the server that gave *receive* has stopped reading the request
    body because the application takes none of it (call on its loop)."""
    owner = receive.__self__
    if isinstance(owner, asyncio.Queue):
        # hypercorn on asyncio: its reader is blocked putting a part into the
        # full queue (asyncio has no public count of blocked putters).
        return any(not putter.done() for putter in owner._putters)  # type: ignore[attr-defined]
    if isinstance(owner, trio.MemoryReceiveChannel):
        # hypercorn on trio: the same.
        return owner.statistics().tasks_waiting_send > 0
    return bool(owner.flow.read_paused)  # uvicorn


def test_answer_without_reading_a_large_upload(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    """The client sends its whole body before reading the answer; hypercorn
    stops reading while the application does not consume the body, so the
    adapter reads and drops the rest before ending the response."""
    size = 16 * MiB
    server_receive: list[Any] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        if environ["PATH_INFO"] == "/upload":
            # A view that takes its time to decide (a slow permission check):
            # it answers once the upload has filled the server's buffers and
            # the server has stopped reading.
            deadline = time.monotonic() + WAIT
            while not anyio.from_thread.run_sync(_stopped_reading, server_receive[0]):
                assert time.monotonic() < deadline, "the server kept reading"
                time.sleep(0.001)  # a poll: the state, not the time, decides
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [b"log in first"]

    url = serve(validator(app))
    adapter = _current_adapter(url)
    received = 0
    received_at_the_end: list[int] = []

    async def observed(
        scope: MutableMapping[str, Any], receive: Any, send: Any
    ) -> None:
        if scope["path"] != "/upload":
            await adapter(scope, receive, send)
            return
        server_receive.append(receive)

        async def counting_receive() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def observed_send(message: Any) -> None:
            if message["type"] == "http.response.body" and not message.get(
                "more_body", False
            ):
                received_at_the_end.append(received)
            await send(message)

        await adapter(scope, counting_receive, observed_send)

    _mount_of(url).app = observed
    response = client.post(url + "/upload", content=b"x" * size)
    assert (response.status_code, response.text) == (401, "log in first")
    # The whole body was read before the response ended: a server that then
    # dropped the connection instead would have answered the client too.
    assert received_at_the_end == [size]
    assert client.get(url + "/again").status_code == 401  # same connection


def test_file_wrapper_sends_a_real_file(
    serve: Callable[..., str], client: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "data.bin"
    content = bytes(range(256)) * 1000
    path.write_bytes(content)

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(len(content))),
            ],
        )
        return environ["wsgi.file_wrapper"](path.open("rb"), 8192)  # type: ignore[no-any-return]

    url = serve(validator(app))
    assert client.get(url + "/").content == content


def test_write_callable_and_a_list(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("201 Created", [("Content-Type", "text/plain")])
        write(b"written,")
        return [b"returned"]

    url = serve(app)
    response = client.post(url + "/", content=io.BytesIO(b"ignored").read())
    assert (response.status_code, response.text) == (201, "written,returned")


# -- helpers for the limiter test: reach the mount behind a URL ---------------

_mounts: dict[str, Mount] = {}


@pytest.fixture(autouse=True)
def _remember_mount(server: tuple[str, Mount]) -> None:
    _mounts[server[0]] = server[1]


def _mount_of(url: str) -> Mount:
    return _mounts[url]


def _current_adapter(url: str) -> Any:
    app = _mount_of(url).app
    assert app is not None
    return app


def test_django_style_set_cookie_reaches_the_client(
    serve: Callable[..., str], client: httpx.Client
) -> None:
    """Django writes Set-Cookie values with a leading space; h11 (uvicorn)
    refuses such a value, so the adapter must strip it."""

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", " sid=1; Path=/")]
        )
        return [b"ok"]

    url = serve(app)
    response = client.get(url + "/")
    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["set-cookie"] == "sid=1; Path=/"
