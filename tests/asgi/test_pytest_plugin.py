"""The opt-in pytest plugin: its fixture here, and in a user's project."""

from __future__ import annotations

import re
from pathlib import Path
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
import anyio
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


async def test_started_in_scopes_the_test_leaves(asgi_communicator):
    with anyio.fail_after(10):
        async with anyio.create_task_group():
            communicator = await asgi_communicator(app, http_scope())
    await communicator.send_input({"type": "http.request", "body": b""})
    assert (await communicator.receive_output())["status"] == 204


async def test_several_failures(asgi_communicator):
    for path in ("/fail", "/ok", "/fail"):
        communicator = await asgi_communicator(app, http_scope(path=path))
        await communicator.send_input({"type": "http.request", "body": b""})
    await anyio.wait_all_tasks_blocked()  # let both applications fail


async def test_observed_failure(asgi_communicator):
    communicator = await asgi_communicator(app, http_scope(path="/fail"))
    await communicator.send_input({"type": "http.request", "body": b""})
    with pytest.raises(ValueError, match="the app failed"):
        await communicator.wait()


def test_both_backends_ran():
    assert seen == ["asyncio", "trio"]
"""


def test_user_project_runs_on_both_backends(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_inprocess(
        "-p",
        "anyio",
        "-p",
        "no:pytest_cov",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:asyncio",
        "-v",
    )
    # The failing tests pass, then their teardown reports the errors.
    result.assert_outcomes(passed=11, errors=4)
    result.stdout.fnmatch_lines(
        [
            "*test_ok?asyncio? PASSED*",
            "*test_ok?trio? PASSED*",
            "*test_unobserved_failure?asyncio? ERROR*",
            "*test_unobserved_failure?trio? ERROR*",
            "*test_started_in_scopes_the_test_leaves?asyncio? PASSED*",
            "*test_started_in_scopes_the_test_leaves?trio? PASSED*",
            "*test_several_failures?asyncio? ERROR*",
            "*test_several_failures?trio? ERROR*",
            "*test_observed_failure?asyncio? PASSED*",
            "*test_observed_failure?trio? PASSED*",
        ]
    )
    # Each of test_several_failures's two errors, the newest first, chained.
    output = result.stdout.str()
    assert output.count("During handling of the above exception") == 2
    assert output.count("ValueError: the app failed") >= 6


def test_docs_recipes_run(pytester: pytest.Pytester) -> None:
    """docs/testing.md's conftest.py and test module recipes, put together."""
    page = (Path(__file__).parents[2] / "docs" / "testing.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```$", page, re.DOTALL | re.MULTILINE)
    conftests = [block for block in blocks if block.startswith("# conftest.py")]
    tests = [block for block in blocks if block.startswith("# test_")]
    assert len(conftests) == 2
    assert len(tests) == 1
    pytester.makeconftest("\n".join(conftests))
    pytester.makepyfile(test_docs=tests[0])
    result = pytester.runpytest_inprocess(
        "-p",
        "anyio",
        "-p",
        "no:pytest_cov",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:asyncio",
        "-v",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*[[]asyncio[]] PASSED*", "*[[]trio[]] PASSED*"])


# -- the two names of the plugin module ------------------------------------------

FIXTURE_USER = """
import pytest

from anyio_bridge.testing import http_scope

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def app(scope, receive, send):
    await send({"type": "done"})


async def test_fixture(asgi_communicator, request):
    communicator = await asgi_communicator(app, http_scope())
    assert (await communicator.receive_output())["type"] == "done"
    # One definition of the fixture, from the module pytest loaded.
    manager = request._fixturemanager
    definitions = manager.getfixturedefs("asgi_communicator", request.node)
    assert len(definitions) == 1
    print("DEFINED IN", definitions[0].func.__module__)
"""


@pytest.mark.parametrize(
    "plugin", ["anyio_bridge.pytest_plugin", "anyio_bridge.testing.pytest_plugin"]
)
def test_plugin_loads_under_either_name(pytester: pytest.Pytester, plugin: str) -> None:
    """``-p anyio_bridge.pytest_plugin`` (documented) re-exports the plugin of
    ``anyio_bridge.testing``; either name registers the fixture once."""
    pytester.makepyfile(test_user=FIXTURE_USER)
    result = pytester.runpytest_inprocess(
        "-p",
        "anyio",
        "-p",
        plugin,
        "-p",
        "no:pytest_cov",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:asyncio",
        "-s",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*DEFINED IN anyio_bridge.testing.pytest_plugin*"])


def test_plugin_module_is_a_front_door() -> None:
    import anyio_bridge.pytest_plugin
    import anyio_bridge.testing.pytest_plugin as plugin

    for name in anyio_bridge.pytest_plugin.__all__:
        assert getattr(anyio_bridge.pytest_plugin, name) is getattr(plugin, name)
