"""HOST:PORT parsed, the listening socket and its URL (``_cli.listen``)."""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path

import pytest

from anyio_bridge._cli import listen
from anyio_bridge._cli import serve as cli_serve
from anyio_bridge._cli.app import AppSpec
from anyio_bridge._cli.errors import ServeError, UsageError
from anyio_bridge._cli.listen import listener_url, open_listener, parse_bind
from anyio_bridge._cli.options import ServeOptions

from .conftest import WAIT

# The command line has no Python API but main(): its parts are tested
# through their private modules where a behaviour cannot be reached
# through main() or a subprocess quickly.

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    pass


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
        with pytest.raises(ServeError) as info:
            open_listener("127.0.0.1", port)
    assert str(info.value) == (
        f"cannot listen on 127.0.0.1:{port}: [Errno {errno.EADDRINUSE}] Address "
        "already in use; another server is listening there: stop it, or choose "
        "another port with --bind 127.0.0.1:PORT (port 0 picks a free one)"
    )


def test_listener_on_an_address_of_another_machine() -> None:
    # 192.0.2.0/24 is for documentation: no machine has it.  Bound, not sent to.
    with pytest.raises(ServeError, match=r"192\.0\.2\.1 is not an address of this"):
        open_listener("192.0.2.1", 0)


def test_advice_for_a_privileged_port() -> None:
    error = OSError(errno.EACCES, "Permission denied")
    assert listen._advice(error, "0.0.0.0") == (
        "; ports below 1024 need privileges: choose a port above 1023"
    )
    assert listen._advice(OSError(errno.EIO, "I/O error"), "0.0.0.0") == ""


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
            cli_serve.serve(options)
