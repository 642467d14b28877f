"""Worker processes: how each one started by ``hypercorn.run`` gets the app.

hypercorn only accepts an import path for the application of its worker
processes.  :func:`worker_application_path` makes one that calls
:func:`worker_application` with the settings the worker needs, encoded.
"""

from __future__ import annotations

import base64
import json

from ..wsgi import WsgiToAsgi
from . import app
from .options import ServeOptions

__all__ = ["worker_application", "worker_application_path", "worker_settings"]


def worker_settings(options: ServeOptions, directory: str) -> str:
    """What a worker needs to build the application: base64-encoded JSON (no
    ``:`` in it, which hypercorn would take for a separator)."""
    settings = {
        "module": options.app.module,
        "attribute": options.app.attribute,
        "directory": directory,
        "threads": options.threads,
        "as_asgiref": options.as_asgiref,
    }
    return base64.urlsafe_b64encode(json.dumps(settings).encode()).decode("ascii")


def worker_application_path(options: ServeOptions, directory: str) -> str:
    """hypercorn's ``application_path`` for the worker processes."""
    settings = worker_settings(options, directory)
    return f"{__name__}:{worker_application.__name__}({settings!r})"


def worker_application(settings: str) -> WsgiToAsgi:
    """Build the application in a worker process started by ``hypercorn.run``.

    hypercorn evaluates the application path :func:`worker_application_path`
    makes; *settings* is :func:`worker_settings`'s.
    """
    values = json.loads(base64.urlsafe_b64decode(settings))
    if values["as_asgiref"]:
        app.install_alias()
    spec = app.AppSpec(values["module"], values["attribute"])
    return app.wsgi_to_asgi(spec, values["directory"], values["threads"])
