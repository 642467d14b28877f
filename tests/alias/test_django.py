"""A Django project, as the docs set it up, under the alias."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .helpers import (
    URL,
    WAIT,
    check_report,
    checked,
    docs_file,
    python,
)

# Installing is process-wide and this process has the real asgiref imported,
# so the private modules of anyio_bridge._alias are tested on tables of
# their own, with the installing replaced where it would be process-wide.


# --- a Django project, as the docs set it up ---------------------------------------


def test_docs_manage_py(django_project: Path) -> None:
    code = "import asgiref.sync; print(asgiref.sync.__name__)"
    out = checked(python("manage.py", "shell", "-c", code, cwd=django_project))
    assert out.splitlines()[-1] == "anyio_bridge.sync"


DRIVE_WSGI = """
import json, sys
from wsgiref.util import setup_testing_defaults
from mysite.wsgi import application

environ = {"PATH_INFO": "/report"}
setup_testing_defaults(environ)
statuses = []
body = b"".join(application(environ, lambda status, headers: statuses.append(status)))
assert statuses == ["200 OK"], statuses
print(body.decode())
"""

# Django's ASGI handler is asyncio-only by nature (asyncio.create_task and
# asyncio.wait), so this program drives it with asyncio.run.
DRIVE_ASGI = """
import asyncio, json
from mysite.asgi import application

async def main():
    sent = []
    messages = [{"type": "http.request", "body": b""}]
    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # no disconnect: Django stops listening
    async def send(message):
        sent.append(message)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": "/report", "raw_path": b"/report",
        "query_string": b"", "root_path": "", "headers": [],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }
    await application(scope, receive, send)
    assert sent[0]["status"] == 200, sent
    print(b"".join(m.get("body", b"") for m in sent[1:]).decode())

asyncio.run(main())
"""


@pytest.mark.parametrize("driver", [DRIVE_WSGI, DRIVE_ASGI], ids=["wsgi", "asgi"])
def test_docs_wsgi_and_asgi_modules(django_project: Path, driver: str) -> None:
    report = json.loads(checked(python("-c", driver, cwd=django_project)))
    check_report(report, aliased=True)


class Server:
    """A server command in a subprocess; its URL comes from its first line."""

    def __init__(self, args: list[str], cwd: Path, pass_fds: tuple[int, ...] = ()):
        self.process = subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            pass_fds=pass_fds,
        )

    def banner_url(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = URL.search(line)
        assert match is not None, line + self.stop()[1]
        return match.group()

    def stop(self) -> tuple[str, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.communicate(timeout=WAIT)


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(*args: str, cwd: Path, pass_fds: tuple[int, ...] = ()) -> Server:
        server = Server(list(args), cwd, pass_fds)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:  # pragma: no cover - a test failed
            server.process.kill()
        server.process.communicate(timeout=WAIT)


@pytest.mark.parametrize(
    ("options", "aliased"),
    [
        (["--as-asgiref", "--backend=trio", "--workers=2"], True),
        (["--as-asgiref", "--backend=asyncio"], True),
        (["--backend=asyncio"], False),
    ],
    ids=["trio-workers", "asyncio", "without"],
)
def test_serve_django(
    django_project: Path,
    servers: Callable[..., Server],
    options: list[str],
    aliased: bool,
) -> None:
    server = servers(
        "-m",
        "anyio_bridge",
        "serve",
        "mysite.plain_wsgi:application",
        "--bind=127.0.0.1:0",
        "--log-level=warning",
        *options,
        cwd=django_project,
    )
    url = server.banner_url()
    response = httpx.get(url + "/report", timeout=WAIT)
    assert response.status_code == 200, response.text
    report = response.json()
    check_report(report, aliased=aliased)
    workers = "--workers=2" in options
    assert (report["pid"] != server.process.pid) is workers
    _, err = server.stop()
    assert server.process.returncode == 0
    assert "Traceback" not in err


def test_docs_asgi_application_on_hypercorn_trio(
    tmp_path: Path, servers: Callable[..., Server]
) -> None:
    """The docs' myapp/asgi.py, its first import the alias, served by hypercorn's
    trio worker (asgiref's own sync_to_async needs asyncio)."""
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "asgi.py").write_text(docs_file("myapp/asgi.py"))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        fd = listener.fileno()
        server = servers(
            "-m",
            "hypercorn",
            "--worker-class",
            "trio",
            "--bind",
            f"fd://{fd}",
            "myapp.asgi:application",
            cwd=tmp_path,
            pass_fds=(fd,),
        )
        response = httpx.get(f"http://127.0.0.1:{port}/hello", timeout=WAIT)
    assert response.status_code == 200
    assert response.text == "you asked for /hello"
    _, err = server.stop()
    assert "Traceback" not in err
