"""``--reload`` (``_cli.reload``, ``_cli.watch``): editing a module of the
application restarts the server, whose next response shows the change.

The command runs in a subprocess on both backends; the supervising side also
runs in this process (its servers are subprocesses all the same), and the
serving side too (:func:`child_main`), so that coverage sees them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import psutil
import pytest

from anyio_bridge._cli import reload as cli_reload
from anyio_bridge._cli.app import AppSpec
from anyio_bridge._cli.errors import INTERRUPTED
from anyio_bridge._cli.listen import listener_url, open_listener
from anyio_bridge._cli.options import Backend, ServeOptions
from anyio_bridge._cli.reload import CHILD_VARIABLE, RELOAD_SIGNAL, child_main
from anyio_bridge._cli.serve import Supervised, serve_on
from anyio_bridge._cli.watch import Watcher, app_directory, project_files

from .conftest import WAIT, Output, Server, serve_in_this_process

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    pass

APPLICATION = """
from greeting import GREETING


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [GREETING.encode()]
"""


@pytest.fixture
def project(app_dir: Path) -> Path:
    """The application ``reloadable:app``, whose module ``greeting`` says hello."""
    (app_dir / "reloadable.py").write_text(APPLICATION)
    (app_dir / "greeting.py").write_text('GREETING = "hello"\n')
    return app_dir


def get(url: str) -> str:
    """A fresh connection each time: the last one may have been to the last server."""
    return httpx.get(url, timeout=WAIT).text


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_editing_a_module_reloads_the_server(
    project: Path, run_server: Callable[..., Server], backend: Backend
) -> None:
    server = run_server(
        "reloadable:app", "--reload", f"--backend={backend}", "--bind=127.0.0.1:0"
    )
    assert f" on {backend} with reload at http://127.0.0.1:" in server.banner
    assert get(server.url) == "hello"
    (project / "greeting.py").write_text('GREETING = "hello again"\n')
    line = server.line_with("changed, reloading")
    assert line == "anyio-bridge: greeting.py changed, reloading"
    # The old server may take a last request while it stops.
    deadline = time.monotonic() + WAIT
    while (text := get(server.url)) != "hello again":
        assert text == "hello"
        assert time.monotonic() < deadline, "the change did not show"
        time.sleep(0.05)
    out, err = server.stop(signal.SIGINT)
    assert server.process.returncode == 0
    lines = out.splitlines()
    assert "anyio-bridge: SIGINT received, shutting down" in lines
    # A reload stops the old server without a word from it: it was said above.
    assert not [line for line in lines if "SIGHUP" in line]
    assert "Traceback" not in err


# --- supervising in this process ------------------------------------------------


def reload_options(backend: Backend = "asyncio", **options: Any) -> ServeOptions:
    return ServeOptions(
        AppSpec("reloadable", "app"),
        backend=backend,
        port=0,
        reload=True,
        access_log="off",
        **options,
    )


def test_a_broken_edit_waits_for_the_fix(project: Path) -> None:
    seen: list[str] = []

    def client(url: str, output: Output) -> None:
        seen.append(get(url))
        (project / "greeting.py").write_text("GREETING = \n")  # a syntax error
        assert output.next_line() == "anyio-bridge: greeting.py changed, reloading"
        assert output.next_line() == (
            "anyio-bridge: the application failed to load; waiting for a change"
        )
        (project / "greeting.py").write_text('GREETING = "fixed"\n')
        assert output.next_line() == "anyio-bridge: greeting.py changed, reloading"
        seen.append(get(url))
        os.kill(os.getpid(), signal.SIGINT)

    assert serve_in_this_process(reload_options("trio"), client) == 0
    assert seen == ["hello", "fixed"]


def test_stopping_while_waiting_for_a_fix(project: Path) -> None:
    def client(url: str, output: Output) -> None:
        (project / "reloadable.py").write_text("raise RuntimeError('broken')\n")
        assert output.next_line().endswith("reloadable.py changed, reloading")
        assert output.next_line().endswith("failed to load; waiting for a change")
        os.kill(os.getpid(), signal.SIGTERM)

    # The status of the last server, which failed.
    assert serve_in_this_process(reload_options(), client) == 1


def test_a_server_that_ends_by_itself_ends_the_command(project: Path) -> None:
    def client(url: str, output: Output) -> None:
        [child] = psutil.Process().children()
        child.kill()

    assert serve_in_this_process(reload_options(), client) == -signal.SIGKILL


def test_a_first_failure_ends_the_command(
    app_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    output = Output()
    assert cli_reload.supervise(reload_options(), output) == 1
    assert output.getvalue() == ""  # no startup line
    assert "cannot import 'reloadable': no module named" in capfd.readouterr().err


def test_a_signal_before_the_server_could_be_told(project: Path) -> None:
    with open_listener("127.0.0.1", 0) as listener:
        supervisor = cli_reload._Supervisor(reload_options(), listener, Output())
        supervisor.stopping = True
        child, files = supervisor._start()
        assert files is None
        assert child.wait() == -signal.SIGTERM


# --- the serving side, in this process --------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_child_main(
    project: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Serves on the socket it is given, and reports the files it loaded."""
    read_end, write_end = os.pipe()
    listener = open_listener("127.0.0.1", 0)
    url = listener_url(listener)
    settings = {
        "options": reload_options(backend).to_json(),
        "listener": listener.detach(),
        "report": write_end,
        "parent": os.getppid(),
    }
    monkeypatch.setenv(CHILD_VARIABLE, json.dumps(settings))
    seen: list[Any] = []

    def client() -> None:
        with open(read_end) as report:
            seen.append(json.load(report))
        seen.append(get(url))
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        assert child_main() == 0
    finally:
        thread.join(WAIT)
    files, text = seen
    assert str(project / "reloadable.py") in files
    assert str(project / "greeting.py") in files
    assert text == "hello"
    assert CHILD_VARIABLE not in os.environ


