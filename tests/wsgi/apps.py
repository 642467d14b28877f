"""The WSGI applications and helpers the adapter's tests share."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WAIT = 10  # seconds: generous bound for events that must happen


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


class Closing:
    """A response iterable that records how far it was iterated and its close()."""

    def __init__(self, chunks: Iterable[bytes], fail_at: int | None = None) -> None:
        self.chunks = list(chunks)
        self.fail_at = fail_at
        self.produced = 0
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise RuntimeError("boom in iteration")
            self.produced += 1
            yield chunk

    def close(self) -> None:
        self.closed.set()


def app_returning(
    body: Any, status: str = "200 OK", headers: list[tuple[str, str]] | None = None
) -> Callable[[Environ, StartResponse], Any]:
    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response(status, headers or [("Content-Type", "text/plain")])
        return body

    return app


def echo(environ: Environ, start_response: StartResponse) -> list[bytes]:
    data = environ["wsgi.input"].read(1 << 30)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [data]
