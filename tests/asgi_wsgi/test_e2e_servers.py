"""AsgiToWsgi under real WSGI servers, over loopback, with httpx as the client.

The servers (``tests/asgi_wsgi/servers.py``): gunicorn's ``sync`` and
``gthread`` workers (subprocesses, one worker, kept for the module), waitress
and ``wsgiref.simple_server`` (in a thread, one per test); each serves
:func:`~tests.asgi_wsgi.e2e_apps.server_app` on both adapter backends: hello,
HEAD, chunked and 32 MiB uploads, 32 MiB downloads, concurrent transfers, and
clients that leave mid-download or mid-upload.  Then gunicorn with two
workers, with and without ``--preload``, and recycling its worker
(``--max-requests``), for the lifespan: startup and shutdown once in each
worker process, never in the master.
"""

from __future__ import annotations

import hashlib
import json
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from . import e2e_apps
from .e2e_apps import MiB, payload, payload_digest
from .servers import (
    BACKENDS,
    KINDS,
    WAIT,
    ServerPool,
    adapter_problems,
    gunicorn_server,
    head_on_the_wire,
)

BIG = 32 * MiB


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    servers = ServerPool(
        gunicorn_app="tests.asgi_wsgi.e2e_apps:gunicorn_server_app()",
        make_app=e2e_apps.server_wsgi,
        log_dir=tmp_path_factory.mktemp("gunicorn-logs"),
        ready_path="/pid",
    )
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(
    pool: ServerPool, kind: str, backend: str, caplog: pytest.LogCaptureFixture
) -> Iterator[str]:
    """The server's URL; afterwards, no warning or error from the adapter."""
    with pool.serve(kind, backend) as base:
        yield base
    assert not adapter_problems(caplog.records), caplog.text


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=WAIT) as http:
        yield http


def test_hello(url: str, client: httpx.Client, kind: str, backend: str) -> None:
    response = client.get(url + "/hello/w%C3%B6rld%2Fx", params={"q": "a b"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))
    data = response.json()
    assert data["library"] == backend
    assert data["path"] == "/hello/wörld/x"
    assert data["query_string"] == "q=a+b"
    assert data["method"] == "GET"
    assert data["root_path"] == ""
    assert data["http_version"] == "1.1"
    assert data["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert data["client_host"] == "127.0.0.1"
    if kind == "wsgiref":
        # No REQUEST_URI or RAW_URI: the raw path is the decoded one,
        # percent-encoded again (the %2F cannot be told from a /).
        assert data["raw_path"] == "/hello/w%C3%B6rld/x"
    else:  # what the client sent, from RAW_URI (gunicorn) or REQUEST_URI
        assert data["raw_path"] == "/hello/w%C3%B6rld%2Fx"


def test_head_response_body_is_dropped(url: str) -> None:
    """The application answers HEAD like GET, body included, as ASGI
    applications may (Starlette's responses do): as their server, the adapter
    must keep the body off the wire -- on a keep-alive connection it would be
    read as the start of the next response.  gunicorn drops it anyway (and
    logs a warning); waitress and wsgiref send it.
    """
    head, rest = head_on_the_wire(url, "/hello/x")
    assert head.startswith(b"HTTP/1.1 200 ") or head.startswith(b"HTTP/1.0 200 ")
    assert b"\r\ncontent-length: " in head.lower()  # GET's headers
    assert rest == b""


def test_chunked_upload(url: str, client: httpx.Client, kind: str) -> None:
    """httpx sends a generator body with ``Transfer-Encoding: chunked``.

    gunicorn de-chunks it and sets ``wsgi.input_terminated``: the adapter
    reads to EOF.  waitress buffers the whole body, drops the
    Transfer-Encoding header and sets ``CONTENT_LENGTH`` (and
    ``wsgi.input_terminated`` too).  wsgiref passes the chunked bytes through
    undecoded with neither: the adapter answers 411 instead of guessing.
    """
    size = 5 * MiB + 12345 if kind != "wsgiref" else 3000
    pieces = list(payload(size, 50_000))
    response = client.post(url + "/upload", content=iter(pieces))
    if kind == "wsgiref":
        assert response.status_code == 411, response.text
        assert response.text == "411 Length Required"
        return
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["sha256"], data["length"]) == (payload_digest(size), size)
    if kind == "waitress":
        assert data["transfer_encoding"] is None
        assert data["content_length"] == str(size)
    else:
        assert data["transfer_encoding"] == "chunked"
        assert data["content_length"] is None


