"""``--static``: files served in front of the application (``_cli.static``,
``_cli.conditional``), over loopback on both backends."""

from __future__ import annotations

import email.utils
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from anyio_bridge._cli.app import AppSpec
from anyio_bridge._cli.errors import ServeError
from anyio_bridge._cli.options import ServeOptions, StaticMount
from anyio_bridge._cli.static import CHUNK_SIZE, StaticFiles, send_file, url_segments

from .conftest import WAIT, Server, serving

if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
    pass

CSS = b"body { color: #333; }\n"
BIG = bytes(range(256)) * (3 * CHUNK_SIZE // 256 + 7)  # several chunks, and a part


@pytest.fixture
def files(app_dir: Path) -> Path:
    """The static directory, beside a secret file and the application."""
    root = app_dir / "files"
    (root / "sub").mkdir(parents=True)
    (root / "site.css").write_bytes(CSS)
    (root / "app.js").write_text("console.log('hi');\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "notes.txt").write_text("notes\n")
    (root / "data.unknownext").write_bytes(b"\x00\x01")
    (root / "archive.tar.gz").write_bytes(b"\x1f\x8b")
    (root / "archive.tar.xz").write_bytes(b"\xfd7zXZ")
    (root / "big.bin").write_bytes(BIG)
    (root / "empty.txt").write_bytes(b"")
    (root / "café.txt").write_text("café\n")
    (root / ".hidden").write_text("hidden\n")
    (root / "sub" / "page.html").write_text("<p>page</p>\n")
    (app_dir / "secret.txt").write_text("secret\n")
    (root / "out.txt").symlink_to(app_dir / "secret.txt")
    (root / "outdir").symlink_to(app_dir)
    (root / "link.css").symlink_to(root / "site.css")
    (app_dir / "other").mkdir()
    (app_dir / "other" / "site.css").write_text("other\n")
    return root


@pytest.fixture(params=["asyncio", "trio"])
def http(request: pytest.FixtureRequest, files: Path) -> Iterator[httpx.Client]:
    """A client of the application with /static and /static/other mounted."""
    options = ServeOptions(
        AppSpec("webapp", "app"),
        backend=request.param,
        static=(
            StaticMount("/static", str(files)),
            StaticMount("/static/other", "other"),
        ),
    )
    with serving(options) as url, httpx.Client(base_url=url, timeout=WAIT) as client:
        yield client


def raw_get(http: httpx.Client, target: bytes, **kwargs: Any) -> httpx.Response:
    """GET *target* as it is: httpx would normalise dot segments."""
    return http.get("/", extensions={"target": target}, **kwargs)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("site.css", "text/css; charset=utf-8"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("logo.png", "image/png"),
        ("sub/page.html", "text/html; charset=utf-8"),
        ("data.unknownext", "application/octet-stream"),
        ("archive.tar.gz", "application/gzip"),
        ("archive.tar.xz", "application/octet-stream"),
        ("link.css", "text/css; charset=utf-8"),  # a symlink inside
        ("caf%C3%A9.txt", "text/plain; charset=utf-8"),
    ],
)
def test_files_are_served_with_their_type(
    http: httpx.Client, files: Path, name: str, content_type: str
) -> None:
    response = http.get("/static/" + name)
    assert response.status_code == 200
    path = files / name.replace("caf%C3%A9", "café")
    assert response.content == path.read_bytes()
    assert response.headers["content-type"] == content_type
    assert response.headers["content-length"] == str(path.stat().st_size)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["cache-control"] == "no-cache"
    status = path.stat()
    assert response.headers["etag"] == f'"{status.st_mtime_ns:x}-{status.st_size:x}"'
    assert response.headers["last-modified"] == email.utils.formatdate(
        int(status.st_mtime), usegmt=True
    )


def test_javascript_has_a_javascript_type(http: httpx.Client) -> None:
    # text/javascript or application/javascript, depending on the system.
    assert "javascript" in http.get("/static/app.js").headers["content-type"]


def test_a_large_file_comes_in_chunks(http: httpx.Client) -> None:
    with http.stream("GET", "/static/big.bin") as response:
        chunks = list(response.iter_raw())
    assert b"".join(chunks) == BIG
    assert len(chunks) > 1


def test_an_empty_file(http: httpx.Client) -> None:
    response = http.get("/static/empty.txt")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"


def test_head_has_the_headers_without_the_body(http: httpx.Client) -> None:
    response = http.head("/static/site.css")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(CSS))
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.content == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_are_not_allowed(http: httpx.Client, method: str) -> None:
    response = http.request(method, "/static/site.css")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_requests_outside_the_prefixes_go_to_the_application(
    http: httpx.Client,
) -> None:
    assert http.get("/staticfile.css").text == "|/staticfile.css|GET"
    assert http.post("/").text == "|/|POST"


def test_the_longest_prefix_wins(http: httpx.Client) -> None:
    assert http.get("/static/other/site.css").text == "other\n"


