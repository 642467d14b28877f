"""http_scope, websocket_scope and lifespan_scope."""

from __future__ import annotations

from typing import Any

import pytest

from anyio_bridge.testing import http_scope, lifespan_scope, websocket_scope

pytestmark = pytest.mark.anyio

# --------------------------------------------------------------------------
# Scopes
# --------------------------------------------------------------------------


def test_http_scope_defaults() -> None:
    assert http_scope() == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "extensions": None,
    }


def test_http_scope_target_and_headers() -> None:
    scope = http_scope(
        "post",
        "/caf%C3%A9/a b?x=1&y=%20",
        headers=[("X-Name", "v"), (b"X-Raw", b"\xff"), ("x-name", "w")],
        scheme="https",
        root_path="/mount",
        client=None,
        server=None,
        extensions={"http.response.trailers": {}},
    )
    assert scope["method"] == "POST"
    assert scope["path"] == "/café/a b"
    assert scope["raw_path"] == b"/caf%C3%A9/a%20b"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["headers"] == [
        (b"x-name", b"v"),
        (b"x-raw", b"\xff"),
        (b"x-name", b"w"),
    ]
    assert scope["scheme"] == "https"
    assert scope["root_path"] == "/mount"
    assert scope["client"] is None
    assert scope["server"] is None
    assert scope["extensions"] == {"http.response.trailers": {}}


def test_http_scope_unicode_path_and_mapping_headers() -> None:
    scope = http_scope(
        path="/café", query_string="q=é", headers={"Content-Type": "text/plain"}
    )
    assert scope["path"] == "/café"
    assert scope["raw_path"] == b"/caf%C3%A9"
    assert scope["query_string"] == "q=é".encode("latin-1")
    assert scope["headers"] == [(b"content-type", b"text/plain")]


def test_http_scope_refuses_two_query_strings() -> None:
    with pytest.raises(ValueError, match="not both"):
        http_scope(path="/?a=1", query_string=b"b=2")


def test_websocket_scope() -> None:
    scope = websocket_scope("/chat?room=1", subprotocols=["v2", "v1"])
    assert scope["type"] == "websocket"
    assert scope["path"] == "/chat"
    assert scope["query_string"] == b"room=1"
    assert scope["subprotocols"] == ["v2", "v1"]
    assert scope["scheme"] == "ws"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert "method" not in scope


def test_lifespan_scope() -> None:
    assert lifespan_scope() == {
        "type": "lifespan",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
    }
    state: dict[str, Any] = {}
    assert lifespan_scope(state)["state"] is state
