"""The benchmarks: ``python benchmarks/bench_sync.py`` and ``bench_wsgi.py``.

Those two scripts only put the checkout first on ``sys.path`` and call
:mod:`benchmarks.sync` or :mod:`benchmarks.wsgi`.  What both benchmarks share
lives here: :mod:`benchmarks.report` (environment header, ratios over rounds,
targets, Markdown and JSON) and :mod:`benchmarks.runner` (the watchdog and the
end of a run).  See ``benchmarks/README.md`` for what is measured and how.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

ASYNCIO = "asyncio"
TRIO = "trio"
BOTH = (ASYNCIO, TRIO)
ASYNCIO_ONLY = (ASYNCIO,)


def installed(module: str) -> bool:
    """Whether *module* can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> tuple[str, ...]:
    return BOTH if installed(TRIO) else ASYNCIO_ONLY
