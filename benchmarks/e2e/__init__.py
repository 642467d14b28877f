"""End to end over loopback: ``wrk`` against WSGI servers serving Flask.

Serves one Flask application (a hello view, a view that sleeps 20 ms in
``time.sleep``, a 1 MiB streamed response) by each server, a subprocess on
127.0.0.1, and loads it with ``wrk`` (64 keep-alive connections), checking
every response's status and body size::

    python benchmarks/bench_e2e.py [--quick] [--server KEY] [--metric NAME]
                                   [--output PATH]

Servers: ``anyio-bridge serve`` (asyncio and trio), gunicorn ``gthread`` (1
worker, 64 threads), ``uvicorn --interface wsgi``, granian's WSGI interface
(1 worker, 64 blocking threads) and ``anyio_bridge.wsgi.WsgiToAsgi`` under
uvicorn; plus a raw ASGI hello (a plain ``async def``) on hypercorn asyncio,
hypercorn trio (what ``serve`` runs on) and uvicorn: each server's own
ceiling.  The report goes to ``benchmarks/results/e2e.md`` and its JSON twin.

Rounds interleave the servers (A, B, C, then C, B, A, ...); numbers are
medians over rounds, and the targets pair two servers round by round
(:func:`benchmarks.report.paired_ratio`).  Without ``wrk`` the run is skipped
with a message (``apt-get install -y wrk``).  The exit code is always 0.

Modules: :mod:`.apps` (the applications the servers import), :mod:`.servers`
(the command lines and the subprocesses), :mod:`.load` (wrk and its check
script), :mod:`.model` (settings, metrics, results), :mod:`.measure` (a
run), :mod:`.targets`, :mod:`.render` (Markdown and JSON), :mod:`.profile`
(``--profile``: py-spy under load) and :mod:`.cli` (options and ``main``).
"""
