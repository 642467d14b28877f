"""Worker processes: how each one started by ``hypercorn.run`` gets the app.

hypercorn only accepts an import path for the application of its worker
processes.  :func:`worker_application_path` makes one that calls
:func:`worker_application` with the options and directory, encoded.  Each
worker opens the access log for itself.
"""

from __future__ import annotations

import base64
import json
import sys

from . import app
from .access import open_access_log
from .options import ServeOptions
from .stack import ASGIApp, build_application

__all__ = ["worker_application", "worker_application_path", "worker_settings"]


def worker_settings(options: ServeOptions, directory: str) -> str:
    """What a worker needs to build the application: base64-encoded JSON (no
    ``:`` in it, which hypercorn would take for a separator)."""
    settings = {"options": options.to_json(), "directory": directory}
    return base64.urlsafe_b64encode(json.dumps(settings).encode()).decode("ascii")


def worker_application_path(options: ServeOptions, directory: str) -> str:
    """hypercorn's ``application_path`` for the worker processes."""
    settings = worker_settings(options, directory)
    return f"{__name__}:{worker_application.__name__}({settings!r})"


def worker_application(settings: str) -> ASGIApp:
    """Build the application in a worker process started by ``hypercorn.run``.

    hypercorn evaluates the application path :func:`worker_application_path`
    makes; *settings* is :func:`worker_settings`'s.  The worker's access log
    stays open as long as the application.
    """
    values = json.loads(base64.urlsafe_b64decode(settings))
    options = ServeOptions.from_json(values["options"])
    if options.as_asgiref:
        app.install_alias()
    access_log = open_access_log(options.access_log, options.log_level, sys.stdout)
    application, _ = build_application(
        options, values["directory"], access_log=access_log
    )
    return application
