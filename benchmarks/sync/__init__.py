"""Per-call cost of the sync <-> async bridges, side by side in one run.

Compares anyio_bridge's ``sync_to_async`` / ``async_to_sync`` with raw anyio
(``to_thread.run_sync`` / ``from_thread.run``), asgiref and asyncer on asyncio
and trio, prints a Markdown report and writes it (plus a JSON twin) to
``benchmarks/results/``::

    python benchmarks/bench_sync.py [--quick] [--calls N] [--output PATH]

Every call is timed on its own with ``time.perf_counter_ns()``; the report gives
the median and 90th percentile per row and the ratios the performance issue
targets.  Absolute numbers depend on the machine; only compare ratios taken
from the same run.  A row that cannot be built or whose call raises shows
``error: ...`` and the rest of the run carries on.  The exit code is always 0.

Modules, in the order a run uses them: :mod:`.calls` (what each row calls),
:mod:`.rows` (the report's sections and rows), :mod:`.targets` (the ratios
tracked), :mod:`.placement` (thread pinning), :mod:`.measure` (timing, rounds),
:mod:`.render` (Markdown and JSON) and :mod:`.cli` (options, ``main``).
"""