# --- conditional requests -----------------------------------------------------


def test_if_none_match(http: httpx.Client) -> None:
    etag = http.get("/static/site.css").headers["etag"]
    for header in (etag, f"W/{etag}", f'"x", {etag}', "*"):
        response = http.get("/static/site.css", headers={"if-none-match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert "content-length" not in response.headers
    head = http.head("/static/site.css", headers={"if-none-match": etag})
    assert head.status_code == 304
    other = http.get("/static/site.css", headers={"if-none-match": '"other"'})
    assert other.status_code == 200
    assert other.content == CSS


def test_if_modified_since(http: httpx.Client) -> None:
    last_modified = http.get("/static/site.css").headers["last-modified"]
    before = email.utils.formatdate(
        email.utils.parsedate_to_datetime(last_modified).timestamp() - 60, usegmt=True
    )
    cases = {
        last_modified: 304,
        before: 200,
        "not a date": 200,
    }
    for since, status in cases.items():
        response = http.get("/static/site.css", headers={"if-modified-since": since})
        assert response.status_code == status, since
    # If-None-Match, when present, decides.
    response = http.get(
        "/static/site.css",
        headers={"if-modified-since": last_modified, "if-none-match": '"other"'},
    )
    assert response.status_code == 200


# --- ranges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        ("bytes=0-3", 206, CSS[:4]),
        ("bytes=4-", 206, CSS[4:]),
        ("bytes=-3", 206, CSS[-3:]),
        ("bytes=-1000", 206, CSS),
        ("bytes=2-1000", 206, CSS[2:]),
        ("BYTES=1-1", 206, CSS[1:2]),
        ("bytes=0-1,3-4", 200, CSS),  # several ranges: the whole file
        ("items=0-1", 200, CSS),
        ("bytes=3-1", 200, CSS),
        ("bytes=-", 200, CSS),
        ("bytes=a-b", 200, CSS),
    ],
)
def test_ranges(http: httpx.Client, header: str, status: int, body: bytes) -> None:
    response = http.get("/static/site.css", headers={"range": header})
    assert response.status_code == status
    assert response.content == body
    assert response.headers["content-length"] == str(len(body))
    if status == 206:
        start = CSS.index(body) if header != "bytes=-3" else len(CSS) - 3
        assert response.headers["content-range"] == (
            f"bytes {start}-{start + len(body) - 1}/{len(CSS)}"
        )
    else:
        assert "content-range" not in response.headers


def test_a_range_of_a_large_file(http: httpx.Client) -> None:
    start, end = CHUNK_SIZE - 10, 2 * CHUNK_SIZE + 10
    response = http.get("/static/big.bin", headers={"range": f"bytes={start}-{end}"})
    assert response.status_code == 206
    assert response.content == BIG[start : end + 1]


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("site.css", f"bytes={len(CSS)}-"),
        ("site.css", "bytes=-0"),
        ("empty.txt", "bytes=0-0"),
        ("empty.txt", "bytes=-5"),
    ],
)
def test_unsatisfiable_ranges(http: httpx.Client, name: str, header: str) -> None:
    response = http.get(f"/static/{name}", headers={"range": header})
    assert response.status_code == 416
    size = len(CSS) if name == "site.css" else 0
    assert response.headers["content-range"] == f"bytes */{size}"


def test_if_range(http: httpx.Client) -> None:
    first = http.get("/static/site.css")
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    cases = {etag: 206, last_modified: 206, '"old"': 200, f"W/{etag}": 200}
    cases["Thu, 01 Jan 1970 00:00:00 GMT"] = 200
    for if_range, status in cases.items():
        response = http.get(
            "/static/site.css", headers={"range": "bytes=0-3", "if-range": if_range}
        )
        assert response.status_code == status, if_range


def test_head_ignores_range(http: httpx.Client) -> None:
    response = http.head("/static/site.css", headers={"range": "bytes=0-3"})
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(CSS))


# --- no way out of the directory ------------------------------------------------

TRAVERSALS = [
    b"/static/../secret.txt",
    b"/static/sub/../../secret.txt",
    b"/static/%2e%2e/secret.txt",
    b"/static/%2E%2E/secret.txt",
    b"/static/..%2fsecret.txt",
    b"/static/..%2Fsecret.txt",
    b"/static/sub%2f..%2f..%2fsecret.txt",
    b"/static/..%5csecret.txt",
    b"/static/..%5Csecret.txt",
    b"/static/sub%5Cpage.html",
    b"/static/sub\\page.html",
    b"/static/..\\secret.txt",
    b"/static/site.css%00",
    b"/static/site.css%00.png",
    b"/static//etc/passwd",
    b"/static/%2fetc%2fpasswd",
    b"/static/%2Fetc/passwd",
    b"/static/out.txt",  # a symlink to a file outside
    b"/static/outdir/secret.txt",  # a symlink to a directory outside
    b"/static/outdir/webapp.py",
    b"/static/.hidden",
    b"/static/./site.css",
    b"/static/%2e/site.css",
    b"/static/%ff.css",  # not UTF-8
    b"/static",
    b"/static/",
    b"/static/sub",  # a directory
    b"/static/sub/",
    b"/static/site.css/",
    b"/static/missing.css",
]