def test_upload_32_mib(url: str, client: httpx.Client) -> None:
    response = client.post(
        url + "/upload",
        content=payload(BIG, 256 * 1024),
        headers={"Content-Length": str(BIG)},
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["sha256"], data["length"]) == (payload_digest(BIG), BIG)
    assert data["content_length"] == str(BIG)
    assert data["messages"] > 1  # streamed in chunks, not read whole


@pytest.mark.parametrize("length", [False, True], ids=["chunked", "content-length"])
def test_download_32_mib(url: str, client: httpx.Client, length: bool) -> None:
    params: dict[str, Any] = {"size": BIG, "chunk": 100_000}
    if length:
        params["length"] = 1
    digest = hashlib.sha256()
    received = pieces = 0
    with client.stream("GET", url + "/download", params=params) as response:
        assert response.status_code == 200
        assert response.headers.get("content-length") == (str(BIG) if length else None)
        for piece in response.iter_raw():
            digest.update(piece)
            received += len(piece)
            pieces += 1
    assert (digest.hexdigest(), received) == (payload_digest(BIG), BIG)
    assert pieces > 1


def test_disconnect_mid_download(url: str, client: httpx.Client) -> None:
    """The client reads 1 MiB of an endless response and hangs up.

    The server notices when its write fails and closes the iterable; the
    application then hears of it (``http.disconnect`` or ``send()`` raising
    ``ClientDisconnected``) and ends.  It reports how over a second request,
    which waits for it (bounded), and the server goes on serving.
    """
    key = uuid.uuid4().hex
    received = 0
    with client.stream("GET", url + "/endless", params={"id": key}) as response:
        assert response.status_code == 200
        for piece in response.iter_raw():
            received += len(piece)
            if received >= MiB:
                break
    report = client.get(url + "/disconnected", params={"id": key}).json()
    assert report["done"], report
    # Whichever of its send() and receive() the application was in: often
    # both, as both hear of it at once.
    assert report["how"], report
    assert set(report["how"]) <= {"http.disconnect", "ClientDisconnected"}, report
    assert client.get(url + "/hello/again").status_code == 200


