"""What an adapter has in one process: the loop it runs on and its lifespan.

Every :class:`~anyio_bridge.wsgi.AsgiToWsgi` of a process shares one event
loop thread per backend (and per distinct ``backend_options``): the same
daemon thread :func:`~anyio_bridge.sync.async_to_sync` uses from plain sync
code, started on first use.  A process forked after a loop started (gunicorn
``--preload``, multiprocessing) does not inherit it: :data:`generation`
changes in the child, and each adapter makes a new :class:`Runtime` -- a new
loop thread and a fresh lifespan -- on its first request there.

At interpreter exit every runtime still open runs its application's lifespan
shutdown, before the loop threads are stopped (``atexit`` runs handlers in
reverse order of registration, and this module registers after the bridge's
thread state).
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from .._bridge.state import process
from .lifespan import Lifespan
from .settings import Settings

__all__ = ["Runtime", "current_generation"]

_generation = 0
_open: set[Runtime] = set()
_open_lock = threading.Lock()


def current_generation() -> int:
    """Changes in a child process after :func:`os.fork`."""
    return _generation


class Runtime:
    """One adapter's loop and lifespan in this process."""

    __slots__ = (
        "__weakref__",
        "app",
        "closed",
        "generation",
        "lifespan",
        "loop",
        "loop_thread",
        "settings",
    )

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.generation = _generation
        self.loop_thread = process.loop_thread(
            settings.backend, settings.backend_options
        )
        self.loop = self.loop_thread.loop
        self.lifespan = Lifespan(app, settings, self.loop)
        self.closed = False
        with _open_lock:
            _open.add(self)

    def close(self) -> None:
        """Run the lifespan shutdown (once); later requests get ``503``."""
        with _open_lock:
            if self.closed:
                return
            self.closed = True
            _open.discard(self)
        if self.generation == _generation:
            self.lifespan.shutdown()


def _after_fork_in_child() -> None:
    global _generation, _open_lock
    _generation += 1
    _open.clear()
    _open_lock = threading.Lock()


def _close_all() -> None:
    with _open_lock:
        runtimes = list(_open)
    for runtime in runtimes:
        runtime.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all)