def child_settings(monkeypatch: pytest.MonkeyPatch, options: ServeOptions) -> int:
    """Settings for child_main with a socket and a pipe; the pipe's read end."""
    read_end, write_end = os.pipe()
    settings = {
        "options": options.to_json(),
        "listener": socket.socket().detach(),
        "report": write_end,
        "parent": os.getppid(),
    }
    monkeypatch.setenv(CHILD_VARIABLE, json.dumps(settings))
    return read_end


def test_child_main_cannot_load(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    read_end = child_settings(monkeypatch, reload_options())
    assert child_main() == 1
    with open(read_end) as report:
        assert report.read() == ""
    assert "cannot import 'reloadable'" in capsys.readouterr().err


def test_child_main_interrupted(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    read_end = child_settings(monkeypatch, reload_options())
    monkeypatch.setattr(cli_reload, "serve_on", interrupted)
    assert child_main() == INTERRUPTED
    os.close(read_end)
    assert capsys.readouterr().err == "anyio-bridge serve: interrupted\n"


@pytest.mark.anyio
async def test_a_server_whose_supervisor_is_gone_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parents = iter([41, 41, 1])
    monkeypatch.setattr(cli_reload.os, "getppid", lambda: next(parents))
    monkeypatch.setattr(cli_reload, "POLL_INTERVAL", 0)
    with anyio.fail_after(WAIT):
        reason = await cli_reload._supervisor_gone(41)
    assert reason == "the reloading process is gone"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("how", ["supervisor gone", "reload"])
def test_a_supervised_server_stops(project: Path, backend: Backend, how: str) -> None:
    """When its supervisor is gone (saying so), or for a reload (quietly)."""
    gone = threading.Event()

    async def supervisor_gone() -> str:
        if how == "reload":
            await anyio.sleep_forever()
        await anyio.to_thread.run_sync(gone.wait)
        return "the reloading process is gone"

    output = Output()
    with open_listener("127.0.0.1", 0) as listener:
        url = listener_url(listener)

        def client() -> None:
            assert get(url) == "hello"
            if how == "reload":
                os.kill(os.getpid(), RELOAD_SIGNAL)
            gone.set()

        thread = threading.Thread(target=client)
        thread.start()
        try:
            options = reload_options(backend)
            supervised = Supervised(supervisor_gone, RELOAD_SIGNAL)
            assert serve_on(options, listener, output, supervised=supervised) == 0
        finally:
            thread.join(WAIT)
    said = "anyio-bridge: the reloading process is gone, shutting down\n"
    assert output.getvalue() == ("" if how == "reload" else said)


# --- what is watched --------------------------------------------------------------


def test_project_files_leave_out_python_and_the_packages(tmp_path: Path) -> None:
    def module(name: str, file: object) -> ModuleType:
        made = ModuleType(name)
        made.__file__ = file  # type: ignore[assignment]
        return made

    mine = tmp_path / "mine.py"
    modules = [
        module("mine", str(mine)),
        module("again", str(mine)),
        module("compiled", str(tmp_path / "ext.so")),
        module("nothing", None),
        os,  # the standard library
        httpx,  # an installed package
        sys,  # built in
    ]
    assert project_files(modules) == [str(mine)]


def test_the_watcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "package"
    package.mkdir()
    (package / "a.py").write_text("a = 1\n")
    (tmp_path / "top.py").write_text("top = 1\n")
    (tmp_path / "data.txt").write_text("data\n")
    watcher = Watcher()
    watcher.watch([str(package / "a.py")], [str(tmp_path)])
    assert watcher.changed() is None
    (package / "a.py").write_text("a = 22\n")
    assert watcher.changed() == str(package / "a.py")
    assert watcher.changed() is None
    (tmp_path / "data.txt").write_text("not Python\n")
    assert watcher.changed() is None
    (package / "b.py").write_text("b = 1\n")  # a new module beside
    assert watcher.changed() == str(package / "b.py")
    (tmp_path / "top.py").unlink()
    assert watcher.changed() == str(tmp_path / "top.py")
    (package / "a.py").unlink()
    (package / "b.py").unlink()
    package.rmdir()
    assert watcher.changed() == str(package / "a.py")
    assert watcher.changed() is None
    # Watching again keeps what was seen.
    watcher.watch([str(package / "a.py")])
    assert watcher.changed() is None
    monkeypatch.chdir(tmp_path)
    assert Watcher.display(str(tmp_path / "x.py")) == "x.py"
    assert Watcher.display("/elsewhere/x.py") == "/elsewhere/x.py"


def test_app_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert app_directory("myproject.wsgi") == str(tmp_path)
    assert app_directory("src/app.py") == str(tmp_path / "src")
