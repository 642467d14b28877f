"""Static types for ASGI 3.0 scopes, messages and applications.

The declarations behind the front door `anyio_bridge.typing`, kept in one
module: they are one vocabulary (the scopes, every message of every protocol,
the unions of them and the application protocols), read best side by side
and cross-referenced by the unions at the end.

Every name that `asgiref.typing` exports is available here with the same
meaning, so switching a project over only means changing the import.  The
message classes are `typing.TypedDict` definitions: at runtime they are plain
`dict` objects, the classes exist for type checkers.

Each message class is named after the `type` key it carries, for example
[`HTTPResponseStartEvent`][anyio_bridge.typing.HTTPResponseStartEvent]
describes `{"type": "http.response.start", ...}`.  Messages an application
receives are grouped in
[`ASGIReceiveEvent`][anyio_bridge.typing.ASGIReceiveEvent], messages it sends
in [`ASGISendEvent`][anyio_bridge.typing.ASGISendEvent].
"""

import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, Protocol, TypeAlias

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:  # pragma: no cover - exercised on Python 3.10 only
    # typing.TypedDict of 3.10 does not understand NotRequired, so both have
    # to come from typing_extensions there.
    from typing_extensions import NotRequired, TypedDict

__all__ = (
    "ASGIVersions",
    "HTTPScope",
    "WebSocketScope",
    "LifespanScope",
    "WWWScope",
    "Scope",
    "HTTPRequestEvent",
    "HTTPResponseStartEvent",
    "HTTPResponseBodyEvent",
    "HTTPResponseTrailersEvent",
    "HTTPResponsePathsendEvent",
    "HTTPResponseDebugEvent",
    "HTTPServerPushEvent",
    "HTTPDisconnectEvent",
    "WebSocketConnectEvent",
    "WebSocketAcceptEvent",
    "WebSocketReceiveEvent",
    "WebSocketSendEvent",
    "WebSocketResponseStartEvent",
    "WebSocketResponseBodyEvent",
    "WebSocketDisconnectEvent",
    "WebSocketCloseEvent",
    "LifespanStartupEvent",
    "LifespanShutdownEvent",
    "LifespanStartupCompleteEvent",
    "LifespanStartupFailedEvent",
    "LifespanShutdownCompleteEvent",
    "LifespanShutdownFailedEvent",
    "ASGIReceiveEvent",
    "ASGISendEvent",
    "ASGIReceiveCallable",
    "ASGISendCallable",
    "ASGI2Protocol",
    "ASGI2Application",
    "ASGI3Application",
    "ASGIApplication",
)

# --------------------------------------------------------------------------
# Scopes
# --------------------------------------------------------------------------


class ASGIVersions(TypedDict):
    """The `asgi` entry of every scope: spec revision and ASGI interface version."""

    spec_version: str
    version: Literal["2.0", "3.0"]


class HTTPScope(TypedDict):
    """Connection scope for one HTTP request (`type` is `"http"`)."""

    type: Literal["http"]
    asgi: ASGIVersions
    http_version: str
    method: str
    scheme: str
    path: str
    raw_path: bytes
    query_string: bytes
    root_path: str
    headers: Iterable[tuple[bytes, bytes]]
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    state: NotRequired[dict[str, Any]]
    extensions: dict[str, dict[object, object]] | None


class WebSocketScope(TypedDict):
    """Connection scope for one WebSocket session (`type` is `"websocket"`)."""

    type: Literal["websocket"]
    asgi: ASGIVersions
    http_version: str
    scheme: str
    path: str
    raw_path: bytes
    query_string: bytes
    root_path: str
    headers: Iterable[tuple[bytes, bytes]]
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    subprotocols: Iterable[str]
    state: NotRequired[dict[str, Any]]
    extensions: dict[str, dict[object, object]] | None


class LifespanScope(TypedDict):
    """Scope of the lifespan connection, open for the server's whole run."""

    type: Literal["lifespan"]
    asgi: ASGIVersions
    state: NotRequired[dict[str, Any]]


WWWScope: TypeAlias = HTTPScope | WebSocketScope
"""A scope that belongs to a client connection: HTTP or WebSocket."""

Scope: TypeAlias = HTTPScope | WebSocketScope | LifespanScope
"""Any scope an ASGI server can hand to an application."""

# --------------------------------------------------------------------------
# HTTP messages
# --------------------------------------------------------------------------


class HTTPRequestEvent(TypedDict):
    """`http.request`: a chunk of the request body, received by the app."""

    type: Literal["http.request"]
    body: bytes
    more_body: bool


class HTTPResponseDebugEvent(TypedDict):
    """`http.response.debug`: extra response details for test clients."""

    type: Literal["http.response.debug"]
    info: dict[str, object]


class HTTPResponseStartEvent(TypedDict):
    """`http.response.start`: status line and headers, sent by the app."""

    type: Literal["http.response.start"]
    status: int
    headers: Iterable[tuple[bytes, bytes]]
    trailers: bool


class HTTPResponseBodyEvent(TypedDict):
    """`http.response.body`: a chunk of the response body, sent by the app."""

    type: Literal["http.response.body"]
    body: bytes
    more_body: bool


class HTTPResponseTrailersEvent(TypedDict):
    """`http.response.trailers`: trailing headers after the body (extension)."""

    type: Literal["http.response.trailers"]
    headers: Iterable[tuple[bytes, bytes]]
    more_trailers: bool


class HTTPResponsePathsendEvent(TypedDict):
    """`http.response.pathsend`: asks the server to send a file as the body."""

    type: Literal["http.response.pathsend"]
    path: str


