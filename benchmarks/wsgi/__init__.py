"""WSGI-to-ASGI adapters side by side: throughput, transfer time and memory.

Compares anyio_bridge's ``WsgiToAsgi`` with asgiref's ``WsgiToAsgi``, a2wsgi's
``WSGIMiddleware``, hypercorn's own WSGI wrapper and starlette's (deprecated)
``WSGIMiddleware``, on asyncio and trio wherever each one runs, in one run,
prints a Markdown report and writes it (plus a JSON twin) to
``benchmarks/results/``::

    python benchmarks/bench_wsgi.py [--quick] [--scenario NAME] [--output PATH]

Scenarios (all by default; ``--scenario`` picks some):

* ``hello``: a hello-world app (list response), 32 requests at a time, the
  ASGI app driven in-process by a minimal fake ``receive``/``send``; req/s.
* ``sleep``: an app that blocks 20 ms in ``time.sleep``, 64 at a time; req/s.
* ``transfer``: a 32 MiB download (a generator of 64 KiB chunks) and a 32 MiB
  upload (read from ``wsgi.input`` in 64 KiB chunks), in-process; seconds per
  transfer.
* ``loopback``: hello world through a real hypercorn server (asyncio and trio
  workers, a subprocess on 127.0.0.1, port 0), checked with ``httpx`` and
  loaded by a minimal keep-alive HTTP/1.1 client (httpx itself is slower than
  the servers).
* ``memory``: peak RSS growth and temporary files for a 256 MiB upload and
  download, each adapter in a fresh subprocess with ``TMPDIR`` pointing to an
  empty directory.

Measurements are repeated over rounds; every other round runs the backends
and adapters in reverse order.  Numbers are medians over rounds; ratios compare
each adapter with the best peer of the same run.  Absolute numbers depend on
the machine; only compare ratios taken from the same run.  A cell that cannot
be measured shows ``error: ...`` (a peer that is not installed shows ``not
installed``) and the rest of the run carries on.  The exit code is always 0.

Modules, in the order a run uses them: :mod:`.app` (the WSGI app),
:mod:`.adapters` (the adapters compared), :mod:`.model` (settings, metrics,
results), :mod:`.driving` (one request in-process), :mod:`.inprocess`,
:mod:`.loopback` and :mod:`.memory` (the scenarios), :mod:`.targets`,
:mod:`.render` (Markdown and JSON) and :mod:`.cli` (options, ``main``, and
the child processes of ``loopback`` and ``memory``).
"""
