"""The ASGI HTTP scope AsgiToWsgi builds from the PEP 3333 environ."""

from __future__ import annotations

import wsgiref.validate
from typing import Any

import pytest

from .driver import BACKENDS, Receive, Scope, Send, make_environ, request, serve, text

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def scope_for(backend: str, environ: dict[str, Any], *, validate: bool = True) -> Scope:
    """The scope the application gets for *environ*."""
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await text(send, b"ok")

    with serve(app, backend=backend) as adapter:
        call = request(adapter, environ, validate=validate)
    assert (call.code, call.body) == (200, b"ok")
    [scope] = seen
    return scope


def test_basic_keys(backend: str) -> None:
    environ = make_environ(
        "POST",
        "/items",
        query="a=1&b=%20",
        body=b"",
        SERVER_NAME="example.org",
        SERVER_PORT="8080",
        SERVER_PROTOCOL="HTTP/1.1",
        REMOTE_ADDR="10.0.0.7",
        REMOTE_PORT="53211",
    )
    environ["wsgi.url_scheme"] = "https"
    scope = scope_for(backend, environ)
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "POST"
    assert scope["scheme"] == "https"
    assert scope["path"] == "/items"
    assert scope["raw_path"] == b"/items"
    assert scope["query_string"] == b"a=1&b=%20"
    assert scope["root_path"] == ""
    assert scope["server"] == ("example.org", 8080)
    assert scope["client"] == ("10.0.0.7", 53211)
    assert scope["extensions"] == {"http.response.pathsend": {}}
    assert "state" not in scope  # lifespan="off"


def test_each_request_has_its_own_scope_dicts(backend: str) -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        scope["asgi"]["mutated"] = True
        await text(send)

    with serve(app, backend=backend) as adapter:
        request(adapter, make_environ())
        request(adapter, make_environ())
    assert seen[0] is not seen[1]
    assert seen[1]["asgi"] == {"version": "3.0", "spec_version": "2.4", "mutated": True}
    assert seen[0]["asgi"] is not seen[1]["asgi"]


def test_non_ascii_path_is_decoded_from_utf8(backend: str) -> None:
    # PEP 3333: the path's bytes arrive as latin-1 characters.
    native = "/caf\u00e9/\u65e5".encode().decode("latin-1")
    scope = scope_for(backend, make_environ(path=native))
    assert scope["path"] == "/caf\u00e9/\u65e5"
    # No RAW_URI: raw_path is the path, percent-encoded.
    assert scope["raw_path"] == b"/caf%C3%A9/%E6%97%A5"


def test_invalid_utf8_in_path_is_replaced(backend: str) -> None:
    scope = scope_for(backend, make_environ(path="/a\xff"))
    assert scope["path"] == "/a\ufffd"


def test_path_a_server_already_decoded_is_kept(backend: str) -> None:
    # A server that put real text (not latin-1 bytes) into PATH_INFO.
    scope = scope_for(backend, make_environ(path="/\u20ac", RAW_URI="/\u20ac"))
    assert scope["path"] == "/\u20ac"
    # The raw URI is not bytes-as-latin-1 either: the quoted path instead.
    assert scope["raw_path"] == b"/%E2%82%AC"


def test_root_path_from_script_name(backend: str) -> None:
    environ = make_environ(path="/users", SCRIPT_NAME="/api")
    scope = scope_for(backend, environ)
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/users"  # ASGI's path includes the root path
    assert scope["raw_path"] == b"/api/users"


def test_root_path_is_decoded_too(backend: str) -> None:
    script = "/\u00e9t\u00e9".encode().decode("latin-1")
    scope = scope_for(backend, make_environ(path="/x", SCRIPT_NAME=script))
    assert scope["root_path"] == "/\u00e9t\u00e9"
    assert scope["path"] == "/\u00e9t\u00e9/x"


def test_raw_path_from_raw_uri_keeps_the_encoding(backend: str) -> None:
    # The server decoded %2F, %20 and the UTF-8 bytes into PATH_INFO.
    environ = make_environ(
        path="/a/b c/\u00e9".encode().decode("latin-1"),
        query="x=1",
        RAW_URI="/a%2Fb%20c/%C3%A9?x=1",
    )
    scope = scope_for(backend, environ)
    assert scope["path"] == "/a/b c/\u00e9"
    assert scope["raw_path"] == b"/a%2Fb%20c/%C3%A9"


def test_raw_path_from_raw_uri_with_an_encoded_slash(backend: str) -> None:
    environ = make_environ(path="/a/b", RAW_URI="/a%2Fb?q=1", query="q=1")
    scope = scope_for(backend, environ)
    assert scope["path"] == "/a/b"
    assert scope["raw_path"] == b"/a%2Fb"


def test_raw_path_from_request_uri(backend: str) -> None:
    # mod_wsgi and uWSGI say REQUEST_URI.
    environ = make_environ(path="/x y", REQUEST_URI="/x%20y")
    assert scope_for(backend, environ)["raw_path"] == b"/x%20y"


def test_raw_path_from_an_absolute_form_target(backend: str) -> None:
    environ = make_environ(path="/p q", RAW_URI="http://example.org/p%20q?z")
    assert scope_for(backend, environ)["raw_path"] == b"/p%20q"


def test_raw_path_when_the_raw_uri_no_longer_matches(backend: str) -> None:
    # Middleware rewrote PATH_INFO after the server read the request line.
    environ = make_environ(path="/rewritten path", RAW_URI="/original%2Fpath")
    scope = scope_for(backend, environ)
    assert scope["path"] == "/rewritten path"
    assert scope["raw_path"] == b"/rewritten%20path"


