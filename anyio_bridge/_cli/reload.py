"""``--reload``: a supervising process restarts the server when code changes.

The command's process opens the listening socket, then runs the server in a
child process (``python -c`` calling :func:`child_main`), which inherits the
socket: connections made during a restart wait in its backlog instead of
being refused.  Once the child has imported the application it reports the
project's module files (:func:`.watch.project_files`) through a pipe; the
supervisor prints the startup line (the first time), polls the files
(:class:`.watch.Watcher`) and, when one changes, says so, stops the child
with SIGHUP (a graceful shutdown, as on SIGTERM, but quiet) and starts
another.

- A child that fails to load the application the first time ends the
  command with its status (its error is on standard error); after a change,
  the supervisor waits for the next change and tries again.
- SIGINT and SIGTERM are passed on to the child, which runs in a session of
  its own so that Ctrl-C in a terminal reaches it once, through the
  supervisor.  The command then exits with the child's status.
- A child whose supervisor is gone shuts down by itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from functools import partial
from types import FrameType
from typing import Final, TextIO

import anyio

from .errors import ServeError, interrupted
from .listen import open_listener
from .options import ServeOptions
from .serve import Supervised, banner, check_options, serve_on
from .watch import Watcher, app_directory, project_files

__all__ = [
    "CHILD_VARIABLE",
    "POLL_INTERVAL",
    "RELOAD_SIGNAL",
    "child_main",
    "supervise",
]

#: The environment variable that hands a child its settings.
CHILD_VARIABLE: Final = "ANYIO_BRIDGE_RELOAD_CHILD"
#: Seconds between two looks at the files (and at the processes).
POLL_INTERVAL: Final = 0.5
#: What stops a child for a reload (gracefully, without a word from it).
RELOAD_SIGNAL: Final = signal.SIGHUP
_CHILD_CODE: Final = (
    "from anyio_bridge._cli.reload import child_main; raise SystemExit(child_main())"
)


def supervise(options: ServeOptions, out: TextIO) -> int:
    """Serve *options* in child processes, restarted when the code changes.

    :raises ServeError: hypercorn is not installed, the TLS certificate
        cannot be loaded, or the address cannot be bound.
    """
    check_options(options)
    with open_listener(options.host, options.port) as listener:
        return _Supervisor(options, listener, out).run()


class _Supervisor:
    def __init__(
        self, options: ServeOptions, listener: socket.socket, out: TextIO
    ) -> None:
        self.options = options
        self.listener = listener
        self.out = out
        self.stopping = False
        self.child: subprocess.Popen[bytes] | None = None
        self.watcher = Watcher()
        self.watcher.watch((), [app_directory(options.app.module)])

    def say(self, message: str, prefix: str = "anyio-bridge: ") -> None:
        print(prefix + message, file=self.out, flush=True)

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def run(self) -> int:
        handlers = {
            signum: signal.signal(signum, self._pass_on)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            return self._loop()
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)

    def _loop(self) -> int:
        loaded_once = False
        while True:
            child, files = self._start()
            if files is None:  # it did not load the application
                status = child.wait()
                if not loaded_once or self.stopping:
                    return status
                self.say("the application failed to load; waiting for a change")
                if not self._wait_for_change(None):
                    return status
            else:
                if not loaded_once:
                    self.say(banner(self.options, self.listener), prefix="")
                    loaded_once = True
                self.watcher.watch(files)
                if not self._wait_for_change(child):  # stopped, or ended
                    return child.wait()
                child.send_signal(RELOAD_SIGNAL)
                child.wait()

    def _start(self) -> tuple[subprocess.Popen[bytes], list[str] | None]:
        """Start a child; return it and the files it reported, or None if it
        ended without loading the application."""
        read_end, write_end = os.pipe()
        settings = {
            "options": self.options.to_json(),
            "listener": self.listener.fileno(),
            "report": write_end,
            "parent": os.getpid(),
        }
        try:
            self.child = subprocess.Popen(
                [sys.executable, "-c", _CHILD_CODE],
                env={**os.environ, CHILD_VARIABLE: json.dumps(settings)},
                pass_fds=(self.listener.fileno(), write_end),
                start_new_session=True,
            )
        finally:
            os.close(write_end)
        if self.stopping:  # a signal came before the child could be told
            self.child.send_signal(signal.SIGTERM)
        with open(read_end, "rb") as report:
            data = report.read()
        return self.child, json.loads(data) if data else None

    def _wait_for_change(self, child: subprocess.Popen[bytes] | None) -> bool:
        """Wait for a file to change, and say which; False if stopping, or if
        *child* ended first."""
        while not self.stopping and (child is None or child.poll() is None):
            changed = self.watcher.changed()
            if changed is not None:
                self.say(f"{Watcher.display(changed)} changed, reloading")
                return True
            time.sleep(POLL_INTERVAL)
        return False


async def _supervisor_gone(parent: int) -> str:
    while os.getppid() == parent:
        await anyio.sleep(POLL_INTERVAL)
    return "the reloading process is gone"


def child_main() -> int:
    """Serve in a child of :func:`supervise`, with the settings it passed."""
    settings = json.loads(os.environ.pop(CHILD_VARIABLE))
    options = ServeOptions.from_json(settings["options"])
    report = open(settings["report"], "w")  # noqa: SIM115 - closed once loaded

    def loaded() -> None:
        with report:
            json.dump(project_files(list(sys.modules.values())), report)

    try:
        with report, socket.socket(fileno=settings["listener"]) as listener:
            listener.setblocking(False)
            supervised = Supervised(
                partial(_supervisor_gone, settings["parent"]), RELOAD_SIGNAL
            )
            return serve_on(
                options, listener, sys.stdout, loaded=loaded, supervised=supervised
            )
    except ServeError as exc:
        exc.report()
        return 1
    except KeyboardInterrupt:
        return interrupted()
