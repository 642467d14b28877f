"""http_request and HttpResponse."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anyio_bridge.testing import HttpResponse, http_request
from anyio_bridge.typing import Scope
from anyio_bridge.wsgi import WsgiToAsgi

from .apps import Receive, Send

pytestmark = pytest.mark.anyio

# --------------------------------------------------------------------------
# http_request
# --------------------------------------------------------------------------


class HttpApp:
    """Echoes the request; records the scope, the body and what came next."""

    def __init__(self) -> None:
        self.scope: Any = None
        self.after_response: Any = None

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        self.scope = scope
        request = await receive()
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"text/plain"), (b"x-a", b"1")],
            }
        )
        await send({"type": "http.response.body", "body": b"got ", "more_body": True})
        await send({"type": "http.response.body", "body": request["body"]})
        self.after_response = await receive()


async def test_http_request() -> None:
    app = HttpApp()
    response = await http_request(app, "POST", "/items?x=1", body=b"payload")
    assert response == HttpResponse(
        201, [(b"content-type", b"text/plain"), (b"x-a", b"1")], b"got payload"
    )
    status, headers, body = response
    assert (status, headers[0], body) == (
        201,
        (b"content-type", b"text/plain"),
        b"got payload",
    )
    assert response.header("Content-Type") == "text/plain"
    assert response.header("missing") is None
    assert app.scope["method"] == "POST"
    assert app.scope["path"] == "/items"
    assert app.scope["query_string"] == b"x=1"
    assert app.scope["headers"] == [
        (b"host", b"testserver"),
        (b"content-length", b"7"),
    ]
    assert app.after_response == {"type": "http.disconnect"}


async def test_http_request_keeps_given_headers() -> None:
    app = HttpApp()
    await http_request(
        app,
        headers={"Host": "example.com", "Transfer-Encoding": "chunked"},
        body=b"x",
    )
    assert app.scope["headers"] == [
        (b"host", b"example.com"),
        (b"transfer-encoding", b"chunked"),
    ]


@pytest.mark.parametrize(
    ("server", "host"),
    [
        (("example.com", 8000), [(b"host", b"example.com:8000")]),
        (("example.com", 443), [(b"host", b"example.com")]),
        (("example.com", None), [(b"host", b"example.com")]),
        (None, []),
    ],
)
async def test_http_request_host_header(
    server: tuple[str, int | None] | None, host: list[tuple[bytes, bytes]]
) -> None:
    app = HttpApp()
    await http_request(app, server=server, scheme="https", root_path="/r")
    assert app.scope["headers"] == host
    assert app.scope["server"] == server
    assert app.scope["scheme"] == "https"
    assert app.scope["root_path"] == "/r"


async def test_http_request_to_a_double_callable_application() -> None:
    class Legacy:
        def __init__(self, scope: Scope) -> None:
            pass

        async def __call__(self, receive: Receive, send: Send) -> None:
            await receive()
            await send({"type": "http.response.start", "status": 204})
            await send({"type": "http.response.body"})

    assert await http_request(Legacy) == (204, [], b"")


async def test_http_request_skips_debug_and_trailers() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.debug", "info": {}})
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"ok"})
        await send({"type": "http.response.trailers", "headers": []})

    assert await http_request(app) == (200, [], b"ok")


async def test_http_request_raises_the_application_error() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await http_request(app)


async def test_http_request_raises_an_error_after_the_response() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b""})
        raise ValueError("after the response")

    with pytest.raises(ValueError, match="after the response"):
        await http_request(app)


async def test_http_request_application_returning_early() -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200})

    with pytest.raises(RuntimeError, match="without completing the response"):
        await http_request(app)


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.response.body", "body": b"x"}],
        [{"type": "http.response.start", "status": 200}] * 2,
        [{"type": "websocket.send", "text": "x"}],
    ],
    ids=["body-first", "two-starts", "unknown"],
)
async def test_http_request_unexpected_messages(messages: list[dict[str, Any]]) -> None:
    async def app(scope: Any, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)
        await anyio.sleep_forever()

    with pytest.raises(RuntimeError, match="unexpected message"):
        await http_request(app)


async def test_http_request_timeout_cancels_the_application() -> None:
    ended = anyio.Event()

    async def app(scope: Any, receive: Receive, send: Send) -> None:
        await receive()
        try:
            await anyio.sleep_forever()
        finally:
            ended.set()

    with pytest.raises(TimeoutError):
        await http_request(app, timeout=0.05)
    assert ended.is_set()


async def test_http_request_to_a_wsgi_application() -> None:
    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [
            environ["REQUEST_METHOD"].encode(),
            b" ",
            environ["HTTP_HOST"].encode(),
            b" ",
            body,
        ]

    response = await http_request(WsgiToAsgi(wsgi_app), "PUT", "/", body=b"data")
    assert response.status == 200
    assert response.header("content-type") == "text/plain"
    assert response.body == b"PUT testserver data"
