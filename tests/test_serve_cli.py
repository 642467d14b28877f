"""``anyio-bridge serve``: the command in subprocesses, its parts in-process."""

from __future__ import annotations

import asyncio
import importlib
import io
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anyio_bridge import _serve
from anyio_bridge.__main__ import main
from anyio_bridge._serve import (
    AppSpec,
    ServeError,
    ServeOptions,
    UsageError,
    listener_url,
    load_wsgi_app,
    open_listener,
    parse_app_spec,
    parse_bind,
)
from anyio_bridge.wsgi import WsgiToAsgi

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    from exceptiongroup import BaseExceptionGroup

REPO = Path(__file__).resolve().parent.parent
WAIT = 30  # seconds: generous bound for things that must happen
URL = re.compile(r"http://\S+")
SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: A WSGI application module for the servers under test.  /stream sends one
#: line, then blocks until /release is requested (or the test ends).
APP_SOURCE = """
import threading

release = threading.Event()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return stream()
    if path == "/release":
        release.set()
    body = f"{environ['SCRIPT_NAME']}|{path}|{environ['REQUEST_METHOD']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def stream():
    yield b"first line\\n"
    release.wait()
    yield b"last line\\n"


not_callable = 42


async def asgi_app(scope, receive, send):
    pass


class AsgiClass:
    async def __call__(self, scope, receive, send):
        pass


asgi_instance = AsgiClass()


class Api:
    def wsgi_app(self, environ, start_response):
        start_response("204 No Content", [])
        return []


api = Api()
"""


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo the changes importing applications makes to sys.path and sys.modules."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.fixture
def app_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_imports: None
) -> Path:
    """The current directory, holding the application module ``webapp``."""
    (tmp_path / "webapp.py").write_text(APP_SOURCE)
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    return tmp_path


def unique_name() -> str:
    return f"serve_test_{uuid.uuid4().hex}"


# --- MODULE:APP and HOST:PORT -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "module", "attribute", "is_file"),
    [
        ("webapp:app", "webapp", "app", False),
        ("myproject.wsgi:application", "myproject.wsgi", "application", False),
        ("pkg.mod:api.wsgi_app", "pkg.mod", "api.wsgi_app", False),
        ("examples/flask_app.py:app", "examples/flask_app.py", "app", True),
        ("C:\\site\\app.py:app", "C:\\site\\app.py", "app", True),
    ],
)
def test_parse_app_spec(text: str, module: str, attribute: str, is_file: bool) -> None:
    spec = parse_app_spec(text)
    assert spec == AppSpec(module, attribute)
    assert spec.is_file is is_file
    assert str(spec) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("webapp", "has no ':'"),
        (":app", "not of the form MODULE:APP"),
        ("webapp:", "not of the form MODULE:APP"),
        ("webapp:app()", "not an attribute name"),
        ("webapp:app.", "not an attribute name"),
        ("my-app:app", "neither a dotted module name"),
        ("examples/flask_app:app", "neither a dotted module name"),
    ],
)
def test_parse_app_spec_rejects(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_app_spec(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("localhost:0", ("localhost", 0)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
        ("[::1]:8080", ("::1", 8080)),
    ],
)
def test_parse_bind(text: str, expected: tuple[str, int]) -> None:
    assert parse_bind(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8000", "not of the form HOST:PORT"),
        (":8000", "not of the form HOST:PORT"),
        ("localhost:http", "not of the form HOST:PORT"),
        ("localhost:-1", "not of the form HOST:PORT"),
        ("::1:8000", "in brackets"),
        ("localhost:65536", "out of range"),
    ],
)
def test_parse_bind_rejects(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_bind(text)


# --- importing the application ----------------------------------------------


def test_load_from_the_current_directory(app_dir: Path) -> None:
    assert app_dir not in map(Path, sys.path)
    app = load_wsgi_app(AppSpec("webapp", "app"))
    assert app is sys.modules["webapp"].app
    assert sys.path[0] == str(app_dir)


def test_load_a_nested_attribute(app_dir: Path) -> None:
    app = load_wsgi_app(AppSpec("webapp", "api.wsgi_app"))
    assert app == sys.modules["webapp"].api.wsgi_app


def test_load_from_a_package_in_a_given_directory(
    tmp_path: Path, clean_imports: None
) -> None:
    package = unique_name()
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "wsgi.py").write_text(APP_SOURCE)
    importlib.invalidate_caches()
    app = load_wsgi_app(AppSpec(f"{package}.wsgi", "app"), str(tmp_path))
    assert app.__module__ == f"{package}.wsgi"