def test_query_string_bytes_pass_through(backend: str) -> None:
    native = "q=\u00e9&r=%C3%A9".encode().decode("latin-1")
    scope = scope_for(backend, make_environ(query=native))
    assert scope["query_string"] == "q=\u00e9&r=%C3%A9".encode()


def test_headers_in_environ_order(backend: str) -> None:
    base = make_environ("POST", body=b"{}")
    del base["HTTP_HOST"], base["CONTENT_LENGTH"]
    environ = {
        "HTTP_X_SECOND": "2",
        "CONTENT_TYPE": "application/json",
        "HTTP_X_FIRST": "1",
        "CONTENT_LENGTH": "2",
        "HTTP_ACCEPT_LANGUAGE": "fr-CH, fr;q=0.9",
        "HTTP_X_LATIN": "caf\u00e9",
        "HTTP_X_FIRST_AGAIN": "1b",
        "HTTP_HOST": "h:80",
        **base,
    }
    scope = scope_for(backend, environ)
    assert scope["headers"] == [
        (b"x-second", b"2"),
        (b"content-type", b"application/json"),
        (b"x-first", b"1"),
        (b"content-length", b"2"),
        (b"accept-language", b"fr-CH, fr;q=0.9"),
        (b"x-latin", b"caf\xe9"),
        (b"x-first-again", b"1b"),
        (b"host", b"h:80"),
    ]


def test_empty_content_type_and_length_are_left_out(backend: str) -> None:
    # wsgiref's server sets both, empty, on a GET.
    environ = make_environ(CONTENT_TYPE="", CONTENT_LENGTH="", HTTP_HOST="h")
    assert scope_for(backend, environ)["headers"] == [(b"host", b"h")]


def test_http_content_type_beside_content_type_is_not_doubled(backend: str) -> None:
    # wsgiref.validate refuses HTTP_CONTENT_* keys, but servers do send them
    # (a client's Content-Type copied twice): not validated for that reason.
    environ = make_environ(
        "POST",
        body=b"ab",
        CONTENT_TYPE="text/plain",
        HTTP_CONTENT_TYPE="text/plain",
        HTTP_CONTENT_LENGTH="2",
        HTTP_HOST="h",
    )
    scope = scope_for(backend, environ, validate=False)
    assert sorted(scope["headers"]) == [
        (b"content-length", b"2"),
        (b"content-type", b"text/plain"),
        (b"host", b"h"),
    ]


def test_http_content_type_alone_is_a_header(backend: str) -> None:
    # Not validated: wsgiref.validate refuses HTTP_CONTENT_TYPE (see above).
    environ = make_environ(HTTP_CONTENT_TYPE="text/csv", HTTP_HOST="h")
    scope = scope_for(backend, environ, validate=False)
    assert scope["headers"] == [(b"content-type", b"text/csv"), (b"host", b"h")]


@pytest.mark.parametrize(
    ("protocol", "version"),
    [
        ("HTTP/1.0", "1.0"),
        ("HTTP/1.1", "1.1"),
        ("HTTP/2", "2"),
        ("HTTP/2.0", "2"),
        ("HTTP/3", "3"),
        ("SPDY/9", "1.1"),
    ],
)
def test_http_version(backend: str, protocol: str, version: str) -> None:
    environ = make_environ(SERVER_PROTOCOL=protocol)
    assert scope_for(backend, environ)["http_version"] == version


@pytest.mark.parametrize(
    ("extra", "client"),
    [
        ({"REMOTE_ADDR": "::1", "REMOTE_PORT": "5000"}, ("::1", 5000)),
        ({"REMOTE_ADDR": "127.0.0.1"}, ("127.0.0.1", 0)),
        ({"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "x"}, ("127.0.0.1", 0)),
        ({"REMOTE_ADDR": ""}, None),
        ({}, None),
    ],
)
def test_client(
    backend: str, extra: dict[str, str], client: tuple[str, int] | None
) -> None:
    environ = make_environ()
    environ.update(extra)
    assert scope_for(backend, environ)["client"] == client


def test_server_defaults_from_the_environ(backend: str) -> None:
    scope = scope_for(backend, make_environ())  # wsgiref's testing defaults
    assert scope["server"] == ("127.0.0.1", 80)
    assert scope["scheme"] == "http"
    assert scope["http_version"] == "1.0"


def test_method_is_upper_cased(backend: str) -> None:
    with pytest.warns(wsgiref.validate.WSGIWarning, match="REQUEST_METHOD"):
        scope = scope_for(backend, make_environ("patch"))
    assert scope["method"] == "PATCH"


def test_minimal_environ(backend: str) -> None:
    # Only what PEP 3333 requires; not validated (no QUERY_STRING: a warning).
    environ = make_environ()
    for key in (
        "QUERY_STRING",
        "SCRIPT_NAME",
        "HTTP_HOST",
        "SERVER_PROTOCOL",
        "REQUEST_METHOD",
    ):
        del environ[key]
    del environ["wsgi.url_scheme"]
    scope = scope_for(backend, environ, validate=False)
    assert scope["method"] == "GET"
    assert scope["query_string"] == b""
    assert scope["root_path"] == ""
    assert scope["path"] == "/"
    assert scope["scheme"] == "http"
    assert scope["http_version"] == "1.1"
    assert scope["headers"] == []
