"""Application errors: in the call, the iteration or ``close()``."""

from __future__ import annotations

import pytest

from anyio_bridge.wsgi import WsgiToAsgi

from .apps import Closing, Environ, StartResponse, app_returning
from .driver import Response, http_scope, request

pytestmark = pytest.mark.anyio


async def test_app_error_before_start_gives_logged_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise ZeroDivisionError("bad view")

    response = await request(WsgiToAsgi(app), http_scope(path="/view"))
    assert response.status == 500
    assert response.header(b"content-type") == b"text/plain; charset=utf-8"
    assert response.body == b"Internal Server Error"
    record = next(r for r in caplog.records if r.name == "anyio_bridge.wsgi")
    assert "GET /view" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError


async def test_iteration_error_before_anything_sent_gives_500() -> None:
    body = Closing([b"a", b"b"], fail_at=0)
    response = await request(WsgiToAsgi(app_returning(body)))
    assert response.status == 500
    assert body.closed.is_set()


async def test_iteration_error_after_the_start_reaches_the_server() -> None:
    body = Closing([b"x" * 300_000, b"y"], fail_at=1)
    response = Response()
    with pytest.raises(RuntimeError, match="boom in iteration"):
        await request(WsgiToAsgi(app_returning(body)), response=response)
    assert response.status == 200
    assert not response.complete
    assert body.closed.is_set()


async def test_close_error_is_a_500_if_nothing_was_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class FailingClose(Closing):
        def close(self) -> None:
            super().close()
            raise OSError("close failed")

    body = FailingClose([])
    response = await request(WsgiToAsgi(app_returning(body)))
    assert response.status == 500
    # Once a part was handed over, the error aborts the response.
    body = FailingClose([b"ok"])
    with pytest.raises(OSError, match="close failed"):
        await request(WsgiToAsgi(app_returning(body)))
    # An error in close() after an iteration error is logged, not lost.
    body = FailingClose([b"ok"], fail_at=0)
    response = await request(WsgiToAsgi(app_returning(body)))
    assert response.status == 500
    assert "close() of the WSGI response failed" in caplog.text