def test_load_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_imports: None
) -> None:
    name = unique_name()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / f"{name}.py").write_text(APP_SOURCE)
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    app = load_wsgi_app(AppSpec(f"site/{name}.py", "app"))
    assert app.__module__ == name
    assert sys.path[0] == str(tmp_path / "site")


def test_file_not_found(app_dir: Path) -> None:
    with pytest.raises(ServeError, match="no such file"):
        load_wsgi_app(AppSpec("missing.py", "app"))


def test_file_name_is_not_a_module_name(app_dir: Path) -> None:
    (app_dir / "my-app.py").write_text(APP_SOURCE)
    with pytest.raises(ServeError, match="'my-app' is not a valid module name"):
        load_wsgi_app(AppSpec("my-app.py", "app"))


def test_file_name_taken_by_another_module(app_dir: Path) -> None:
    (app_dir / "json.py").write_text(APP_SOURCE)
    with pytest.raises(ServeError, match="'json' is already taken by"):
        load_wsgi_app(AppSpec("json.py", "app"))


def test_module_not_found(app_dir: Path) -> None:
    with pytest.raises(ServeError, match="no module named 'nowhere'") as info:
        load_wsgi_app(AppSpec("nowhere.wsgi", "app"))
    assert str(app_dir) in str(info.value)
    assert not info.value.details


def test_module_needs_a_missing_module(app_dir: Path) -> None:
    (app_dir / "needy.py").write_text("import not_installed_anywhere\n")
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("needy", "app"))
    assert str(info.value) == (
        "importing 'needy' failed: No module named 'not_installed_anywhere'"
    )


def test_module_raises(app_dir: Path) -> None:
    (app_dir / "broken.py").write_text("x = 1\nraise RuntimeError('bad config')\n")
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("broken", "app"))
    assert str(info.value) == "importing 'broken' failed: RuntimeError: bad config"
    assert "Traceback" in info.value.details
    assert "broken.py" in info.value.details


@pytest.mark.parametrize("attribute", ["application", "api.missing"])
def test_attribute_missing(app_dir: Path, attribute: str) -> None:
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("webapp", attribute))
    assert str(info.value) == f"module 'webapp' has no attribute {attribute!r}"


def test_not_callable(app_dir: Path) -> None:
    with pytest.raises(ServeError) as info:
        load_wsgi_app(AppSpec("webapp", "not_callable"))
    assert str(info.value) == (
        "webapp:not_callable is not a WSGI application: a int object is not callable"
    )


@pytest.mark.parametrize("attribute", ["asgi_app", "asgi_instance"])
def test_asgi_application_is_refused(app_dir: Path, attribute: str) -> None:
    with pytest.raises(ServeError, match="ASGI application, not a WSGI one"):
        load_wsgi_app(AppSpec("webapp", attribute))