class HTTPServerPushEvent(TypedDict):
    """`http.response.push`: asks the server to push a resource (HTTP/2)."""

    type: Literal["http.response.push"]
    path: str
    headers: Iterable[tuple[bytes, bytes]]


class HTTPDisconnectEvent(TypedDict):
    """`http.disconnect`: the client went away or the response is complete."""

    type: Literal["http.disconnect"]


# --------------------------------------------------------------------------
# WebSocket messages
# --------------------------------------------------------------------------


class WebSocketConnectEvent(TypedDict):
    """`websocket.connect`: the client wants to open the socket."""

    type: Literal["websocket.connect"]


class WebSocketAcceptEvent(TypedDict):
    """`websocket.accept`: the app accepts the handshake."""

    type: Literal["websocket.accept"]
    subprotocol: str | None
    headers: Iterable[tuple[bytes, bytes]]


class WebSocketReceiveEvent(TypedDict):
    """`websocket.receive`: a frame from the client, either bytes or text."""

    type: Literal["websocket.receive"]
    bytes: bytes | None
    text: str | None


class WebSocketSendEvent(TypedDict):
    """`websocket.send`: a frame for the client, either bytes or text."""

    type: Literal["websocket.send"]
    bytes: bytes | None
    text: str | None


class WebSocketResponseStartEvent(TypedDict):
    """`websocket.http.response.start`: starts an HTTP denial response."""

    type: Literal["websocket.http.response.start"]
    status: int
    headers: Iterable[tuple[bytes, bytes]]


class WebSocketResponseBodyEvent(TypedDict):
    """`websocket.http.response.body`: a body chunk of a denial response."""

    type: Literal["websocket.http.response.body"]
    body: bytes
    more_body: bool


class WebSocketDisconnectEvent(TypedDict):
    """`websocket.disconnect`: the socket was closed, received by the app."""

    type: Literal["websocket.disconnect"]
    code: int
    reason: str | None


class WebSocketCloseEvent(TypedDict):
    """`websocket.close`: the app closes the socket or rejects the handshake."""

    type: Literal["websocket.close"]
    code: int
    reason: str | None


# --------------------------------------------------------------------------
# Lifespan messages
# --------------------------------------------------------------------------


class LifespanStartupEvent(TypedDict):
    """`lifespan.startup`: the server is starting, received by the app."""

    type: Literal["lifespan.startup"]


class LifespanShutdownEvent(TypedDict):
    """`lifespan.shutdown`: the server is stopping, received by the app."""

    type: Literal["lifespan.shutdown"]


class LifespanStartupCompleteEvent(TypedDict):
    """`lifespan.startup.complete`: the app finished starting up."""

    type: Literal["lifespan.startup.complete"]


class LifespanStartupFailedEvent(TypedDict):
    """`lifespan.startup.failed`: the app could not start; `message` says why."""

    type: Literal["lifespan.startup.failed"]
    message: str


class LifespanShutdownCompleteEvent(TypedDict):
    """`lifespan.shutdown.complete`: the app finished cleaning up."""

    type: Literal["lifespan.shutdown.complete"]


class LifespanShutdownFailedEvent(TypedDict):
    """`lifespan.shutdown.failed`: cleanup went wrong; `message` says why."""

    type: Literal["lifespan.shutdown.failed"]
    message: str


# --------------------------------------------------------------------------
# Message unions and callables
# --------------------------------------------------------------------------

ASGIReceiveEvent: TypeAlias = (
    HTTPRequestEvent
    | HTTPDisconnectEvent
    | WebSocketConnectEvent
    | WebSocketReceiveEvent
    | WebSocketDisconnectEvent
    | LifespanStartupEvent
    | LifespanShutdownEvent
)
"""Any message an application can get from `receive()`."""

ASGISendEvent: TypeAlias = (
    HTTPResponseStartEvent
    | HTTPResponseBodyEvent
    | HTTPResponseTrailersEvent
    | HTTPResponsePathsendEvent
    | HTTPServerPushEvent
    | HTTPDisconnectEvent
    | WebSocketAcceptEvent
    | WebSocketSendEvent
    | WebSocketResponseStartEvent
    | WebSocketResponseBodyEvent
    | WebSocketCloseEvent
    | LifespanStartupCompleteEvent
    | LifespanStartupFailedEvent
    | LifespanShutdownCompleteEvent
    | LifespanShutdownFailedEvent
)
"""Any message an application can pass to `send()`.

`HTTPDisconnectEvent` is listed as in `asgiref.typing`, so code written
against asgiref keeps type-checking.  Unlike asgiref, the union also contains
[`HTTPResponsePathsendEvent`][anyio_bridge.typing.HTTPResponsePathsendEvent],
which applications do send.
"""

ASGIReceiveCallable: TypeAlias = Callable[[], Awaitable[ASGIReceiveEvent]]
"""The `receive` argument: awaiting its result yields the next message."""

ASGISendCallable: TypeAlias = Callable[[ASGISendEvent], Awaitable[None]]
"""The `send` argument: awaiting its result delivers one message."""


class ASGI2Protocol(Protocol):
    """Instance side of an ASGI 2 ("double-callable") application.

    The class is called with the scope; the resulting object is then awaited
    with `receive` and `send`.
    """

    def __init__(self, scope: Scope) -> None: ...

    async def __call__(
        self, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None: ...


ASGI2Application: TypeAlias = type[ASGI2Protocol]
"""An ASGI 2 application: a class taking the scope in its constructor."""

ASGI3Application: TypeAlias = Callable[
    [Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]
]
"""An ASGI 3 ("single-callable") application: `await app(scope, receive, send)`."""

ASGIApplication: TypeAlias = ASGI2Application | ASGI3Application
"""An application in either ASGI 2 or ASGI 3 style."""
