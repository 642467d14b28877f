"""``python -m anyio_bridge`` and the ``anyio-bridge`` command (see ``_cli``)."""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess
    sys.exit(main())
