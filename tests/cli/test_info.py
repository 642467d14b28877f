"""The anyio-bridge console script."""

from __future__ import annotations

import subprocess
import sys

import pytest

from anyio_bridge import __version__
from anyio_bridge.__main__ import main
from anyio_bridge._cli.command import available_backends


def test_info_lists_version_and_backends(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.count(f"anyio-bridge {__version__}") == 2
    assert "backend asyncio: available" in out
    assert "backend trio: available" in out


def test_missing_backend_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        "anyio_bridge._cli.command.available_backends",
        lambda: {"asyncio": True, "trio": False},
    )
    main([])
    assert "pip install 'anyio-bridge[trio]'" in capsys.readouterr().out


def test_available_backends() -> None:
    assert available_backends() == {"asyncio": True, "trio": True}


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_an_error() -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_runs_as_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anyio_bridge", "info"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.startswith(f"anyio-bridge {__version__}")


def test_console_script_entry_point() -> None:
    """pyproject.toml's anyio-bridge script, anyio_bridge.__main__:main, is the
    command line."""
    import anyio_bridge._cli

    assert main is anyio_bridge._cli.main
