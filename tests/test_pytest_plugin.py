"""The opt-in pytest plugin: its fixture here, and in a user's project."""

from __future__ import annotations

from typing import Any

import pytest

from anyio_bridge.pytest_plugin import BACKENDS, CommunicatorFactory
from anyio_bridge.testing import http_scope

pytestmark = pytest.mark.anyio


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": message["body"]})


async def test_fixture_starts_communicators(
    asgi_communicator: CommunicatorFactory,
) -> None:
    first = await asgi_communicator(echo, http_scope("POST"))
    second = await asgi_communicator(echo, http_scope("POST"))
    await first.send_input({"type": "http.request", "body": b"one"})
    await second.send_input({"type": "http.request", "body": b"two"})
    assert (await second.receive_output())["status"] == 200
    assert (await second.receive_output())["body"] == b"two"
    assert (await first.receive_output())["status"] == 200
    assert (await first.receive_output())["body"] == b"one"


def test_backends_constant() -> None:
    assert BACKENDS == ("asyncio", "trio")


USER_CONFTEST = """
import pytest
from anyio_bridge.pytest_plugin import BACKENDS

pytest_plugins = ["anyio_bridge.pytest_plugin"]


@pytest.fixture(params=BACKENDS)
def anyio_backend(request):
    return request.param
"""

USER_TESTS = """
import pytest
import sniffio
from anyio_bridge.testing import http_scope

pytestmark = pytest.mark.anyio
seen = []


async def app(scope, receive, send):
    await receive()
    if scope["path"] == "/fail":
        raise ValueError("the app failed")
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def test_ok(asgi_communicator, anyio_backend):
    seen.append(sniffio.current_async_library())
    communicator = await asgi_communicator(app, http_scope())
    await communicator.send_input({"type": "http.request", "body": b""})
    assert (await communicator.receive_output())["status"] == 204


async def test_unobserved_failure(asgi_communicator):
    communicator = await asgi_communicator(app, http_scope(path="/fail"))
    await communicator.send_input({"type": "http.request", "body": b""})


def test_both_backends_ran():
    assert seen == ["asyncio", "trio"]
"""


def test_user_project_runs_on_both_backends(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_inprocess(
        "-p", "anyio", "-p", "no:pytest_cov", "-p", "no:cacheprovider", "-v"
    )
    # The failing test passes, then its teardown reports the error.
    result.assert_outcomes(passed=5, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*test_ok?asyncio? PASSED*",
            "*test_ok?trio? PASSED*",
            "*test_unobserved_failure?asyncio? ERROR*",
            "*test_unobserved_failure?trio? ERROR*",
            "*ValueError: the app failed*",
        ]
    )
