"""The ``anyio-bridge`` command line (see ``docs/cli.md``), by concern.

- :mod:`.command`: :func:`main` and ``info``;
- :mod:`.arguments`: ``serve``'s arguments, parsed into
  :class:`~.options.ServeOptions` (:mod:`.options`);
- :mod:`.app`: ``MODULE:APP`` parsed, the WSGI application imported (with
  clear errors) and wrapped in :class:`~anyio_bridge.wsgi.WsgiToAsgi`;
- :mod:`.listen`: ``--bind``, the listening socket and its URL;
- :mod:`.config`: hypercorn, checked and configured; :mod:`.logs`: its log;
- :mod:`.serve`: :func:`~.serve.serve`, signals and graceful shutdown;
- :mod:`.stack`: the layers around the application: :mod:`.proxy`
  (``--proxy-headers``), :mod:`.access` (the access log), :mod:`.shutdown`
  (``503`` past the graceful timeout), :mod:`.static` (``--static``, with
  :mod:`.conditional` for validators and ranges);
- :mod:`.reload` (``--reload``'s supervisor and server) and :mod:`.watch`
  (what it watches);
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
