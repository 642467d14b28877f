"""ASGI apps under gunicorn: AsgiToWsgi (asyncio, trio) against a2wsgi::

    python benchmarks/bench_asgi_wsgi.py [--quick] [--scenario NAME] [--output PATH]

The benchmark is the package :mod:`benchmarks.asgi_wsgi`;
``benchmarks/README.md`` lists the options and explains the method.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Import ``benchmarks`` and ``anyio_bridge`` from this checkout, and keep
    # benchmarks/ itself (sys.path[0] for a script) off the path.
    HERE = Path(__file__).resolve().parent
    sys.path[:] = [
        str(HERE.parent),
        *(p for p in sys.path if Path(p).resolve() != HERE),
    ]
    from benchmarks.asgi_wsgi.cli import main

    sys.exit(main())
