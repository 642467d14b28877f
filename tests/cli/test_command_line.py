"""``anyio-bridge serve``'s command line, in this process (``_cli.command``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from anyio_bridge import __version__
from anyio_bridge._cli import command as cli_command
from anyio_bridge._cli import main
from anyio_bridge._cli.app import AppSpec
from anyio_bridge._cli.arguments import parse_seconds
from anyio_bridge._cli.options import ServeOptions, StaticMount

# The command line has no Python API but main(): its parts are tested
# through their private modules where a behaviour cannot be reached
# through main() or a subprocess quickly.

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    pass


# --- the command line, in this process ---------------------------------------


def test_command_line_options_reach_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[ServeOptions] = []

    def serve(options: ServeOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(cli_command, "serve", serve)
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
        "--access-log=access.log",
        "--static=/static/=./static",
        "--static",
        "/media=media/",
        "--certfile=cert.pem",
        "--keyfile=key.pem",
        "--proxy-headers",
        "--forwarded-allow-ips=10.0.0.0/8, 192.168.1.1",
        "--proxy-hops=2",
        "--graceful-timeout=0.5",
        "--keep-alive=75",
    ]
    assert main(argv) == 0
    argv = ["serve", "webapp:app", "--reload", "--proxy-headers=forwarded"]
    assert main([*argv, "--forwarded-allow-ips=*"]) == 0
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
            access_log="access.log",
            static=(
                StaticMount("/static", "./static"),
                StaticMount("/media", "media/"),
            ),
            certfile="cert.pem",
            keyfile="key.pem",
            proxy_headers="x-forwarded",
            forwarded_allow_ips=("10.0.0.0/8", "192.168.1.1"),
            proxy_hops=2,
            graceful_timeout=0.5,
            keep_alive=75.0,
        ),
        ServeOptions(
            AppSpec("webapp", "app"),
            host="127.0.0.2",
            port=0,
            reload=True,
            proxy_headers="forwarded",
            forwarded_allow_ips=("*",),
        ),
    ]
    assert seen[1].tls
    assert not seen[0].tls


def test_default_bind_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ServeOptions] = []

    def serve(options: ServeOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(cli_command, "serve", serve)
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
        (["webapp:app", "--static=static"], "not of the form URL_PREFIX=DIRECTORY"),
        (["webapp:app", "--static=/s="], "not of the form URL_PREFIX=DIRECTORY"),
        (["webapp:app", "--static=static=dir"], "must start with '/'"),
        (["webapp:app", "--static=/=dir"], "must start with '/'"),
        (["webapp:app", "--static=/a//b=dir"], "must start with '/'"),
        (["webapp:app", "--static=/a/../b=dir"], "cannot hold '.' or '..'"),
        (["webapp:app", "--graceful-timeout=-1"], "expected a number of seconds"),
        (["webapp:app", "--keep-alive=soon"], "expected a number of seconds"),
        (["webapp:app", "--forwarded-allow-ips=,"], "expected addresses or networks"),
        (["webapp:app", "--forwarded-allow-ips=proxy"], "'proxy' is neither"),
        (["webapp:app", "--proxy-headers=via"], "argument --proxy-headers: invalid"),
        (["webapp:app", "--proxy-hops=0"], "argument --proxy-hops: expected"),
        (["webapp:app", "--certfile=c.pem"], "--certfile and --keyfile go together"),
        (["webapp:app", "--keyfile=k.pem"], "--certfile and --keyfile go together"),
        (["webapp:app", "--reload", "--workers=2"], "--reload serves with one worker"),
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
        f"'nowhere' (looked in {app_dir} and on sys.path); run the command from "
        "the directory that holds it, or give the path of its .py file (such as "
        "src/app.py:app)\n"
    )


def test_command_line_interrupted_while_starting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def serve(options: ServeOptions) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_command, "serve", serve)
    assert main(["serve", "webapp:app"]) == cli_command.INTERRUPTED
    assert capsys.readouterr().err == "anyio-bridge serve: interrupted\n"


def test_serve_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"anyio-bridge {__version__}\n"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("2", 2.0), ("0.5", 0.5), (".5", 0.5), ("3.", 3.0)],
)
def test_parse_seconds(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


def test_options_travel_as_json() -> None:
    options = ServeOptions(
        AppSpec("site/app.py", "api.wsgi"),
        backend="trio",
        static=(StaticMount("/static", "static"),),
        proxy_headers="forwarded",
        forwarded_allow_ips=("*",),
        certfile="c.pem",
        keyfile="k.pem",
        graceful_timeout=0.5,
    )
    assert ServeOptions.from_json(options.to_json()) == options
