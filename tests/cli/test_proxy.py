"""``--proxy-headers`` (``_cli.proxy``): REMOTE_ADDR and wsgi.url_scheme from a
trusted proxy's headers, over loopback on both backends."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from anyio_bridge._cli.app import AppSpec
from anyio_bridge._cli.options import ProxyMode, ServeOptions
from anyio_bridge._cli.proxy import ProxyHeaders, parse_forwarded

from .conftest import WAIT, serving

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    pass

Client = Callable[..., AbstractContextManager[httpx.Client]]


@pytest.fixture(params=["asyncio", "trio"])
def client(request: pytest.FixtureRequest, app_dir: Path) -> Client:
    """Opens a client of the application served with the options given."""

    @contextmanager
    def open_client(**options: Any) -> Iterator[httpx.Client]:
        served = ServeOptions(
            AppSpec("webapp", "app"), backend=request.param, **options
        )
        with (
            serving(served) as url,
            httpx.Client(base_url=url, timeout=WAIT) as http,
        ):
            yield http

    return open_client


def seen(http: httpx.Client, *headers: tuple[str, str]) -> str:
    """REMOTE_ADDR|wsgi.url_scheme as the application sees them."""
    text = http.get("/client", headers=list(headers)).text
    return text.rpartition("|")[0]


def test_without_proxy_headers_the_headers_do_nothing(client: Client) -> None:
    with client() as http:
        assert seen(http, ("x-forwarded-for", "203.0.113.9")) == "127.0.0.1|http"


def test_x_forwarded_from_a_trusted_proxy(client: Client) -> None:
    with client(proxy_headers="x-forwarded") as http:
        assert seen(http) == "127.0.0.1|http"
        assert seen(
            http,
            ("x-forwarded-for", "198.51.100.1, 203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ) == ("203.0.113.9|https")
        # Headers repeated count as one list.
        assert seen(
            http,
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ) == ("203.0.113.9|http")
        # A scheme other than http or https is ignored.
        assert seen(http, ("x-forwarded-proto", "gopher")) == "127.0.0.1|http"
        # RFC 7239's header is not the one trusted here.
        assert seen(http, ("forwarded", "for=203.0.113.9")) == "127.0.0.1|http"


def test_headers_from_untrusted_peers_are_ignored(client: Client) -> None:
    with client(proxy_headers="x-forwarded", forwarded_allow_ips=("10.0.0.0/8",)) as h:
        assert seen(
            h, ("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "https")
        ) == ("127.0.0.1|http")


def test_every_peer_trusted(client: Client) -> None:
    with client(proxy_headers="x-forwarded", forwarded_allow_ips=("*",)) as http:
        assert seen(http, ("x-forwarded-for", "203.0.113.9")) == "203.0.113.9|http"


def test_hops(client: Client) -> None:
    """Behind two proxies the client is the second entry from the end; an
    entry further left is the client's own, not to be trusted."""
    with client(proxy_headers="x-forwarded", proxy_hops=2) as http:
        assert seen(
            http,
            ("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.2"),
            ("x-forwarded-proto", "http, https, http"),
        ) == ("203.0.113.9|https")
        # Fewer entries than hops: ignored.
        assert seen(http, ("x-forwarded-for", "10.0.0.2")) == "127.0.0.1|http"


def test_forwarded(client: Client) -> None:
    with client(proxy_headers="forwarded") as http:
        assert seen(
            http, ("forwarded", "for=198.51.100.1, for=203.0.113.9;proto=https")
        ) == ("203.0.113.9|https")
        assert seen(
            http, ("forwarded", 'For="[2001:db8:cafe::17]:4711";Proto=HTTPS;by=x')
        ) == ("2001:db8:cafe::17|https")
        assert seen(http, ("forwarded", "proto=https")) == "127.0.0.1|https"
        # X-Forwarded-* is not the one trusted here.
        assert seen(http, ("x-forwarded-for", "203.0.113.9")) == "127.0.0.1|http"


@pytest.mark.parametrize(
    ("element", "parameters"),
    [
        ("for=192.0.2.60;proto=http;by=203.0.113.43", None),
        ('for="_gazonk"', {"for": "_gazonk"}),
        ('for="a;b,c";proto=https', {"for": "a;b,c", "proto": "https"}),
        ('for="quoted \\" mark"', {"for": 'quoted " mark'}),
        ('for="back\\\\slash"', {"for": "back\\slash"}),
        ("FOR=x; junk; proto = https", {"for": "x", "proto": "https"}),
        ('for="', {"for": '"'}),
    ],
)
def test_parse_forwarded(element: str, parameters: dict[str, str] | None) -> None:
    expected = parameters or {
        "for": "192.0.2.60",
        "proto": "http",
        "by": "203.0.113.43",
    }
    assert parse_forwarded(element) == expected


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mode", "header", "client"),
    [
        ("forwarded", b'for="[2001:db8::1]:80"', ("2001:db8::1", 80)),
        ("forwarded", b'for="[2001:db8::1]"', ("2001:db8::1", 0)),
        ("forwarded", b"for=192.0.2.1:8080", ("192.0.2.1", 8080)),
        ("forwarded", b"for=192.0.2.1:http", ("192.0.2.1", 0)),
        ("forwarded", b"for=unknown", ("unknown", 0)),
        ("forwarded", b'for=", ,"', (", ,", 0)),
        ("x-forwarded", b"x", ("x", 0)),
    ],
)
async def test_forwarded_clients(
    mode: ProxyMode, header: bytes, client: tuple[str, int]
) -> None:
    scopes: list[Any] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)

    name = b"forwarded" if mode == "forwarded" else b"x-forwarded-for"
    layer = ProxyHeaders(application, mode, ["127.0.0.1"], 1)
    original = {
        "type": "http",
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
        "headers": [(name, header)],
    }
    await layer(original, None, None)  # type: ignore[arg-type]
    assert scopes[0]["client"] == client
    assert original["client"] == ("127.0.0.1", 5000)  # a copy was changed


@pytest.mark.anyio
async def test_websocket_schemes() -> None:
    scopes: list[Any] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)

    layer = ProxyHeaders(application, "x-forwarded", ["127.0.0.1"], 1)
    for proto in (b"https", b"wss", b"http"):
        scope = {
            "type": "websocket",
            "client": ("127.0.0.1", 1),
            "scheme": "ws",
            "headers": [(b"x-forwarded-proto", proto)],
        }
        await layer(scope, None, None)  # type: ignore[arg-type]
    await layer({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert [scope.get("scheme") for scope in scopes] == ["wss", "wss", "ws", None]


def test_who_is_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = ProxyHeaders(None, "x-forwarded", ["10.0.0.0/8", "::1"], 1)  # type: ignore[arg-type]
    assert layer.trusts(("10.1.2.3", 1))
    assert layer.trusts(("10.1.2.3", 2))  # remembered
    assert layer.trusts(("::1", 1))
    assert not layer.trusts(("192.0.2.1", 1))
    assert not layer.trusts(("not an address", 1))
    assert not layer.trusts(None)  # a UNIX socket
    # The memory is bounded.
    monkeypatch.setattr("anyio_bridge._cli.proxy._CACHE_SIZE", 2)
    layer.trusts(("10.9.9.9", 1))
    assert len(layer._trusted) == 1
    everyone = ProxyHeaders(None, "x-forwarded", ["*"], 1)  # type: ignore[arg-type]
    assert everyone.trusts(None)