@pytest.mark.parametrize(
    "target", [pytest.param(target, id=target.decode()) for target in TRAVERSALS]
)
def test_no_way_out_of_the_directory(http: httpx.Client, target: bytes) -> None:
    response = raw_get(http, target)
    assert response.status_code == 404
    assert response.text == "Not Found"
    assert b"secret" not in response.content


def test_the_secret_is_there(files: Path) -> None:
    """The traversal cases above would find a file."""
    assert (files / "out.txt").read_text() == "secret\n"
    assert (files / "outdir" / "secret.txt").exists()


@pytest.mark.parametrize(
    ("rest", "segments"),
    [
        (b"/a/b.css", ["a", "b.css"]),
        (b"/caf%C3%A9.txt", ["café.txt"]),
        (b"/a%20b", ["a b"]),
        (b"", None),
        (b"a", None),
        (b"/a//b", None),
        (b"/a/%2e%2e", None),
        (b"/\xc3\xa9", None),  # raw non-ASCII
    ],
)
def test_url_segments(rest: bytes, segments: list[str] | None) -> None:
    assert url_segments(rest) == segments


def test_a_missing_directory_is_an_error(app_dir: Path) -> None:
    with pytest.raises(ServeError, match="--static /s=nowhere: no such directory"):
        StaticFiles(no_application, [StaticMount("/s", "nowhere")])


# --- in this process: pathsend, a file that shrinks -------------------------------


async def no_application(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the application was called")  # pragma: no cover


async def call(
    static: StaticFiles, path: str, headers: list[tuple[bytes, bytes]] | None = None
) -> list[MutableMapping[str, Any]]:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": headers or [],
        "extensions": {"http.response.pathsend": {}},
    }
    await static(scope, no_application, send)
    return sent


@pytest.mark.anyio
async def test_pathsend_when_the_server_offers_it(files: Path) -> None:
    static = StaticFiles(no_application, [StaticMount("/static", str(files))])
    # No raw_path in the scope: the path is used.
    start, body = await call(static, "/static/café.txt")
    assert start["status"] == 200
    assert (b"content-length", b"6") in start["headers"]
    assert body == {
        "type": "http.response.pathsend",
        "path": os.path.realpath(files / "café.txt"),
    }
    # A range is read and sent.
    start, body = await call(static, "/static/site.css", [(b"range", b"bytes=0-3")])
    assert start["status"] == 206
    assert body == {"type": "http.response.body", "body": CSS[:4], "more_body": False}


@pytest.mark.anyio
async def test_a_file_that_shrinks_while_sent(tmp_path: Path) -> None:
    (tmp_path / "short").write_bytes(b"abc")
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(OSError, match="changed while it was sent"):
        await send_file(send, str(tmp_path / "short"), 1, 10)
    assert [message["body"] for message in sent] == [b"bc"]


# --- Django's admin, styled as under runserver --------------------------------------

DJANGO_SITE = """
import django
from django.conf import settings

settings.configure(
    SECRET_KEY="not secret",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["127.0.0.1"],
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    STATIC_URL="/static/",
    STATIC_ROOT="collected",
)
django.setup()

from django.contrib import admin
from django.core.wsgi import get_wsgi_application
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
application = get_wsgi_application()
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_django_admin_is_styled(
    app_dir: Path, run_server: Callable[..., Server], backend: str
) -> None:
    """docs/cli.md's recipe: collectstatic, then --static /static=STATIC_ROOT."""
    pytest.importorskip("django")
    (app_dir / "djsite.py").write_text(DJANGO_SITE)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import djsite; from django.core.management import call_command; "
            "call_command('collectstatic', interactive=False, verbosity=0)",
        ],
        cwd=app_dir,
        check=True,
        timeout=WAIT,
    )
    server = run_server(
        "djsite:application",
        f"--backend={backend}",
        "--bind=127.0.0.1:0",
        "--static=/static=collected",
    )
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        login = http.get("/admin/login/")
        assert login.status_code == 200
        stylesheets = re.findall(r'href="(/static/admin/css/[^"]+\.css)"', login.text)
        assert "/static/admin/css/base.css" in stylesheets
        for stylesheet in stylesheets:
            response = http.get(stylesheet)
            assert response.status_code == 200, stylesheet
            assert response.headers["content-type"] == "text/css; charset=utf-8"
            assert (
                response.content
                == (app_dir / "collected" / stylesheet[8:]).read_bytes()
            )
    _, err = server.stop(signal.SIGINT)
    assert server.process.returncode == 0
    assert "Traceback" not in err
