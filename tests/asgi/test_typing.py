"""Tests for anyio_bridge.typing."""

from __future__ import annotations

import collections.abc
import sys
import typing
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

if sys.version_info >= (3, 11):
    from typing import is_typeddict
else:  # pragma: no cover - Python 3.10 only
    # typing.is_typeddict of 3.10 does not recognise typing_extensions classes.
    from typing_extensions import is_typeddict

import anyio_bridge.typing as asgi_types
from anyio_bridge.typing import (
    ASGI2Application,
    ASGI2Protocol,
    ASGI3Application,
    ASGIApplication,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    HTTPDisconnectEvent,
    HTTPRequestEvent,
    HTTPResponseBodyEvent,
    HTTPResponseDebugEvent,
    HTTPResponsePathsendEvent,
    HTTPResponseStartEvent,
    HTTPResponseTrailersEvent,
    HTTPScope,
    HTTPServerPushEvent,
    LifespanScope,
    LifespanShutdownCompleteEvent,
    LifespanShutdownEvent,
    LifespanShutdownFailedEvent,
    LifespanStartupCompleteEvent,
    LifespanStartupEvent,
    LifespanStartupFailedEvent,
    Scope,
    WebSocketAcceptEvent,
    WebSocketCloseEvent,
    WebSocketConnectEvent,
    WebSocketDisconnectEvent,
    WebSocketReceiveEvent,
    WebSocketResponseBodyEvent,
    WebSocketResponseStartEvent,
    WebSocketScope,
    WebSocketSendEvent,
    WWWScope,
)

EVENT_TYPES: dict[type[Any], str] = {
    HTTPRequestEvent: "http.request",
    HTTPResponseDebugEvent: "http.response.debug",
    HTTPResponseStartEvent: "http.response.start",
    HTTPResponseBodyEvent: "http.response.body",
    HTTPResponseTrailersEvent: "http.response.trailers",
    HTTPResponsePathsendEvent: "http.response.pathsend",
    HTTPServerPushEvent: "http.response.push",
    HTTPDisconnectEvent: "http.disconnect",
    WebSocketConnectEvent: "websocket.connect",
    WebSocketAcceptEvent: "websocket.accept",
    WebSocketReceiveEvent: "websocket.receive",
    WebSocketSendEvent: "websocket.send",
    WebSocketResponseStartEvent: "websocket.http.response.start",
    WebSocketResponseBodyEvent: "websocket.http.response.body",
    WebSocketDisconnectEvent: "websocket.disconnect",
    WebSocketCloseEvent: "websocket.close",
    LifespanStartupEvent: "lifespan.startup",
    LifespanShutdownEvent: "lifespan.shutdown",
    LifespanStartupCompleteEvent: "lifespan.startup.complete",
    LifespanStartupFailedEvent: "lifespan.startup.failed",
    LifespanShutdownCompleteEvent: "lifespan.shutdown.complete",
    LifespanShutdownFailedEvent: "lifespan.shutdown.failed",
}

SCOPE_TYPES: dict[type[Any], str] = {
    HTTPScope: "http",
    WebSocketScope: "websocket",
    LifespanScope: "lifespan",
}


def _typeddicts() -> list[type[Any]]:
    return [
        obj
        for name in asgi_types.__all__
        if is_typeddict(obj := getattr(asgi_types, name))
    ]


def test_all_names_exist_once() -> None:
    assert len(set(asgi_types.__all__)) == len(asgi_types.__all__)
    for name in asgi_types.__all__:
        assert hasattr(asgi_types, name), name


def test_every_message_class_is_tested() -> None:
    tested = set(EVENT_TYPES) | set(SCOPE_TYPES) | {asgi_types.ASGIVersions}
    assert set(_typeddicts()) == tested


@pytest.mark.parametrize("cls", _typeddicts(), ids=lambda cls: cls.__name__)
def test_typeddicts_are_documented(cls: type[Any]) -> None:
    assert cls.__doc__
    assert cls.__doc__.strip()


