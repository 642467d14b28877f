"""The access log (``_cli.access``): one line per request, combined log format.

Over loopback on both backends with the layers ``serve`` builds; the
command's own output is checked in tests/cli/test_command_subprocess.py.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from anyio_bridge._cli import access
from anyio_bridge._cli.access import AccessLog, close_access_log, open_access_log
from anyio_bridge._cli.app import AppSpec
from anyio_bridge._cli.errors import ServeError
from anyio_bridge._cli.options import ServeOptions, StaticMount
from anyio_bridge._cli.static import StaticFiles

from .conftest import WAIT, Output, serving

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    pass

TIME = r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"


class Log(Output):
    """The access log, written to standard output (this, here)."""

    def __init__(self) -> None:
        super().__init__()
        logger = open_access_log("-", "info", self)
        assert logger is not None
        self.logger = logger


@pytest.fixture
def log() -> Iterator[Log]:
    log = Log()
    yield log
    close_access_log(log.logger)


@pytest.fixture(params=["asyncio", "trio"])
def http(
    request: pytest.FixtureRequest,
    app_dir: Path,
    log: Log,
) -> Iterator[httpx.Client]:
    (app_dir / "static").mkdir()
    (app_dir / "static" / "a.txt").write_text("12345")
    options = ServeOptions(
        AppSpec("webapp", "app"),
        backend=request.param,
        static=(StaticMount("/static", "static"),),
        proxy_headers="x-forwarded",
    )
    with (
        serving(options, access_log=log.logger) as url,
        httpx.Client(base_url=url, timeout=WAIT) as client,
    ):
        yield client


def test_one_line_per_request(http: httpx.Client, log: Log) -> None:
    http.get(
        "/hello",
        params={"q": "1 2"},
        headers={"referer": "http://example.com/", "user-agent": "tester/1.0"},
    )
    assert re.fullmatch(
        rf'127\.0\.0\.1 - - {TIME} "GET /hello\?q=1\+2 HTTP/1\.1" 200 11 '
        r'"http://example\.com/" "tester/1\.0"',
        log.next_line(),
    )
    http.post("/", headers={"user-agent": ""})
    assert log.next_line().endswith('"POST / HTTP/1.1" 200 7 "-" ""')


def test_files_and_their_errors_are_logged(http: httpx.Client, log: Log) -> None:
    http.get("/static/a.txt")
    assert '"GET /static/a.txt HTTP/1.1" 200 5 "-"' in log.next_line()
    http.get("/static/missing")
    assert '"GET /static/missing HTTP/1.1" 404 9 "-"' in log.next_line()
    http.head("/static/a.txt")
    assert '"HEAD /static/a.txt HTTP/1.1" 200 - "-"' in log.next_line()


def test_the_client_is_the_one_the_proxy_headers_give(
    http: httpx.Client, log: Log
) -> None:
    http.get("/client", headers={"x-forwarded-for": "203.0.113.9"})
    assert log.next_line().startswith("203.0.113.9 - - [")


def test_quotes_and_control_characters_are_escaped(
    http: httpx.Client, log: Log
) -> None:
    http.get("/", headers={"user-agent": 'say "hi" \\ \x7f\xe9'.encode("latin-1")})
    assert log.next_line().endswith(' "say \\"hi\\" \\\\ \\x7f\\xe9"')


def test_to_a_file(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    logger = open_access_log(str(path), "debug", Output())
    assert logger is not None
    try:
        logger.info("a line")
    finally:
        close_access_log(logger)
    assert path.read_text() == "a line\n"
    assert not logger.handlers
    # Not registered: each server has its own.
    assert logging.getLogger(access.LOGGER_NAME) is not logger


def test_a_file_that_cannot_be_written(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match=r"cannot open the access log .*: No such"):
        open_access_log(str(tmp_path / "missing" / "access.log"), "info", Output())


@pytest.mark.parametrize(("target", "level"), [("off", "info"), ("-", "warning")])
def test_no_access_log(target: str, level: str) -> None:
    assert open_access_log(target, level, Output()) is None


# --- in this process ----------------------------------------------------------


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Iterator[list[str]]:
    handler = Lines()
    logger = logging.getLogger("test_access_log")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield handler.lines
    logger.removeHandler(handler)


SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/a b",
    "query_string": b"",
    "headers": [],
    "client": None,
}


async def receive() -> dict[str, Any]:
    return {"type": "http.request"}  # pragma: no cover - never called


async def ignore(message: MutableMapping[str, Any]) -> None:
    pass


@pytest.mark.anyio
async def test_a_failed_application_logs_500(lines: list[str]) -> None:
    async def application(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    logged = AccessLog(application, logging.getLogger("test_access_log"))
    with pytest.raises(RuntimeError):
        await logged(SCOPE, receive, ignore)
    # No client (a UNIX socket) and no raw_path: the path, encoded.
    assert re.fullmatch(rf'- - - {TIME} "GET /a b HTTP/1\.1" 500 - "-" "-"', lines[0])


@pytest.mark.anyio
async def test_a_failure_after_the_response_started_keeps_its_status(
    lines: list[str],
) -> None:
    async def application(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("boom")

    logged = AccessLog(application, logging.getLogger("test_access_log"))
    with pytest.raises(RuntimeError):
        await logged(SCOPE, receive, ignore)
    assert '" 200 - "' in lines[0]


@pytest.mark.anyio
async def test_pathsend_counts_the_file(tmp_path: Path, lines: list[str]) -> None:
    (tmp_path / "f.txt").write_text("1234567")

    async def no_application(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError  # pragma: no cover

    static = StaticFiles(no_application, [StaticMount("/s", str(tmp_path))])
    logged = AccessLog(static, logging.getLogger("test_access_log"))
    scope = {
        **SCOPE,
        "path": "/s/f.txt",
        "raw_path": b"/s/f.txt",
        "extensions": {"http.response.pathsend": {}},
    }
    await logged(scope, receive, ignore)
    assert '"GET /s/f.txt HTTP/1.1" 200 7 "-" "-"' in lines[0]


@pytest.mark.anyio
async def test_other_messages_pass_through(lines: list[str]) -> None:
    sent: list[str] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.trailers", "headers": []})
        # pathsend without a length: no size known.
        await send({"type": "http.response.pathsend", "path": "/x"})

    async def record(message: MutableMapping[str, Any]) -> None:
        sent.append(message["type"])

    logged = AccessLog(application, logging.getLogger("test_access_log"))
    await logged(SCOPE, receive, record)
    assert sent == [
        "http.response.start",
        "http.response.trailers",
        "http.response.pathsend",
    ]
    assert '" 200 - "' in lines[0]


@pytest.mark.anyio
async def test_other_scopes_are_not_logged(lines: list[str]) -> None:
    seen: list[str] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    logger = logging.getLogger("test_access_log")
    await AccessLog(application, logger)({"type": "lifespan"}, receive, ignore)
    assert seen == ["lifespan"]
    assert lines == []


def test_the_time_is_formatted_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = access._Clock()
    calls: list[float] = []
    real = time.localtime

    def localtime(when: float) -> time.struct_time:
        calls.append(when)
        return real(when)

    monkeypatch.setattr(access.time, "localtime", localtime)
    first = clock(1_000_000_000.1)
    assert clock(1_000_000_000.9) == first
    assert clock(1_000_000_001.0) != first
    assert calls == [1_000_000_000, 1_000_000_001]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (b"plain", "plain"),
        (b'a"b', 'a\\"b'),
        (b"a\\b", "a\\\\b"),
        (b"tab\there", "tab\\x09here"),
        (b"\xff", "\\xff"),
    ],
)
def test_text(value: bytes, text: str) -> None:
    assert access._text(value) == text
