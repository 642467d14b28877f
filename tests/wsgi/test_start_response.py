"""``start_response`` rules, and what the application may yield."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import pytest

from anyio_bridge.wsgi import WsgiToAsgi

from .apps import Closing, Environ, StartResponse, app_returning
from .driver import Response, request

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200", []),
        ("OK 200", []),
        ("200 OK\r\nX: y", []),
        ("200 OK", [("X-Bad", "a\r\nSet-Cookie: evil=1")]),
        ("200 OK", [("X-Bad", "nul\0")]),
        ("200 OK", [("X Bad", "space in name")]),
        ("200 OK", [("X-Bad", "\u20ac")]),
        ("200 OK", [(b"X-Bytes", "value")]),
        ("200 OK", [("", "empty name")]),
        ("200 OK", [("Content-Length", "many")]),
    ],
)
async def test_bad_start_gives_500_and_sends_nothing_of_it(
    status: str, headers: list[tuple[Any, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    response = await request(WsgiToAsgi(app_returning([b"body"], status, headers)))
    assert response.status == 500
    assert response.body == b"Internal Server Error"
    assert not any(b"bad" in value.lower() for _, value in response.headers)
    assert not any(b"evil" in value for _, value in response.headers)
    assert "Exception in WSGI application" in caplog.text


async def test_second_start_response_needs_exc_info() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("201 Created", [])
        raise AssertionError  # pragma: no cover

    response = await request(WsgiToAsgi(app))
    assert response.status == 500


async def test_exc_info_before_the_start_replaces_the_response() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        try:
            raise KeyError("oops")
        except KeyError:
            import sys

            exc_info = sys.exc_info()
            headers = [("Content-Type", "text/plain")]
            start_response("503 Service Unavailable", headers, exc_info)
        return [b"sorry"]

    response = await request(WsgiToAsgi(validator(app)))
    assert response.status == 503
    assert response.headers == [(b"content-type", b"text/plain")]
    assert response.body == b"sorry"


async def test_exc_info_after_the_start_aborts_the_response() -> None:
    closed = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield b"x" * 300_000  # more than the send buffer: the start goes out
            raise KeyError("late")
        except KeyError:
            import sys

            start_response("500 Oops", [], sys.exc_info())
            yield b"unreachable"  # pragma: no cover
        finally:
            closed.set()

    with pytest.raises(KeyError, match="late"):
        await request(WsgiToAsgi(app))
    assert closed.is_set()


async def test_no_start_response_gives_500() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return [b"x"]

    response = await request(WsgiToAsgi(app))
    assert response.status == 500

    def empty(environ: Environ, start_response: StartResponse) -> list[bytes]:
        return []

    response = await request(WsgiToAsgi(empty))
    assert response.status == 500


@pytest.mark.parametrize("item", ["text", bytearray(b"ba"), 3])
async def test_non_bytes_item_before_the_start_gives_500(item: Any) -> None:
    body = Closing([item])
    response = await request(WsgiToAsgi(app_returning(body)))
    assert response.status == 500
    assert body.closed.is_set()


async def test_non_bytes_item_after_the_start_aborts() -> None:
    body = Closing([b"x" * 300_000, "text"])  # type: ignore[list-item]
    response = Response()
    with pytest.raises(TypeError, match="must yield bytes"):
        await request(WsgiToAsgi(app_returning(body)), response=response)
    assert response.status == 200
    assert not response.complete
    assert body.closed.is_set()
