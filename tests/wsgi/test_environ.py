"""The environ built from the scope, and ``wsgi.errors``."""

from __future__ import annotations

import logging
from typing import Any
from wsgiref.validate import validator

import pytest

from anyio_bridge.wsgi import FileWrapper, WsgiToAsgi, WsgiToAsgiInstance

from .apps import Environ, StartResponse, hello
from .driver import http_scope, request

pytestmark = pytest.mark.anyio


async def test_environ_follows_pep_3333() -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(dict(environ))
        start_response("204 No Content", [])
        return []

    scope = http_scope(
        "POST",
        "/api/caf\u00e9/x",
        root_path="/api",
        query_string=b"a=1&b=%C3%A9",
        headers=[
            (b"host", b"example.org"),
            (b"content-type", b"text/plain"),
            (b"content-length", b"4"),
            (b"accept", b"text/html"),
            (b"accept", b"application/json"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"x-forwarded-for", b"10.0.0.1"),
            (b"x_forwarded_for", b"6.6.6.6"),
        ],
        scheme="https",
        http_version="2",
    )
    response = await request(WsgiToAsgi(validator(app)), scope, b"data")
    assert response.status == 204
    environ = seen[0]
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["SCRIPT_NAME"] == "/api"
    assert environ["PATH_INFO"] == "/caf\u00e9/x".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "a=1&b=%C3%A9"
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == "8000"
    assert environ["SERVER_PROTOCOL"] == "HTTP/2"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_PORT"] == "40000"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "4"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert environ["HTTP_HOST"] == "example.org"
    assert environ["HTTP_ACCEPT"] == "text/html,application/json"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    # The underscore spelling must not pass for the real header.
    assert environ["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.multiprocess"] is True
    assert environ["wsgi.run_once"] is False
    assert environ["wsgi.input_terminated"] is True
    assert environ["wsgi.file_wrapper"] is FileWrapper
    assert environ["asgi.scope"] is scope


async def test_environ_defaults_without_server_and_client() -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(environ)
        start_response("200 OK", [])
        return []

    scope = http_scope()
    del scope["server"], scope["client"], scope["scheme"], scope["root_path"]
    await request(WsgiToAsgi(validator(app)), scope)
    assert seen[0]["SERVER_NAME"] == "localhost"
    assert seen[0]["SERVER_PORT"] == "80"
    assert seen[0]["wsgi.url_scheme"] == "http"
    assert seen[0]["SCRIPT_NAME"] == ""
    assert "REMOTE_ADDR" not in seen[0]


def test_build_environ_like_asgiref() -> None:
    instance = WsgiToAsgiInstance(hello)
    scope = http_scope(path="/p", root_path="/other", server=("unix.sock", None))
    environ = instance.build_environ(scope, b"abc")
    assert environ["wsgi.input"].read() == b"abc"
    assert environ["PATH_INFO"] == "/p"  # the root path is not a prefix of it
    assert environ["SERVER_PORT"] == "0"
    stream = environ["wsgi.input"]
    assert instance.build_environ(scope, stream)["wsgi.input"] is stream


def test_build_environ_rejects_too_many_repeats() -> None:
    instance = WsgiToAsgiInstance(hello, duplicate_header_limit=2)
    headers = [(b"x-a", b"1")] * 3
    with pytest.raises(ValueError, match="more than 2 times"):
        instance.build_environ(http_scope(headers=headers), b"")
    unlimited = WsgiToAsgiInstance(hello, duplicate_header_limit=None)
    environ = unlimited.build_environ(http_scope(headers=headers * 50), b"")
    assert environ["HTTP_X_A"] == ",".join(["1"] * 150)


async def test_too_many_repeated_headers_get_400_without_the_app() -> None:
    called = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        called.append(True)  # pragma: no cover - must not run
        return []  # pragma: no cover

    scope = http_scope(headers=[(b"x-a", b"1")] * 101)
    response = await request(WsgiToAsgi(app), scope)
    assert response.status == 400
    assert b"repeated headers" in response.body
    assert response.header(b"connection") == b"close"
    assert not called
    # Exactly at the limit is fine.
    scope = http_scope(headers=[(b"x-a", b"1")] * 100)
    assert (await request(WsgiToAsgi(hello), scope)).status == 200


async def test_bad_content_length_gets_400() -> None:
    scope = http_scope("POST", headers=[(b"content-length", b"12x")])
    response = await request(WsgiToAsgi(hello), scope, b"abc")
    assert response.status == 400
    assert response.header(b"connection") == b"close"


async def test_wsgi_errors_reach_logging(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        errors = environ["wsgi.errors"]
        errors.write("first line\nsecond ")
        errors.write("line\n")
        errors.writelines(["third\n", "partial"])
        errors.flush()
        errors.flush()
        errors.close()  # shared: closing only flushes
        errors.write("still usable\n")
        start_response("200 OK", [])
        return []

    with caplog.at_level(logging.ERROR, "anyio_bridge.wsgi.errors"):
        await request(WsgiToAsgi(app))  # not validated: it forbids close()
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("errors")]
    assert lines == ["first line", "second line", "third", "partial", "still usable"]


async def test_many_distinct_header_names() -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(environ)
        start_response("200 OK", [])
        return []

    headers = [(f"x-name-{i}".encode(), b"v") for i in range(600)]
    await request(WsgiToAsgi(app), http_scope(headers=headers))
    assert all(seen[0][f"HTTP_X_NAME_{i}"] == "v" for i in range(600))


async def test_error_stream_is_a_writable_text_stream() -> None:
    streams: list[Any] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        streams.append(environ["wsgi.errors"])
        start_response("204 No Content", [])
        return []

    await request(WsgiToAsgi(app), http_scope())
    (errors,) = streams
    assert errors.writable()
    with pytest.raises(TypeError, match="takes str"):
        errors.write(b"bytes")


@pytest.mark.parametrize(
    ("root_path", "path", "script_name", "path_info"),
    [
        ("/app", "/app/x", "/app", "/x"),
        ("/app", "/app", "/app", ""),
        ("/app", "/app/", "/app", "/"),
        ("/app/", "/app/x", "/app", "/x"),
        # Not under the mount: split only at a "/" boundary, else whole.
        ("/app", "/application/x", "/app", "/application/x"),
        ("/app", "/apple", "/app", "/apple"),
        ("/app", "/other/x", "/app", "/other/x"),
        ("/", "/x", "", "/x"),
        ("", "/x", "", "/x"),
    ],
)
async def test_root_path_is_split_at_a_slash_boundary(
    root_path: str, path: str, script_name: str, path_info: str
) -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(dict(environ))
        start_response("204 No Content", [])
        return []

    scope = http_scope("GET", path, root_path=root_path)
    response = await request(WsgiToAsgi(validator(app)), scope, b"")
    assert response.status == 204
    assert (seen[0]["SCRIPT_NAME"], seen[0]["PATH_INFO"]) == (script_name, path_info)
