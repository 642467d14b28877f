"""The ``anyio-bridge`` command line (also ``python -m anyio_bridge``)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

from ._version import __version__

BACKENDS = ("asyncio", "trio")


def available_backends() -> dict[str, bool]:
    """Map each backend anyio-bridge supports to whether it can be used here."""
    return {name: importlib.util.find_spec(name) is not None for name in BACKENDS}


def _info() -> int:
    print(f"anyio-bridge {__version__}")
    for name, usable in available_backends().items():
        state = (
            "available"
            if usable
            else f"not installed (pip install 'anyio-bridge[{name}]')"
        )
        print(f"  backend {name}: {state}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="anyio-bridge",
        description="asgiref's bridge and ASGI helpers on anyio (asyncio and trio).",
    )
    parser.add_argument(
        "--version", action="version", version=f"anyio-bridge {__version__}"
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser(
        "info", help="print the version and the usable backends (default)"
    )
    parser.parse_args(argv)
    return _info()


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess
    sys.exit(main())
