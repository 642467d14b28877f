"""gunicorn, gthread worker, as a subprocess serving one adapter.

``bench_asgi_wsgi.py --child serve KEY PIDFILE`` binds a socket to
127.0.0.1, port 0, prints ``PORT n`` and runs gunicorn in the same process
(one gthread worker with 64 threads) on that socket (``fd://``).  The
adapter is built in the worker (no ``--preload``), and gunicorn's
``post_worker_init`` hook writes the worker's pid to PIDFILE, which is how
the parent knows the worker is up and which process to watch.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from .adapters import ADAPTER_BY_KEY, Adapter
from .apps import CONCURRENCY, HELLO_BODY, bench_app
from .model import child_command

#: gunicorn settings every server gets (the worker's are the same for all)
GUNICORN_SETTINGS: dict[str, Any] = {
    "workers": 1,
    "worker_class": "gthread",
    "threads": CONCURRENCY,
    # Keep-alive connections outlive a throughput window.
    "keepalive": 30,
    # A 256 MiB transfer through a slow adapter must not look like a hang.
    "timeout": 300,
    "graceful_timeout": 3,
    "backlog": 2048,
    "accesslog": None,
    "errorlog": "-",
    "loglevel": "warning",
    "preload_app": False,
}


def gunicorn_description() -> str:
    return (
        f"gunicorn, {GUNICORN_SETTINGS['workers']} `gthread` worker with "
        f"{GUNICORN_SETTINGS['threads']} threads, keep-alive "
        f"{GUNICORN_SETTINGS['keepalive']} s, no preload, on 127.0.0.1"
    )


def child_serve(adapter_key: str, pidfile: str) -> None:
    """Child process: gunicorn serving the bench app through *adapter_key*."""
    from gunicorn.app.base import BaseApplication

    adapter = ADAPTER_BY_KEY[adapter_key]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(int(GUNICORN_SETTINGS["backlog"]))
    port = sock.getsockname()[1]
    fd = sock.detach()

    def post_worker_init(worker: Any) -> None:
        Path(pidfile).write_text(f"{worker.pid}\n")

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = GUNICORN_SETTINGS | {
                "bind": [f"fd://{fd}"],
                "post_worker_init": post_worker_init,
                "proc_name": f"bench_asgi_wsgi-{adapter_key}",
            }
            for name, value in settings.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            return adapter.build(bench_app)

    print(f"PORT {port}", flush=True)
    Server().run()


class ServerError(Exception):
    """The server did not start, or answered a check request wrongly."""


def get(port: int, path: str, timeout: float = 30) -> tuple[int, bytes]:
    """One ``GET`` through the standard library: status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _is_ours(pid: int) -> bool:
    """Whether *pid* is still a process of this benchmark (not a reused pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"bench_asgi_wsgi" in cmdline.read()
    except OSError:
        return False


class Server:
    """A gunicorn subprocess serving one adapter."""

    def __init__(self, adapter: Adapter, workdir: Path, tag: str = "") -> None:
        self.adapter = adapter
        name = f"gunicorn-{adapter.key}{tag}"
        self.log = workdir / f"{name}.log"
        self.pidfile = workdir / f"{name}.pid"
        self.pidfile.unlink(missing_ok=True)
        self.port: int | None = None
        self.worker_pid: int | None = None
        self._port_line: list[str] = []
        with self.log.open("wb") as stderr:
            self.proc = subprocess.Popen(
                child_command("serve", adapter.key, str(self.pidfile)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self._reader = threading.Thread(target=self._read_port, daemon=True)
        self._reader.start()

    def _read_port(self) -> None:
        assert self.proc.stdout is not None
        self._port_line.append(self.proc.stdout.readline())

    def wait_ready(self, timeout: float) -> None:
        """Wait for the port and the worker, then check ``/hello`` and ``/sleep``.

        :raises ServerError: it did not come up in time, or answered wrongly.
        """
        deadline = time.monotonic() + timeout
        self._reader.join(timeout)
        line = self._port_line[0] if self._port_line else ""
        if not line.startswith("PORT "):
            raise ServerError(f"server did not start: {self.stderr_tail()}")
        self.port = int(line.split()[1])
        while (pid := self._read_pidfile()) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ServerError(f"no worker started: {self.stderr_tail()}")
            time.sleep(0.02)
        self.worker_pid = pid
        for path in ("/hello", "/sleep"):
            try:
                status, body = get(self.port, path)
            except OSError as exc:
                raise ServerError(f"GET {path}: {exc}; {self.stderr_tail()}") from exc
            if status != 200 or body != HELLO_BODY:
                raise ServerError(
                    f"GET {path}: status {status}, body {body[:60]!r}; "
                    f"{self.stderr_tail()}"
                )

    def _read_pidfile(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stderr_tail(self) -> str:
        if self.proc.poll() is not None:
            prefix = f"exit status {self.proc.returncode}"
        else:
            prefix = "running"
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return prefix
        return f"{prefix}: {lines[-1]}" if lines else prefix

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Quick shutdown (SIGINT), then SIGKILL for master and worker."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.worker_pid is not None and _is_ours(self.worker_pid):
            with contextlib.suppress(OSError):  # gone with its master
                os.kill(self.worker_pid, signal.SIGKILL)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_servers(
    adapters: list[Adapter], workdir: Path, tag: str = ""
) -> list[Server]:
    return [Server(adapter, workdir, tag) for adapter in adapters]