@pytest.mark.parametrize("kind", ["gunicorn-gthread", "waitress"])
def test_concurrent_transfers(url: str, client: httpx.Client) -> None:
    """Uploads and downloads at once, on several server threads, one loop."""

    def download(size: int) -> tuple[str, int]:
        digest = hashlib.sha256()
        with client.stream("GET", url + "/download", params={"size": size}) as got:
            for piece in got.iter_raw():
                digest.update(piece)
        return digest.hexdigest(), size

    def upload(size: int) -> tuple[str, int]:
        sent = client.post(url + "/upload", content=payload(size, 100_000)).json()
        return sent["sha256"], sent["length"]

    sizes = [3 * MiB + i * 1001 for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        futures = [
            pool.submit(download if i % 2 else upload, size)
            for i, size in enumerate(sizes)
        ]
        results = [future.result(WAIT) for future in futures]
    assert results == [(payload_digest(size), size) for size in sizes]


class Abort(Exception):
    """Raised by a request body generator: httpx drops the connection."""


@pytest.mark.parametrize("kind", ["gunicorn-sync", "gunicorn-gthread", "wsgiref"])
def test_client_gone_mid_upload(url: str, client: httpx.Client) -> None:
    """The client announces 8 MiB, sends 1 MiB and hangs up.

    The application must get ``http.disconnect``, not a complete-looking
    short body.  (Not under waitress: it buffers whole request bodies before
    it calls the application, which never sees a truncated one.)
    """
    key = uuid.uuid4().hex

    def body() -> Iterator[bytes]:
        yield from payload(MiB)
        raise Abort

    with pytest.raises(Abort):
        client.post(
            url + "/upload",
            params={"id": key},
            content=body(),
            headers={"Content-Length": str(8 * MiB)},
        )
    report = client.get(url + "/disconnected", params={"id": key}).json()
    assert report == {"done": True, "how": ["http.disconnect"]}


# -- lifespan per worker process -----------------------------------------------------


def _lines(path: Path) -> list[tuple[str, int]]:
    result = []
    for line in path.read_text().splitlines():
        event, pid = line.split()[:2]
        result.append((event, int(pid)))
    return result


def _hold_a_worker(
    client: httpx.Client, url: str, listener: socket.socket
) -> tuple[httpx.Response, socket.socket, int]:
    """Start /hold: its worker waits until the test closes the connection it opens."""
    port = listener.getsockname()[1]
    request = client.build_request("GET", url + "/hold", params={"port": port})
    held = client.send(request, stream=True)
    try:
        assert held.status_code == 200
        connection, _ = listener.accept()
    except BaseException:
        held.close()
        raise
    try:
        connection.settimeout(WAIT)
        pid = int(connection.recv(64))
    except BaseException:
        connection.close()
        held.close()
        raise
    return held, connection, pid


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("worker_class", "workers", "preload"),
    [("sync", 2, False), ("sync", 2, True), ("gthread", 1, True)],
    ids=["sync", "sync-preload", "gthread-preload"],
)
def test_lifespan_once_per_worker(
    tmp_path: Path, backend: str, worker_class: str, workers: int, preload: bool
) -> None:
    """Each worker runs startup before its first request and shutdown at exit.

    With ``--preload`` gunicorn imports the application in the master and
    forks: the adapter was made there (and, ``E2E_WARM_LOOP``, the process's
    loop thread for the backend started there), yet the lifespan runs in each
    worker, never in the master.  A sync worker serves one request at a time,
    so while /hold keeps one busy, the next request is the other's.
    """
    record = tmp_path / "lifespan.txt"
    env = {
        "E2E_BACKEND": backend,
        "E2E_LIFESPAN_FILE": str(record),
        "E2E_WARM_LOOP": "1" if preload else "",
    }
    pids: set[int] = set()
    with (
        socket.create_server(("127.0.0.1", 0)) as listener,
        httpx.Client(timeout=WAIT) as client,
    ):
        listener.settimeout(WAIT)
        with gunicorn_server(
            "tests.asgi_wsgi.e2e_apps:gunicorn_lifespan_app()",
            log_dir=tmp_path,
            worker_class=worker_class,
            workers=workers,
            preload=preload,
            env=env,
            ready_path=None,
        ) as server:
            held, connection, held_pid = _hold_a_worker(client, server.url, listener)
            try:
                lines = held.iter_lines()
                first = json.loads(next(lines))
                assert first == {"pid": held_pid, "state_pid": held_pid}
                pids.add(held_pid)
                for _ in range(3):
                    info = client.get(server.url + "/pid").json()
                    assert info["state_pid"] == info["pid"]
                    pids.add(info["pid"])
                connection.close()  # release /hold
                assert list(lines) == ["released"]
            finally:
                connection.close()
                held.close()
            assert len(pids) == workers, (pids, server.log_text())
            assert server.pid not in pids
            assert server.stop() == 0, server.log_text()
            log = server.log_text()
            assert not server.errors(), log
    events = _lines(record)
    loads = [pid for event, pid in events if event == "load"]
    if preload:
        assert loads == [server.pid], events
        assert ("warm", server.pid) in events  # the master's loop was running
    else:
        assert sorted(loads) == sorted(pids), events
    starts = sorted(pid for event, pid in events if event == "startup")
    stops = sorted(pid for event, pid in events if event == "shutdown")
    assert starts == sorted(pids), (events, log)
    assert stops == sorted(pids), (events, log)
    for pid in pids:
        assert events.index(("startup", pid)) < events.index(("shutdown", pid))


@pytest.mark.parametrize("backend", BACKENDS)
def test_lifespan_across_worker_restarts(tmp_path: Path, backend: str) -> None:
    """``--max-requests 2``: gunicorn replaces its worker after two requests.

    Each worker runs startup before its first request, and its shutdown when
    it exits after its second (a normal interpreter exit), or at SIGTERM.
    """
    record = tmp_path / "lifespan.txt"
    env = {"E2E_BACKEND": backend, "E2E_LIFESPAN_FILE": str(record)}
    served: list[int] = []
    with (
        httpx.Client(timeout=WAIT) as client,
        gunicorn_server(
            "tests.asgi_wsgi.e2e_apps:gunicorn_lifespan_app()",
            log_dir=tmp_path,
            env=env,
            ready_path=None,
            extra_args=["--max-requests", "2"],
        ) as server,
    ):
        for _ in range(5):
            # Sync workers close each connection: the next request waits in
            # the backlog while a replacement worker boots.
            info = client.get(server.url + "/pid").json()
            assert info["state_pid"] == info["pid"]
            served.append(info["pid"])
        assert server.stop() == 0
        assert not server.errors(), server.log_text()
    pids = sorted(set(served))
    assert len(pids) == 3, served  # 2 + 2 + 1 requests
    events = _lines(record)
    assert sorted(pid for event, pid in events if event == "startup") == pids, events
    assert sorted(pid for event, pid in events if event == "shutdown") == pids, events
