"""Real ASGI frameworks through AsgiToWsgi under real WSGI servers.

waitress (in a thread of the test process) and gunicorn's ``gthread`` worker
(a subprocess) serve :class:`~tests.asgi_wsgi.e2e_apps.Dispatcher`, which
mounts each application under its own prefix (``/starlette``, ``/fastapi``,
``/trio``, ``/django``), so every request also checks ``root_path``.

* Starlette and FastAPI run on both adapter backends: they use anyio, so they
  run on trio too.
* The trio-native application uses trio's own APIs: ``backend="trio"`` only.
* Django's ASGI handler is asyncio-only by nature (it calls
  ``asyncio.create_task``/``asyncio.wait`` itself): ``backend="asyncio"``
  only, and served by gunicorn (``sync`` and ``gthread``) alone, because its
  settings are per process and other tests of this process configure Django
  differently.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# The dependency-floors run pins typing_extensions below what Starlette
# imports on Python 3.10: the frameworks cannot run there.
pytest.importorskip(
    "starlette.applications", exc_type=ImportError, reason="Starlette cannot import"
)

from .e2e_apps import FASTAPI_MISSING, MiB, frameworks_wsgi, payload, payload_digest
from .servers import BACKENDS, WAIT, ServerPool, adapter_problems, head_on_the_wire

FILE_SIZE = 5 * MiB + 7
SERVERS = ("waitress", "gunicorn-gthread")
#: wsgiref serves one request at a time: only for tests that need no second
#: request while one is in flight.
ALL_SERVERS = ("waitress", "wsgiref", "gunicorn-sync", "gunicorn-gthread")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("files")
    with (directory / "data.bin").open("wb") as file:
        for piece in payload(FILE_SIZE):
            file.write(piece)
    return directory


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, files: Path) -> Iterator[ServerPool]:
    servers = ServerPool(
        gunicorn_app="tests.asgi_wsgi.e2e_apps:gunicorn_frameworks_app()",
        make_app=lambda backend: frameworks_wsgi(backend, files),
        log_dir=tmp_path_factory.mktemp("gunicorn-logs"),
        env={"E2E_FILES": str(files)},
        ready_path="/_e2e/pid",
    )
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(params=SERVERS)
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


def iterable_of(client: httpx.Client, url: str, key: str) -> str:
    """The kind of iterable the WSGI call of request *key* returned."""
    kind: str = client.get(url + "/_e2e/iterable", params={"id": key}).json()[
        "iterable"
    ]
    return kind


# -- Starlette (asyncio and trio) ------------------------------------------------


def test_starlette_hello_root_path_and_lifespan_state(
    url: str, client: httpx.Client, backend: str
) -> None:
    response = client.get(url + "/starlette/hello/w%C3%B6rld", params={"x": "1"})
    assert response.status_code == 200, response.text
    server_pid = client.get(url + "/_e2e/pid").json()["pid"]
    assert response.json() == {
        "name": "wörld",
        "query": {"x": "1"},
        "root_path": "/starlette",
        "url_path": "/starlette/hello/wörld",
        # The lifespan ran in the serving process, on the adapter's loop.
        "state": {"started_by": server_pid, "library": backend},
        "library": backend,
    }
    assert client.get(url + "/starlette/nowhere").status_code == 404


def test_starlette_head(url: str) -> None:
    """Starlette answers HEAD on a GET route with the body: the adapter, as its
    server, must drop it (see test_e2e_servers.test_head_response_body_is_dropped)."""
    head, rest = head_on_the_wire(url, "/starlette/hello/x")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert rest == b""
    # Starlette's FileResponse answers HEAD without a body itself.
    head, rest = head_on_the_wire(url, "/starlette/files/data.bin")
    assert f"\r\ncontent-length: {FILE_SIZE}\r\n".encode() in head.lower()
    assert rest == b""


@pytest.mark.parametrize("wrapper", [True, False], ids=["file_wrapper", "no_wrapper"])
@pytest.mark.parametrize("kind", ALL_SERVERS)
def test_starlette_file_response(url: str, client: httpx.Client, wrapper: bool) -> None:
    """FileResponse sends ``http.response.pathsend``: the adapter hands the file
    to the server's ``wsgi.file_wrapper`` (gunicorn: sendfile; waitress: its
    ReadOnlyFileBasedBuffer; wsgiref: its FileWrapper, iterated), or reads it
    itself when there is none."""
    key = uuid.uuid4().hex
    headers = {"X-E2E-Id": key}
    if not wrapper:
        headers["X-E2E-No-File-Wrapper"] = "1"
    response = client.get(url + "/starlette/files/data.bin", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(FILE_SIZE)
    assert response.headers["content-type"] == "application/octet-stream"
    assert len(response.content) == FILE_SIZE
    assert hashlib.sha256(response.content).hexdigest() == payload_digest(FILE_SIZE)
    expected = "file_wrapper" if wrapper else "FileIterator"
    assert iterable_of(client, url, key) == expected

    # A range is not a pathsend: Starlette sends the bytes itself.
    part = client.get(
        url + "/starlette/files/data.bin", headers={"Range": "bytes=1048570-1048585"}
    )
    assert part.status_code == 206
    whole = b"".join(payload(FILE_SIZE, MiB))
    assert part.content == whole[1048570:1048586]


def test_starlette_streaming_response(
    url: str, client: httpx.Client, backend: str
) -> None:
    key = uuid.uuid4().hex
    response = client.get(
        url + "/starlette/stream", params={"count": 200}, headers={"X-E2E-Id": key}
    )
    assert response.status_code == 200
    assert response.text.splitlines() == [f"part {i} {backend}" for i in range(200)]
    # If the application is done by the time the server's thread looks, the
    # adapter hands over the whole body as a list (and waitress then adds a
    # Content-Length); otherwise it streams.  Either is right.
    assert iterable_of(client, url, key) in ("list", "ResponseIterator")


def test_starlette_stream_reaches_client_before_it_ends(
    url: str, client: httpx.Client
) -> None:
    """The first part arrives while the application waits for a second request."""
    key = uuid.uuid4().hex
    with client.stream(
        "GET", url + "/starlette/gated", params={"id": key}, headers={"X-E2E-Id": key}
    ) as gated:
        assert gated.status_code == 200
        assert "content-length" not in gated.headers
        lines = gated.iter_lines()
        assert next(lines) == "before the gate"
        released = client.get(url + "/starlette/release", params={"id": key})
        assert released.text == "released"
        assert list(lines) == ["after the gate"]
    assert iterable_of(client, url, key) == "ResponseIterator"


def test_starlette_chunked_upload(url: str, client: httpx.Client) -> None:
    size = 3 * MiB + 5
    response = client.post(url + "/starlette/upload", content=payload(size, 70_000))
    assert response.status_code == 200, response.text
    assert response.json() == {"sha256": payload_digest(size), "length": size}


# -- FastAPI (asyncio and trio) --------------------------------------------------


def test_fastapi_json_and_request_body(
    url: str, client: httpx.Client, backend: str
) -> None:
    if FASTAPI_MISSING is not None:
        pytest.skip(FASTAPI_MISSING)
    response = client.post(
        url + "/fastapi/items/5",
        params={"q": "hi", "count": 3},
        json={"name": "widget", "price": 2.5, "tags": ["a", "b"]},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "item_id": 5,
        "name": "widget",
        "total": 7.5,
        "tags": ["a", "b"],
        "q": "hi",
        "library": backend,
    }
    # A body larger than the adapter's chunk: streamed into receive().
    tags = [f"tag-{i:06d}" for i in range(20_000)]
    big = client.post(
        url + "/fastapi/items/6", json={"name": "many", "price": 1, "tags": tags}
    )
    assert big.status_code == 200, big.text
    assert big.json()["tags"] == tags
    invalid = client.post(url + "/fastapi/items/7", json={"name": "no price"})
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "price"]
    assert client.get(url + "/fastapi/items/abc").status_code == 422
    assert client.get(url + "/fastapi/items/8").json() == {"item_id": 8}
    schema = client.get(url + "/fastapi/openapi.json")
    assert schema.status_code == 200
    assert "/items/{item_id}" in schema.json()["paths"]


# -- trio-native (trio only) -----------------------------------------------------


@pytest.mark.parametrize("backend", ["trio"])
def test_trio_native_app(url: str, client: httpx.Client) -> None:
    """An application using trio's own APIs: served with ``backend="trio"``."""
    ping = client.get(url + "/trio/ping")
    assert ping.status_code == 200, ping.text
    assert ping.json() == {"handed": ["pong from trio producer"], "token": "TrioToken"}
    body = [b"hello ", b"trio ", b"world" * 20_000]
    shout = client.post(url + "/trio/shout", content=iter(body))
    assert shout.status_code == 200, shout.text
    assert shout.content == b"".join(body).upper()
    assert client.get(url + "/trio/nap").json() == {"slept": True}


# -- Django (asyncio only, gunicorn only) ------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio"])
@pytest.mark.parametrize("kind", ["gunicorn-sync", "gunicorn-gthread"])
def test_django_asgi_view_reads_post_body(url: str, client: httpx.Client) -> None:
    """Django's ASGI handler (asyncio only) under gunicorn: views read the body."""
    hello = client.get(url + "/django/hello/there")
    assert (hello.status_code, hello.text) == (200, "hello there from asyncio")
    form = client.post(url + "/django/echo", data={"name": "Ada", "lang": "en"})
    assert form.status_code == 200, form.text
    data = form.json()
    assert data["form"] == {"name": "Ada", "lang": "en"}
    assert data["method"] == "POST"
    assert (data["path"], data["path_info"]) == ("/django/echo", "/echo")
    assert data["script_name"] == "/django"
    assert data["library"] == "asyncio"
    size = 3 * MiB + 3
    raw = client.post(
        url + "/django/echo",
        content=payload(size, 100_000),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert raw.status_code == 200, raw.text
    assert (raw.json()["length"], raw.json()["sha256"]) == (size, payload_digest(size))
    missing = client.get(url + "/django/nowhere")
    assert missing.status_code == 404
