"""The ``anyio-bridge`` command line (see ``docs/cli.md``), by concern.

- :mod:`.command`: the arguments, :func:`main` and ``info``;
- :mod:`.app`: ``MODULE:APP`` parsed, the WSGI application imported (with
  clear errors) and wrapped in :class:`~anyio_bridge.wsgi.WsgiToAsgi`;
- :mod:`.listen`: ``--bind``, the listening socket and its URL;
- :mod:`.options`: :class:`~.options.ServeOptions`;
- :mod:`.config`: hypercorn, checked and configured;
- :mod:`.serve`: :func:`~.serve.serve`, signals and graceful shutdown;
- :mod:`.workers`: what each worker process of ``--workers`` runs;
- :mod:`.errors`: usage errors (status 2) and serving errors (status 1).

``serve`` imports a WSGI application from a ``MODULE:APP`` spec, wraps it in
:class:`~anyio_bridge.wsgi.WsgiToAsgi` and serves it with hypercorn on
asyncio or trio until SIGINT (Ctrl-C) or SIGTERM.  With ``--as-asgiref``,
anyio-bridge is installed as asgiref
(:func:`anyio_bridge.install_as_asgiref`) before the application is
imported, here and in each worker process.
"""

from .command import main

__all__ = ["main"]