@pytest.mark.parametrize(
    ("cls", "message_type"),
    [*EVENT_TYPES.items(), *SCOPE_TYPES.items()],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_type_key_is_the_literal_name(cls: type[Any], message_type: str) -> None:
    hint = get_type_hints(cls)["type"]
    assert get_origin(hint) is Literal
    assert get_args(hint) == (message_type,)
    assert "type" in cls.__required_keys__


def test_asgi_versions() -> None:
    assert asgi_types.ASGIVersions.__required_keys__ == {"spec_version", "version"}
    version = get_type_hints(asgi_types.ASGIVersions)["version"]
    assert set(get_args(version)) == {"2.0", "3.0"}


def test_http_scope_keys() -> None:
    assert HTTPScope.__optional_keys__ == {"state"}
    assert HTTPScope.__required_keys__ == {
        "type",
        "asgi",
        "http_version",
        "method",
        "scheme",
        "path",
        "raw_path",
        "query_string",
        "root_path",
        "headers",
        "client",
        "server",
        "extensions",
    }


def test_websocket_scope_keys() -> None:
    assert WebSocketScope.__optional_keys__ == {"state"}
    # A WebSocket handshake is always a GET, so there is no method key; the
    # requested subprotocols are listed instead.
    assert WebSocketScope.__required_keys__ == (
        HTTPScope.__required_keys__ - {"method"}
    ) | {"subprotocols"}


def test_lifespan_scope_keys() -> None:
    assert LifespanScope.__required_keys__ == {"type", "asgi"}
    assert LifespanScope.__optional_keys__ == {"state"}


@pytest.mark.parametrize(
    ("cls", "required"),
    [
        (HTTPRequestEvent, {"type", "body", "more_body"}),
        (HTTPResponseStartEvent, {"type", "status", "headers", "trailers"}),
        (HTTPResponseBodyEvent, {"type", "body", "more_body"}),
        (HTTPResponseTrailersEvent, {"type", "headers", "more_trailers"}),
        (HTTPResponsePathsendEvent, {"type", "path"}),
        (HTTPServerPushEvent, {"type", "path", "headers"}),
        (HTTPResponseDebugEvent, {"type", "info"}),
        (HTTPDisconnectEvent, {"type"}),
        (WebSocketConnectEvent, {"type"}),
        (WebSocketAcceptEvent, {"type", "subprotocol", "headers"}),
        (WebSocketReceiveEvent, {"type", "bytes", "text"}),
        (WebSocketSendEvent, {"type", "bytes", "text"}),
        (WebSocketResponseStartEvent, {"type", "status", "headers"}),
        (WebSocketResponseBodyEvent, {"type", "body", "more_body"}),
        (WebSocketDisconnectEvent, {"type", "code", "reason"}),
        (WebSocketCloseEvent, {"type", "code", "reason"}),
        (LifespanStartupEvent, {"type"}),
        (LifespanShutdownEvent, {"type"}),
        (LifespanStartupCompleteEvent, {"type"}),
        (LifespanStartupFailedEvent, {"type", "message"}),
        (LifespanShutdownCompleteEvent, {"type"}),
        (LifespanShutdownFailedEvent, {"type", "message"}),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_event_keys(cls: type[Any], required: set[str]) -> None:
    assert cls.__required_keys__ == required
    assert cls.__optional_keys__ == frozenset()


def test_scope_unions() -> None:
    assert set(get_args(WWWScope)) == {HTTPScope, WebSocketScope}
    assert set(get_args(Scope)) == {HTTPScope, WebSocketScope, LifespanScope}


def test_receive_event_union() -> None:
    assert set(get_args(ASGIReceiveEvent)) == {
        HTTPRequestEvent,
        HTTPDisconnectEvent,
        WebSocketConnectEvent,
        WebSocketReceiveEvent,
        WebSocketDisconnectEvent,
        LifespanStartupEvent,
        LifespanShutdownEvent,
    }


def test_send_event_union() -> None:
    members = set(get_args(ASGISendEvent))
    assert HTTPResponsePathsendEvent in members
    # http.disconnect is kept for compatibility with asgiref.typing.
    assert HTTPDisconnectEvent in members
    assert members.isdisjoint(
        {
            HTTPRequestEvent,
            HTTPResponseDebugEvent,
            WebSocketConnectEvent,
            WebSocketReceiveEvent,
            WebSocketDisconnectEvent,
            LifespanStartupEvent,
            LifespanShutdownEvent,
        }
    )
    assert len(members) == 15


def test_callable_aliases() -> None:
    assert get_origin(ASGIReceiveCallable) is collections.abc.Callable
    assert get_args(ASGIReceiveCallable)[0] == []
    assert get_origin(ASGISendCallable) is collections.abc.Callable
    assert get_args(ASGISendCallable)[0] == [ASGISendEvent]
    assert get_origin(ASGI3Application) is collections.abc.Callable
    assert get_args(ASGI3Application)[0] == [
        Scope,
        ASGIReceiveCallable,
        ASGISendCallable,
    ]


def test_application_aliases() -> None:
    assert get_origin(ASGI2Application) is type
    assert get_args(ASGI2Application) == (ASGI2Protocol,)
    assert set(get_args(ASGIApplication)) == {ASGI2Application, ASGI3Application}
    assert typing.Protocol in ASGI2Protocol.__bases__


def test_messages_are_plain_dicts() -> None:
    message: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 204,
        "headers": [(b"x-test", b"1")],
        "trailers": False,
    }
    assert type(message) is dict
    constructed = HTTPResponseStartEvent(
        type="http.response.start",
        status=204,
        headers=[(b"x-test", b"1")],
        trailers=False,
    )
    assert constructed == message


class _EchoApp:
    """An ASGI 2 application that satisfies ASGI2Protocol."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(
        self, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        event = await receive()
        assert event["type"] == "http.request"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [],
                "trailers": False,
            }
        )
        await send(
            {"type": "http.response.body", "body": event["body"], "more_body": False}
        )


@pytest.mark.anyio
async def test_typed_asgi2_app_runs() -> None:
    sent: list[ASGISendEvent] = []

    async def receive() -> ASGIReceiveEvent:
        return {"type": "http.request", "body": b"ping", "more_body": False}

    async def send(event: ASGISendEvent) -> None:
        sent.append(event)

    scope: HTTPScope = {
        "type": "http",
        "asgi": {"version": "2.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": None,
        "server": None,
        "extensions": None,
    }
    application: ASGI2Application = _EchoApp
    await application(scope)(receive, send)
    assert [event["type"] for event in sent] == [
        "http.response.start",
        "http.response.body",
    ]
    assert sent[1] == {
        "type": "http.response.body",
        "body": b"ping",
        "more_body": False,
    }


@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="asgiref's TypedDicts on 3.10 report NotRequired keys as required",
)
def test_keys_match_asgiref() -> None:
    asgiref_typing = pytest.importorskip("asgiref.typing")
    assert set(asgiref_typing.__all__) <= set(asgi_types.__all__)
    for name in asgiref_typing.__all__:
        theirs = getattr(asgiref_typing, name)
        ours = getattr(asgi_types, name)
        is_dict = hasattr(theirs, "__required_keys__")
        assert is_typeddict(ours) == is_dict, name
        if is_dict:
            assert ours.__required_keys__ == theirs.__required_keys__, name
            assert ours.__optional_keys__ == theirs.__optional_keys__, name
