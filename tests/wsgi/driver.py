"""A small in-process ASGI driver for the WSGI adapter's tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

Message = dict[str, Any]


def http_scope(
    method: str = "GET",
    path: str = "/",
    *,
    query_string: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    root_path: str = "",
    **extra: Any,
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": root_path,
        "headers": list(headers),
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(extra)
    return scope


@dataclass
class Response:
    messages: list[Message] = field(default_factory=list)

    @property
    def start(self) -> Message:
        assert self.messages, "nothing was sent"
        assert self.messages[0]["type"] == "http.response.start"
        return self.messages[0]

    @property
    def status(self) -> int:
        return int(self.start["status"])

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(bytes(k), bytes(v)) for k, v in self.start["headers"]]

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"")
            for m in self.messages
            if m["type"] == "http.response.body"
        )

    @property
    def complete(self) -> bool:
        last = self.messages[-1] if self.messages else {}
        return bool(
            last.get("type") == "http.response.pathsend"
            or (last.get("type") == "http.response.body" and not last["more_body"])
        )


def body_messages(parts: Sequence[bytes]) -> list[Message]:
    if not parts:
        parts = [b""]
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


async def request(
    app: Callable[..., Awaitable[None]],
    scope: dict[str, Any] | None = None,
    body: bytes | Sequence[bytes] = b"",
    *,
    receive: Callable[[], Awaitable[Message]] | None = None,
    send: Callable[[Message], Awaitable[None]] | None = None,
    response: Response | None = None,
) -> Response:
    """Run one request; after the body, receive() waits until cancelled."""
    scope = scope or http_scope()
    parts = [body] if isinstance(body, bytes) else list(body)
    pending = body_messages(parts)
    response = response if response is not None else Response()

    async def default_receive() -> Message:
        if pending:
            return pending.pop(0)
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def default_send(message: Message) -> None:
        response.messages.append(message)

    await app(scope, receive or default_receive, send or default_send)
    return response