def test_hypercorn_missing(app_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hypercorn.asyncio", None)
    with pytest.raises(
        ServeError, match=re.escape("pip install 'anyio-bridge[serve]'")
    ):
        _serve.serve(ServeOptions(AppSpec("webapp", "app"), port=0))


def test_trio_missing(app_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "trio", None)
    with pytest.raises(ServeError, match=re.escape("pip install 'anyio-bridge[trio]'")):
        _serve.serve(ServeOptions(AppSpec("webapp", "app"), backend="trio", port=0))


# --- listening ----------------------------------------------------------------


def test_listener_on_a_free_port() -> None:
    with open_listener("127.0.0.1", 0) as listener:
        port = listener.getsockname()[1]
        assert port != 0
        assert listener_url(listener) == f"http://127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT):
            pass


def test_listener_on_ipv6() -> None:
    try:
        listener = open_listener("::1", 0)
    except ServeError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no IPv6 loopback: {exc}")
    with listener:
        assert listener_url(listener) == f"http://[::1]:{listener.getsockname()[1]}"


def test_listener_address_in_use() -> None:
    with open_listener("127.0.0.1", 0) as first:
        port = first.getsockname()[1]
        with pytest.raises(ServeError, match=f"cannot listen on 127.0.0.1:{port}"):
            open_listener("127.0.0.1", port)


def test_listener_host_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(ServeError, match=r"cannot listen on nowhere:80: .*not known"):
        open_listener("nowhere", 80)


def test_address_in_use_is_reported_before_serving(app_dir: Path) -> None:
    with open_listener("127.0.0.1", 0) as first:
        options = ServeOptions(AppSpec("webapp", "app"), port=first.getsockname()[1])
        with pytest.raises(ServeError, match="cannot listen on"):
            _serve.serve(options)


# --- serving in this process ------------------------------------------------


def test_asyncio_errors_other_than_cancelled_connections_are_reported() -> None:
    reported: list[dict[str, Any]] = []

    class Loop:
        def default_exception_handler(self, context: dict[str, Any]) -> None:
            reported.append(context)

    error = {"message": "boom", "exception": RuntimeError("boom")}
    cancelled = {"message": "cut", "exception": asyncio.CancelledError()}
    handler = _serve._ignore_cancelled(asyncio.CancelledError)
    for context in (error, cancelled, {"message": "Task was destroyed"}):
        handler(Loop(), context)
    assert reported == [error, {"message": "Task was destroyed"}]


class Output(io.StringIO):
    """Standard output for :func:`_serve.serve`: each line also goes to a queue."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: queue.Queue[str] = queue.Queue()
        self.partial = ""

    def write(self, text: str) -> int:
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            self.lines.put(line)
        return super().write(text)

    def next_line(self) -> str:
        return self.lines.get(timeout=WAIT)


def serve_in_this_process(
    options: ServeOptions, client: Callable[[str, Output], None]
) -> int:
    """Run serve() here; *client* gets its URL in a thread, then must signal it."""
    output = Output()
    failures: list[BaseException] = []

    def run_client() -> None:
        try:
            url = URL.search(output.next_line())
            assert url is not None
            client(url.group(), output)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
            os.kill(os.getpid(), signal.SIGINT)

    handlers = {signum: signal.getsignal(signum) for signum in SIGNALS}
    thread = threading.Thread(target=run_client)
    thread.start()
    try:
        status = _serve.serve(options, output)
    finally:
        thread.join(WAIT)
    if failures:  # pragma: no cover - only when the test fails
        raise failures[0]
    # The signal handlers are back as they were.
    assert {signum: signal.getsignal(signum) for signum in SIGNALS} == handlers
    return status


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serve_in_this_process(app_dir: Path, backend: _serve.Backend) -> None:
    responses: list[httpx.Response] = []

    def client(url: str, output: Output) -> None:
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(timeout=WAIT) as http:
            responses.append(http.post(url + "/app/hello"))
        os.kill(os.getpid(), signal.SIGINT)
        assert "SIGINT received, shutting down" in output.next_line()

    options = ServeOptions(
        AppSpec("webapp", "app"),
        backend=backend,
        port=0,
        threads=2,
        root_path="/app",
        log_level="warning",
    )
    assert serve_in_this_process(options, client) == 0
    assert [response.text for response in responses] == ["/app|/hello|POST"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_requests_in_progress_finish_on_shutdown(
    app_dir: Path, backend: _serve.Backend, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[str] = []

    def client(url: str, output: Output) -> None:
        with (
            httpx.Client(timeout=WAIT) as http,
            http.stream("GET", url + "/stream") as response,
        ):
            lines = response.iter_lines()
            assert next(lines) == "first line"
            os.kill(os.getpid(), signal.SIGINT)
            assert output.next_line().endswith(": SIGINT received, shutting down")
            sys.modules["webapp"].release.set()
            received.extend(lines)

    options = ServeOptions(AppSpec("webapp", "app"), backend=backend, port=0)
    assert serve_in_this_process(options, client) == 0
    assert received == ["last line"]
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def stuck_request_client(
    stop: Callable[[Output], None],
) -> Callable[[str, Output], None]:
    """A client whose request is stuck in the application while *stop* runs;
    the server must cut it."""

    def client(url: str, output: Output) -> None:
        try:
            with (
                httpx.Client(timeout=WAIT) as http,
                http.stream("GET", url + "/stream") as response,
            ):
                lines = response.iter_lines()
                assert next(lines) == "first line"
                os.kill(os.getpid(), signal.SIGINT)
                assert output.next_line().endswith(": SIGINT received, shutting down")
                stop(output)
                # httpx or httpcore's RemoteProtocolError, depending on where
                # the stream was when the connection went.
                with pytest.raises(Exception, match="peer closed connection"):
                    list(lines)
        finally:
            sys.modules["webapp"].release.set()

    return client


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_second_signal_stops_at_once(app_dir: Path, backend: _serve.Backend) -> None:
    def second_signal(output: Output) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        assert output.next_line().endswith(
            ": SIGTERM received, already shutting down: stopping now"
        )

    options = ServeOptions(AppSpec("webapp", "app"), backend=backend, port=0)
    assert serve_in_this_process(options, stuck_request_client(second_signal)) == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_stuck_requests_are_stopped_after_the_grace_period(
    app_dir: Path, backend: _serve.Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force the stop as soon as the shutdown begins, whatever hypercorn does.
    monkeypatch.setattr(_serve, "SHUTDOWN_MARGIN", -1000.0)

    def wait_for_forced_stop(output: Output) -> None:
        assert output.next_line().endswith(
            ": requests still running after the grace period, stopping them"
        )

    options = ServeOptions(AppSpec("webapp", "app"), backend=backend, port=0)
    assert (
        serve_in_this_process(options, stuck_request_client(wait_for_forced_stop)) == 0
    )


def test_workers_hand_the_socket_and_the_app_to_hypercorn(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hypercorn.run
    from hypercorn.config import Config
    from hypercorn.utils import load_application

    seen: list[Any] = []

    def run(config: Config) -> int:
        # What hypercorn.run does in the parent and in each worker.
        sockets = config.create_sockets()
        try:
            seen.append(config)
            seen.append(sockets.insecure_sockets[0].getsockname())
            seen.append(load_application(config.application_path, 1000))
        finally:
            for sock in sockets.insecure_sockets:
                sock.close()
        return 0

    limiters: list[object] = []

    def wsgi_to_asgi(app: Any, *, limiter: int | None) -> WsgiToAsgi:
        limiters.append(limiter)
        return WsgiToAsgi(app, limiter=limiter)

    monkeypatch.setattr(hypercorn.run, "run", run)
    monkeypatch.setattr(_serve, "WsgiToAsgi", wsgi_to_asgi)
    options = ServeOptions(
        AppSpec("webapp", "app"), backend="trio", port=0, workers=3, threads=7
    )
    assert _serve.serve(options) == 0
    config, address, wrapper = seen
    assert config.workers == 3
    assert config.worker_class == "trio"
    out = capsys.readouterr().out
    assert f"on trio (3 workers) at http://127.0.0.1:{address[1]} " in out
    application = wrapper.app
    assert isinstance(application, WsgiToAsgi)
    assert application.wsgi_application is sys.modules["webapp"].app
    assert limiters == [7, 7]  # in this process, then in the "worker"


# --- the command line, in this process ---------------------------------------


def test_command_line_options_reach_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[ServeOptions] = []

    def serve(options: ServeOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(_serve, "serve", serve)
    monkeypatch.delenv("ANYIO_BRIDGE_BIND", raising=False)
    assert main(["serve", "webapp:app"]) == 0
    monkeypatch.setenv("ANYIO_BRIDGE_BIND", "127.0.0.2:0")
    argv = [
        "serve",
        "site/app.py:api.wsgi",
        "--backend=trio",
        "--bind=[::1]:0",
        "--workers=2",
        "--threads=5",
        "--root-path=/api",
        "--log-level=debug",
    ]
    assert main(argv) == 0
    assert seen == [
        ServeOptions(AppSpec("webapp", "app")),
        ServeOptions(
            AppSpec("site/app.py", "api.wsgi"),
            backend="trio",
            host="::1",
            port=0,
            workers=2,
            threads=5,
            root_path="/api",
            log_level="debug",
        ),
    ]


def test_default_bind_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ServeOptions] = []

    def serve(options: ServeOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(_serve, "serve", serve)
    monkeypatch.setenv("ANYIO_BRIDGE_BIND", "[::1]:0")
    assert main(["serve", "webapp:app"]) == 0
    assert (seen[0].host, seen[0].port) == ("::1", 0)


def test_bad_default_bind_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANYIO_BRIDGE_BIND", "nonsense")
    with pytest.raises(SystemExit) as info:
        main(["serve", "webapp:app"])
    assert info.value.code == 2
    assert "argument --bind: 'nonsense' is not of the form" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["webapp"], "argument MODULE:APP: 'webapp' has no ':'"),
        (["webapp:app", "--bind=8000"], "argument --bind: '8000' is not of the form"),
        (["webapp:app", "--workers=0"], "argument --workers: expected a whole number"),
        (["webapp:app", "--threads=x"], "argument --threads: expected a whole number"),
        (["webapp:app", "--root-path=api"], "'api' does not start with '/'"),
        (["webapp:app", "--backend=curio"], "argument --backend: invalid choice"),
    ],
)
def test_command_line_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: anyio-bridge serve")
    assert message in err


def test_command_line_import_error(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app_dir / "broken.py").write_text("raise RuntimeError('bad config')\n")
    assert main(["serve", "broken:app"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.endswith(
        "anyio-bridge serve: error: importing 'broken' failed: "
        "RuntimeError: bad config\n"
    )


def test_command_line_module_not_found(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "nowhere:app"]) == 1
    assert capsys.readouterr().err == (
        "anyio-bridge serve: error: cannot import 'nowhere': no module named "
        f"'nowhere' (looked in {app_dir} and on sys.path)\n"
    )


def test_command_line_interrupted_while_starting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def serve(options: ServeOptions) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(_serve, "serve", serve)
    assert main(["serve", "webapp:app"]) == _serve.INTERRUPTED
    assert capsys.readouterr().err == "anyio-bridge serve: interrupted\n"


# --- the command line, in a subprocess ---------------------------------------


class Server:
    """``python -m anyio_bridge serve ...`` running in a subprocess."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        assert process.stdout is not None
        self.banner = process.stdout.readline()
        match = URL.search(self.banner)
        assert match is not None, self.banner + self.stop()[1]
        self.url = match.group()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, signum: int | None = None) -> tuple[str, str]:
        """Send *signum* (if any); return the rest of stdout, and stderr."""
        if signum is not None:
            self.signal(signum)
        out, err = self.process.communicate(timeout=WAIT)
        return out, err


@pytest.fixture
def run_server(app_dir: Path) -> Iterator[Callable[..., Server]]:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, cwd: Path = app_dir) -> Server:
        process = subprocess.Popen(
            [sys.executable, "-m", "anyio_bridge", "serve", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return Server(process)

    yield start
    for process in processes:
        if process.poll() is None:  # pragma: no cover - only when a test fails
            process.kill()
        process.communicate(timeout=WAIT)


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
    assert f"{signum.name} received, shutting down" in out
    assert "Traceback" not in err
    assert "Running on http://127.0.0.1:" in err  # hypercorn's own log


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
    for option in ("--backend", "--bind", "--workers", "--threads", "--root-path"):
        assert option in result.stdout
    assert "MODULE:APP" in result.stdout


def test_server_errors_are_not_swallowed(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hypercorn.asyncio

    async def broken_serve(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the server broke")

    monkeypatch.setattr(hypercorn.asyncio, "serve", broken_serve)
    options = ServeOptions(AppSpec("webapp", "app"), backend="asyncio", port=0)
    with pytest.raises(BaseExceptionGroup) as caught:
        _serve.serve(options, io.StringIO())
    assert caught.group_contains(RuntimeError, match="the server broke")
