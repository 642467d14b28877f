"""End to end over loopback: wrk against WSGI servers serving Flask::

    python benchmarks/bench_e2e.py [--quick] [--server KEY] [--metric NAME]
                                   [--output PATH]
    python benchmarks/bench_e2e.py --profile serve-trio:hello

The benchmark is the package :mod:`benchmarks.e2e`; ``benchmarks/README.md``
lists the options and explains the method.  It needs ``wrk``
(``apt-get install -y wrk``) and skips, saying so, without it.
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
    from benchmarks.e2e.cli import main

    sys.exit(main())
