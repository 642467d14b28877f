"""``anyio-bridge serve`` in subprocesses: serving until signalled, workers."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .conftest import REPO, WAIT, Server

# The command line has no Python API but main(): its parts are tested
# through their private modules where a behaviour cannot be reached
# through main() or a subprocess quickly.

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    pass


# --- the command line, in a subprocess ---------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_command_serves_until_signalled(
    run_server: Callable[..., Server], backend: str, signum: signal.Signals
) -> None:
    server = run_server("webapp:app", "--backend", backend, "--bind", "127.0.0.1:0")
    assert server.banner.startswith(f"anyio-bridge: serving webapp:app on {backend} at")
    assert "(press Ctrl+C to quit)" in server.banner
    response = httpx.get(server.url + "/hello", timeout=WAIT)
    assert response.status_code == 200
    assert response.text == "|/hello|GET"
    out, err = server.stop(signum)
    assert server.process.returncode == 0
    # The access line is written after the response, maybe after the signal.
    stopping = f"anyio-bridge: {signum.name} received, shutting down"
    lines = out.splitlines()
    lines.remove(stopping)
    [access] = lines
    # One line per request, in the combined log format.
    assert re.fullmatch(
        r"127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
        r'"GET /hello HTTP/1\.1" 200 11 "-" "python-httpx/[\d.]+"',
        access,
    )
    # The banner is the only startup line: hypercorn's is left out.
    assert err == ""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_command_cuts_requests_still_running_after_the_grace_period(
    run_server: Callable[..., Server], backend: str
) -> None:
    server = run_server("webapp:app", "--backend", backend, "--bind", "127.0.0.1:0")
    assert server.process.stdout is not None
    with (
        httpx.Client(timeout=WAIT) as http,
        http.stream("GET", server.url + "/stream") as response,
    ):
        lines = response.iter_lines()
        assert next(lines) == "first line"
        server.signal(signal.SIGINT)
        assert "SIGINT received, shutting down" in server.process.stdout.readline()
        # A second Ctrl-C stops the server at once, cutting the request.
        server.signal(signal.SIGINT)
        out, err = server.stop()
        with pytest.raises(Exception, match="peer closed connection"):
            list(lines)
    assert server.process.returncode == 0
    assert "SIGINT received, already shutting down" in out
    assert "Traceback" not in err
    assert "Error" not in err


def test_command_with_workers(run_server: Callable[..., Server]) -> None:
    server = run_server(
        "webapp:app", "--backend=trio", "--bind=127.0.0.1:0", "--workers=2"
    )
    assert " on trio (2 workers) at " in server.banner
    response = httpx.get(server.url + "/hello", timeout=WAIT)
    assert response.text == "|/hello|GET"
    _, err = server.stop(signal.SIGINT)
    assert server.process.returncode == 0
    assert "Traceback" not in err


def test_command_serves_the_flask_example(run_server: Callable[..., Server]) -> None:
    """README.md's command: serve examples/flask_app.py on trio from the repo root."""
    pytest.importorskip("flask")
    server = run_server(
        "examples.flask_app:app", "--backend=trio", "--bind=127.0.0.1:0", cwd=REPO
    )
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        index = http.get("/")
        assert index.status_code == 200
        assert "<title>anyio-bridge Flask example</title>" in index.text
        assert "anyio_bridge worker" in index.text
        info = http.get("/api/info").json()
        assert info["path"] == "/api/info"
        assert info["multithread"] is True
        greeting = http.post("/greet", data={"name": "Ada <3"})
        assert "Hello, Ada &lt;3!" in greeting.text
        with http.stream("GET", "/countdown", params={"start": 1}) as countdown:
            assert list(countdown.iter_lines()) == ["1...", "liftoff!"]
    _, err = server.stop(signal.SIGINT)
    assert server.process.returncode == 0
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("spec", "status", "message"),
    [
        ("webapp", 2, "error: argument MODULE:APP: 'webapp' has no ':'"),
        ("nowhere:app", 1, "error: cannot import 'nowhere': no module named 'nowhere'"),
        ("webapp:application", 1, "error: module 'webapp' has no attribute"),
        ("webapp:not_callable", 1, "is not a WSGI application: a int object is not"),
    ],
)
def test_command_errors(app_dir: Path, spec: str, status: int, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anyio_bridge", "serve", spec, "--bind=127.0.0.1:0"],
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == status
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_command_help_lists_the_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anyio_bridge", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )
    options = (
        *("--backend", "--bind", "--workers", "--threads", "--root-path"),
        *("--static", "--reload", "--access-log", "--certfile", "--keyfile"),
        *("--proxy-headers", "--forwarded-allow-ips", "--proxy-hops"),
        *("--graceful-timeout", "--keep-alive", "--version"),
    )
    for option in options:
        assert option in result.stdout
    assert "MODULE:APP" in result.stdout
