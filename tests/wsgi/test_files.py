"""``wsgi.file_wrapper``: pathsend when the server offers it, streaming otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from anyio_bridge.wsgi import FileWrapper, WsgiToAsgi

from .apps import Environ, StartResponse
from .driver import http_scope, request

pytestmark = pytest.mark.anyio


PATHSEND = {"http.response.pathsend": {}}


def file_app(path: str, *, seek: int = 0, length: int | None = None) -> Any:
    def app(environ: Environ, start_response: StartResponse) -> Any:
        headers = [("Content-Type", "application/octet-stream")]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        start_response("200 OK", headers)
        handle = open(path, "rb")  # noqa: SIM115 - closed by the adapter
        handle.seek(seek)
        return environ["wsgi.file_wrapper"](handle, 1000)

    return app


async def test_file_wrapper_uses_pathsend(tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789" * 1000)
    response = await request(
        WsgiToAsgi(file_app(str(path))), http_scope(extensions=PATHSEND)
    )
    assert response.messages[-1] == {
        "type": "http.response.pathsend",
        "path": str(path),
    }
    assert response.status == 200


@pytest.mark.parametrize(
    ("seek", "length", "extensions"),
    [(0, None, {}), (5, None, PATHSEND), (0, 10, PATHSEND)],
    ids=["no-extension", "moved", "partial-length"],
)
async def test_file_wrapper_streams_otherwise(
    tmp_path: Any, seek: int, length: int | None, extensions: Any
) -> None:
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * 40
    path.write_bytes(data)
    app = WsgiToAsgi(file_app(str(path), seek=seek, length=length))
    response = await request(app, http_scope(extensions=extensions))
    expected = data[seek:]
    if length is not None:
        expected = expected[:length]
    assert response.body == expected
    assert response.complete


async def test_file_wrapper_over_a_non_file_streams() -> None:
    import io

    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"in memory"))

    response = await request(WsgiToAsgi(app), http_scope(extensions=PATHSEND))
    assert response.body == b"in memory"


async def test_file_wrapper_over_a_renamed_file_streams(tmp_path: Any) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    handle = open(path, "rb")  # noqa: SIM115 - closed by the adapter
    path.rename(tmp_path / "b.bin")

    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [])
        return FileWrapper(handle)

    response = await request(WsgiToAsgi(app), http_scope(extensions=PATHSEND))
    assert response.body == b"abc"
    assert handle.closed


def test_file_wrapper_without_close() -> None:
    class Reader:
        def __init__(self) -> None:
            self.data = [b"ab", b""]

        def read(self, size: int) -> bytes:
            return self.data.pop(0)

    wrapper = FileWrapper(Reader())
    assert list(wrapper) == [b"ab"]
    wrapper.close()


async def test_head_with_a_file_wrapper_sends_no_path(tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"abc")
    app = WsgiToAsgi(file_app(str(path), length=3))
    response = await request(app, http_scope("HEAD", extensions=PATHSEND))
    assert response.header(b"content-length") == b"3"
    assert response.body == b""
    assert response.complete
