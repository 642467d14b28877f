"""A small Flask application served by anyio-bridge's WsgiToAsgi.

From the repository root, serve it with hypercorn on trio::

    pip install -e '.[serve]' flask
    anyio-bridge serve examples.flask_app:app --backend trio

then open the URL it prints.  Pages:

* ``/``: an index page with a form;
* ``/api/info``: JSON about the request and the thread that served it;
* ``/greet`` (POST): the form's target;
* ``/countdown?start=N``: a streamed response, one line a second, sent as it
  is produced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from flask import Flask, Response, jsonify, render_template_string, request

app = Flask(__name__)

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>anyio-bridge Flask example</title></head>
<body>
  <h1>anyio-bridge Flask example</h1>
  <p>This Flask (WSGI) application runs on thread <code>{{ thread }}</code>,
  served through <code>anyio_bridge.wsgi.WsgiToAsgi</code>.</p>
  {% if name %}<p>Hello, {{ name }}!</p>{% endif %}
  <form method="post" action="{{ url_for('greet') }}">
    <label>Your name <input name="name" required></label>
    <button>Greet me</button>
  </form>
  <ul>
    <li><a href="{{ url_for('info') }}">JSON about this request</a></li>
    <li><a href="{{ url_for('countdown', start=5) }}">A streamed countdown</a></li>
  </ul>
</body>
</html>
"""


def _page(name: str | None = None) -> str:
    return render_template_string(
        PAGE, name=name, thread=threading.current_thread().name
    )


@app.get("/")
def index() -> str:
    return _page()


@app.post("/greet")
def greet() -> str:
    return _page(request.form["name"])


@app.get("/api/info")
def info() -> Response:
    return jsonify(
        method=request.method,
        path=request.path,
        script_name=request.environ["SCRIPT_NAME"],
        thread=threading.current_thread().name,
        multithread=request.environ["wsgi.multithread"],
        user_agent=request.headers.get("User-Agent"),
    )


@app.get("/countdown")
def countdown() -> Response:
    start = min(request.args.get("start", 5, type=int), 60)

    def lines() -> Iterator[str]:
        for number in range(start, 0, -1):
            yield f"{number}...\n"
            time.sleep(1)  # blocks this request's thread only
        yield "liftoff!\n"

    return Response(lines(), mimetype="text/plain")
