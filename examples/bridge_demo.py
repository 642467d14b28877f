"""sync_to_async and async_to_sync on asyncio and on trio, side by side.

Run it with ``python examples/bridge_demo.py``.
"""

from __future__ import annotations

import threading
import time

import anyio
import sniffio

from anyio_bridge import async_to_sync, sync_to_async


def blocking_lookup(key: str) -> str:
    """Stands for a blocking call: a database query, a legacy client..."""
    time.sleep(0.01)
    return f"{key}@{threading.current_thread().name}"


async def fetch(key: str) -> str:
    await anyio.sleep(0.01)
    return f"{key} fetched on {sniffio.current_async_library()}"


def legacy_view() -> str:
    # Sync code (say, a Django view) calling async code: it runs on the
    # caller's event loop, and thread-sensitive calls it makes come back here.
    return async_to_sync(fetch)("profile")


async def main() -> None:
    backend = sniffio.current_async_library()
    print(f"[{backend}] thread-sensitive:", await sync_to_async(blocking_lookup)("a"))
    print(
        f"[{backend}] worker pool:     ",
        await sync_to_async(blocking_lookup, thread_sensitive=False)("b"),
    )
    print(f"[{backend}] round trip:      ", await sync_to_async(legacy_view)())


if __name__ == "__main__":
    for backend in ("asyncio", "trio"):
        anyio.run(main, backend=backend)
    # From plain sync code: no loop here, so the coroutine runs on a loop
    # thread the process keeps for such calls.
    print("[no loop] top level:       ", async_to_sync(fetch)("settings"))
    print("[no loop] on trio:         ", async_to_sync(fetch, backend="trio")("x"))
