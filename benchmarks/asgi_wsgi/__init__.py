"""ASGI applications under a WSGI server: AsgiToWsgi against a2wsgi.

Serves one raw ASGI application through anyio_bridge's ``AsgiToWsgi`` (on
its asyncio and its trio backend) and through a2wsgi's ``ASGIMiddleware``
(asyncio), each by gunicorn with one ``gthread`` worker of 64 threads in a
subprocess on 127.0.0.1, prints a Markdown report and writes it (plus a
JSON twin) to ``benchmarks/results/asgi_wsgi.*``::

    python benchmarks/bench_asgi_wsgi.py [--quick] [--scenario NAME] [--output PATH]

Scenarios (all by default; ``--scenario`` picks some):

* ``throughput``: ``GET /hello`` and ``GET /sleep`` (``await
  anyio.sleep(0.02)``) from 64 keep-alive connections, loaded by ``wrk`` if
  it is installed, else by a Python client in a subprocess; req/s.
* ``transfer``: a 32 MiB upload and a 32 MiB download through ``httpx``
  (streamed, sizes checked); time per transfer.
* ``memory``: the gunicorn worker's peak RSS growth over its idle RSS while
  a 256 MiB upload and then a 256 MiB download run, a fresh server per
  adapter.
* ``threads``: a fresh process's threads after building 100 adapters, each
  serving one request in-process.

Rounds interleave the adapters (A, B, C, then C, B, A, ...); numbers are
medians over rounds, and the targets pair AsgiToWsgi with a2wsgi round by
round (:func:`benchmarks.report.paired_ratio`).  A cell that cannot be
measured shows ``error: ...`` (a library that is not installed: ``not
installed``) and the rest of the run carries on.  The exit code is always 0.

Modules: :mod:`.apps` (the ASGI app), :mod:`.adapters`, :mod:`.model`
(settings, metrics, results), :mod:`.servers` (gunicorn subprocesses),
:mod:`.load` (wrk and the Python load generator), :mod:`.measure` (the
scenarios), :mod:`.targets`, :mod:`.render` (Markdown and JSON) and
:mod:`.cli` (options, ``main``, and the child processes).
"""
