"""One HTTP request to an ASGI application in one call: http_request.

Behind ``anyio_bridge.testing``: it builds the scope with :func:`http_scope`,
runs the application in an :class:`ApplicationCommunicator` and collects the
response into an :class:`HttpResponse`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .communicator import ApplicationCommunicator
from .scopes import HeadersArg, encode_headers, http_scope
from .timeout import timeout as _timeout

__all__ = ["HttpResponse", "http_request"]


class HttpResponse(NamedTuple):
    """What :func:`http_request` returns; unpacks as ``status, headers, body``."""

    #: The status code of ``http.response.start``.
    status: int
    #: The response headers, as the application sent them.
    headers: list[tuple[bytes, bytes]]
    #: The body: every ``http.response.body`` chunk, joined.
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of the first header called *name* (any case), or ``None``.

        :param name: a header name.
        :returns: the value decoded as latin-1, or ``None`` if there is none.
        """
        wanted = name.lower().encode("latin-1")
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None


_IGNORED_RESPONSE_MESSAGES = frozenset(
    {"http.response.debug", "http.response.trailers"}
)


async def http_request(
    application: Callable[..., Any],
    method: str = "GET",
    path: str = "/",
    *,
    headers: HeadersArg = (),
    body: bytes = b"",
    scheme: str = "http",
    root_path: str = "",
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int | None] | None = ("testserver", 80),
    timeout: float | None = 10,
) -> HttpResponse:
    """Make one HTTP request to an ASGI application and return its response.

    The scope comes from :func:`http_scope`.  Headers get a ``host`` header
    (from *server*) and, with a body, a ``content-length`` header, unless
    *headers* has them.  The body is sent in one ``http.request`` message.
    Once the response is complete, the application's next ``receive``
    returns ``http.disconnect``, and this waits for the application to
    return, so that errors it raises after responding are not lost.
    ``http.response.debug`` and ``http.response.trailers`` messages are
    skipped.

    For a WSGI application, pass ``WsgiToAsgi(wsgi_app)`` (see
    :mod:`anyio_bridge.wsgi`).

    :param application: an ASGI 3 or ASGI 2 application.
    :param method: the request method.
    :param path: the path, optionally with ``?`` and a query string.
    :param headers: request headers, see :func:`http_scope`.
    :param body: the request body.
    :param scheme: ``"http"`` or ``"https"``.
    :param root_path: the mount point of the application.
    :param client: the client's ``(host, port)``, or ``None``.
    :param server: the server's ``(host, port)``, or ``None``.
    :param timeout: seconds the whole exchange may take, or ``None``.
    :returns: the status, headers and body of the response.
    :raises TimeoutError: if the exchange took longer than *timeout*.
    :raises Exception: what the application raised.
    :raises RuntimeError: if the application returned before completing
        the response, or sent a message out of order or of an unexpected type.
    """
    request_headers = encode_headers(headers)
    names = {name for name, _ in request_headers}
    if b"host" not in names and server is not None:
        host, port = server
        value = host if port in (None, 80, 443) else f"{host}:{port}"
        request_headers.insert(0, (b"host", value.encode("latin-1")))
    if body and not names & {b"content-length", b"transfer-encoding"}:
        request_headers.append((b"content-length", str(len(body)).encode("ascii")))
    scope = http_scope(
        method,
        path,
        headers=request_headers,
        scheme=scheme,
        root_path=root_path,
        client=client,
        server=server,
    )
    with _timeout(timeout):
        async with ApplicationCommunicator(application, scope) as communicator:
            await communicator.send_input(
                {"type": "http.request", "body": body, "more_body": False}
            )
            response = await _read_response(communicator)
            await communicator.send_input({"type": "http.disconnect"})
            await communicator.wait(timeout=None)
    return response


async def _read_response(communicator: ApplicationCommunicator) -> HttpResponse:
    status: int | None = None
    response_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []
    while True:
        message = await communicator._next_message()
        kind = message.get("type")
        if kind == "http.response.start" and status is None:
            status = int(message["status"])
            response_headers = [
                (bytes(name), bytes(value))
                for name, value in message.get("headers", ())
            ]
        elif kind == "http.response.body" and status is not None:
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                return HttpResponse(status, response_headers, b"".join(chunks))
        elif kind not in _IGNORED_RESPONSE_MESSAGES:
            raise RuntimeError(f"unexpected message from the application: {message!r}")
