"""Real WSGI frameworks through WsgiToAsgi, in process, on asyncio and trio.

Flask, Django (settings configured here), Bottle and Falcon applications are
driven with :func:`anyio_bridge.testing.http_request`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bottle
import django
import falcon
import flask
import httpx
import pytest
from django.conf import settings

from anyio_bridge.testing import http_request
from anyio_bridge.wsgi import WsgiToAsgi

pytestmark = pytest.mark.anyio


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> Any:
    """Headers and body of a multipart/form-data request, encoded by httpx."""
    request = httpx.Request("POST", "http://testserver/", data=fields, files=files)
    body = request.read()
    headers = [
        (name, value)
        for name, value in request.headers.items()
        if name in ("content-type", "content-length")
    ]
    return headers, body


# -- Flask ------------------------------------------------------------------


def make_flask_app() -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/hello/<name>")
    def hello(name: str) -> str:
        return f"hello {name} {flask.request.args.get('x', '')}"

    @app.post("/json")
    def echo_json() -> Any:
        data = flask.request.get_json()
        return {"got": data, "url": flask.url_for("echo_json")}

    @app.post("/form")
    def form() -> Any:
        upload = flask.request.files["file"]
        return {
            "name": flask.request.form["name"],
            "filename": upload.filename,
            "content": upload.read().decode(),
        }

    @app.get("/cookies")
    def cookies() -> Any:
        response = flask.jsonify(dict(flask.request.cookies))
        response.set_cookie("set", "yes")
        return response

    @app.get("/stream")
    def stream() -> flask.Response:
        @flask.stream_with_context
        def generate() -> Iterator[str]:
            for i in range(3):
                yield f"{flask.request.path}:{i};"

        return flask.Response(generate(), mimetype="text/plain")

    @app.get("/fail")
    def fail() -> str:
        raise RuntimeError("view failed")

    return app


async def test_flask_routing_query_and_root_path() -> None:
    app = WsgiToAsgi(make_flask_app())
    response = await http_request(app, "GET", "/hello/ann?x=1")
    assert (response.status, response.body) == (200, b"hello ann 1")
    mounted = await http_request(
        app,
        "POST",
        "/prefix/json",
        root_path="/prefix",
        headers=[("content-type", "application/json")],
        body=json.dumps({"a": [1, 2]}).encode(),
    )
    assert mounted.status == 200
    # url_for builds URLs under SCRIPT_NAME.
    assert json.loads(mounted.body) == {"got": {"a": [1, 2]}, "url": "/prefix/json"}


async def test_flask_multipart_upload_and_cookies() -> None:
    app = WsgiToAsgi(make_flask_app())
    headers, body = multipart({"name": "ann"}, {"file": ("notes.txt", b"line\n")})
    response = await http_request(app, "POST", "/form", headers=headers, body=body)
    assert json.loads(response.body) == {
        "name": "ann",
        "filename": "notes.txt",
        "content": "line\n",
    }
    # Two Cookie headers (as HTTP/2 sends them) reach Flask as one.
    response = await http_request(
        app, "GET", "/cookies", headers=[("cookie", "a=1"), ("cookie", "b=2; c=3")]
    )
    assert json.loads(response.body) == {"a": "1", "b": "2", "c": "3"}
    assert (response.header("set-cookie") or "").startswith("set=yes")


async def test_flask_streamed_response_and_errors() -> None:
    app = WsgiToAsgi(make_flask_app())
    response = await http_request(app, "GET", "/stream")
    assert response.body == b"/stream:0;/stream:1;/stream:2;"
    failed = await http_request(app, "GET", "/fail")
    assert failed.status == 500
    missing = await http_request(app, "GET", "/nowhere")
    assert missing.status == 404


# -- Django -----------------------------------------------------------------

_django_lock = threading.Lock()


def django_application() -> Any:
    """Django's WSGI handler, configured once per process with this module's URLs."""
    with _django_lock:
        if not settings.configured:
            settings.configure(
                DEBUG=False,
                SECRET_KEY="test only",
                ALLOWED_HOSTS=["testserver"],
                ROOT_URLCONF=__name__,
                INSTALLED_APPS=[],
                MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
                DATABASES={},
                USE_TZ=True,
                LOGGING_CONFIG=None,
            )
            django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def _django_views() -> list[Any]:
    from django.http import (
        HttpRequest,
        HttpResponse,
        JsonResponse,
        StreamingHttpResponse,
    )
    from django.urls import path, reverse
    from django.views.decorators.csrf import csrf_exempt

    def hello(request: HttpRequest, name: str) -> HttpResponse:
        return HttpResponse(f"hello {name} {request.GET.get('x', '')}")

    @csrf_exempt
    def upload(request: HttpRequest) -> JsonResponse:
        upload = request.FILES["file"]
        return JsonResponse(
            {
                "name": request.POST["name"],
                "content": upload.read().decode(),
                "url": reverse("upload"),
                "cookies": request.COOKIES,
            }
        )

    def stream(request: HttpRequest) -> StreamingHttpResponse:
        return StreamingHttpResponse(f"part{i};".encode() for i in range(3))

    def fail(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("view failed")

    return [
        path("hello/<str:name>", hello),
        path("upload", upload, name="upload"),
        path("stream", stream),
        path("fail", fail),
    ]


def __getattr__(name: str) -> Any:
    # Django imports ROOT_URLCONF (this module) for `urlpatterns` lazily, once
    # settings are configured; the views need Django set up, so build them then.
    if name == "urlpatterns":
        return _django_views()
    raise AttributeError(name)


async def test_django_views_forms_cookies_and_root_path() -> None:
    app = WsgiToAsgi(django_application())
    response = await http_request(app, "GET", "/hello/ann?x=1")
    assert (response.status, response.body) == (200, b"hello ann 1")
    headers, body = multipart({"name": "ann"}, {"file": ("a.txt", b"data")})
    response = await http_request(
        app,
        "POST",
        "/site/upload",
        root_path="/site",
        headers=[*headers, ("cookie", "a=1"), ("cookie", "b=2")],
        body=body,
    )
    assert response.status == 200
    assert json.loads(response.body) == {
        "name": "ann",
        "content": "data",
        "url": "/site/upload",  # reverse() honours SCRIPT_NAME
        "cookies": {"a": "1", "b": "2"},
    }


async def test_django_streaming_errors_and_host_check() -> None:
    app = WsgiToAsgi(django_application())
    response = await http_request(app, "GET", "/stream")
    assert (response.status, response.body) == (200, b"part0;part1;part2;")
    assert (await http_request(app, "GET", "/fail")).status == 500
    assert (await http_request(app, "GET", "/nowhere")).status == 404
    # ALLOWED_HOSTS sees the Host header.
    bad_host = await http_request(app, "GET", "/hello/x", headers=[("host", "evil")])
    assert bad_host.status == 400


# -- Bottle -----------------------------------------------------------------


def make_bottle_app(root: Path) -> bottle.Bottle:
    app = bottle.Bottle()
    app.catchall = True

    @app.get("/hello/<name>")  # type: ignore[untyped-decorator]
    def hello(name: str) -> str:
        return f"hello {name} {bottle.request.query.get('x', '')}"

    @app.post("/json")  # type: ignore[untyped-decorator]
    def echo() -> dict[str, Any]:
        return {"got": bottle.request.json}

    @app.get("/static/<filename>")  # type: ignore[untyped-decorator]
    def static(filename: str) -> Any:
        return bottle.static_file(filename, root=str(root))

    @app.get("/fail")  # type: ignore[untyped-decorator]
    def fail() -> str:
        raise RuntimeError("view failed")

    return app


async def test_bottle_routes_json_static_file_and_errors(tmp_path: Path) -> None:
    content = bytes(range(256)) * 300
    (tmp_path / "data.bin").write_bytes(content)
    app = WsgiToAsgi(make_bottle_app(tmp_path))
    response = await http_request(app, "GET", "/hello/bob?x=2")
    assert (response.status, response.body) == (200, b"hello bob 2")
    response = await http_request(
        app,
        "POST",
        "/json",
        headers=[("content-type", "application/json")],
        body=b'{"k": "v"}',
    )
    assert json.loads(response.body) == {"got": {"k": "v"}}
    # static_file hands an open file to wsgi.file_wrapper, which closes it.
    response = await http_request(app, "GET", "/static/data.bin")
    assert (response.status, response.body) == (200, content)
    assert response.header("content-length") == str(len(content))
    head = await http_request(app, "HEAD", "/static/data.bin")
    assert (head.status, head.body) == (200, b"")
    assert (await http_request(app, "GET", "/fail")).status == 500


# -- Falcon -----------------------------------------------------------------


class Things:
    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name == "missing":
            raise falcon.HTTPNotFound(title="no such thing")
        resp.media = {"name": name, "x": req.get_param("x"), "prefix": req.prefix}

    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        resp.status = falcon.HTTP_201
        resp.media = {"name": name, "body": req.get_media()}


class Broken:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise RuntimeError("view failed")


async def test_falcon_resources_media_and_errors() -> None:
    falcon_app = falcon.App()
    falcon_app.add_route("/things/{name}", Things())
    falcon_app.add_route("/broken", Broken())
    app = WsgiToAsgi(falcon_app)
    response = await http_request(app, "GET", "/api/things/a?x=1", root_path="/api")
    assert response.status == 200
    assert json.loads(response.body) == {
        "name": "a",
        "x": "1",
        "prefix": "http://testserver/api",
    }
    response = await http_request(
        app,
        "POST",
        "/things/b",
        headers=[("content-type", "application/json")],
        body=b"[1, 2]",
    )
    assert (response.status, json.loads(response.body)) == (
        201,
        {"name": "b", "body": [1, 2]},
    )
    missing = await http_request(app, "GET", "/things/missing")
    assert missing.status == 404
    assert json.loads(missing.body)["title"] == "no such thing"
    # Falcon turns an unhandled error into its own 500 response.
    assert (await http_request(app, "GET", "/broken")).status == 500
