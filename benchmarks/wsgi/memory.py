"""The ``memory`` scenario: one big transfer in a fresh process, watched.

Each adapter and backend runs in a new ``bench_wsgi.py --child memory``
process with ``TMPDIR`` pointing to an empty directory.  The child makes a
1 MiB warm-up transfer, resets the kernel's peak RSS, then times the big
transfer while a thread samples RSS and an audit hook counts the temp files
created; it prints what that cost as one JSON line.  The parent kills a
child that runs too long or grows past the RSS cap.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from ..report import MiB
from .adapters import ADAPTER_BY_KEY, ADAPTERS, Adapter, NotInstalledError
from .app import bench_app
from .driving import download, upload
from .model import AppCache, Results, Settings, child_command, error_status, progress


class _TempWatch:
    """Counts files created under *tmpdir* and samples RSS and temp bytes."""

    def __init__(self, tmpdir: str) -> None:
        self.tmpdir = os.path.realpath(tmpdir)
        self.active = False
        self.files = 0
        self.peak_rss = 0
        self.peak_temp = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tmpfile_flag = getattr(os, "O_TMPFILE", 0)

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        """Count files created under the temp dir (an audit hook).

        ``open`` comes with (path, mode, flags): from ``os.open`` with mode
        ``None`` (``tempfile`` ends up there, with ``O_CREAT`` or, for an
        unnamed file, ``O_TMPFILE`` on the directory itself), and from
        ``open()`` with a mode string; ``tempfile`` also calls ``open()`` on
        the directory with an opener, which is not a file of its own.
        """
        if not self.active or event != "open" or len(args) < 3:
            return
        path, mode, flags = args[0], args[1], args[2]
        if not isinstance(path, str | bytes | os.PathLike) or not isinstance(
            flags, int
        ):
            return
        path = os.path.realpath(os.fsdecode(path))
        if not path.startswith(self.tmpdir):
            return
        if isinstance(mode, str):
            created = path != self.tmpdir and any(c in mode for c in "wax+")
        else:
            tmpfile = self._tmpfile_flag
            created = bool(flags & os.O_CREAT) or bool(
                tmpfile and flags & tmpfile == tmpfile
            )
        if created:
            self.files += 1

    def start(self) -> None:
        self.active = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.active = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample_once()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._sample_once()

    def _sample_once(self) -> None:
        self.peak_rss = max(self.peak_rss, current_rss())
        try:
            fds = os.listdir("/proc/self/fd")
        except OSError:
            return
        total = sum(self._temp_size(fd) for fd in fds)
        self.peak_temp = max(self.peak_temp, total)

    def _temp_size(self, fd: str) -> int:
        """Size of the file open as *fd* if it lives under the temp dir, else 0."""
        link = f"/proc/self/fd/{fd}"
        try:
            if os.readlink(link).startswith(self.tmpdir):
                return os.stat(link).st_size
        except OSError:
            pass
        return 0


def current_rss() -> int:
    """Resident set size of this process in bytes."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        pass
    try:
        import psutil
    except ImportError:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    return int(psutil.Process().memory_info().rss)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS (VmHWM) of this process; ``False`` if not."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _peak_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def child_memory(
    adapter_key: str, backend: str, direction: str, size: int, tmpdir: str
) -> None:
    """Child process: one big transfer; prints a JSON line with what it cost."""
    tempfile.tempdir = tmpdir
    watch = _TempWatch(tmpdir)
    sys.addaudithook(watch.audit)
    adapter = ADAPTER_BY_KEY[adapter_key]
    result: dict[str, Any] = {}
    try:
        app = adapter.build(bench_app)
        transfer = upload if direction == "upload" else download

        async def main() -> None:
            await transfer(app, min(size, MiB))  # warm-up: threads, imports
            gc.collect()
            baseline = current_rss()
            reset = _reset_peak_rss()
            watch.peak_rss = baseline
            watch.start()
            try:
                seconds = await transfer(app, size)
            finally:
                watch.stop()
            peak = max(watch.peak_rss, _peak_rss() if reset else 0)
            result.update(
                rss_growth_mib=max(0, peak - baseline) / MiB,
                baseline_mib=baseline / MiB,
                temp_files=watch.files,
                temp_peak_mib=watch.peak_temp / MiB,
                seconds=seconds,
            )

        anyio.run(main, backend=backend)
    except NotInstalledError:
        result = {"status": "not installed"}
    except Exception as exc:
        result = {"status": error_status(exc)}
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)  # don't wait for worker threads (or a hung transfer) to end


def _memory_child_run(
    adapter: Adapter,
    backend: str,
    direction: str,
    settings: Settings,
    workdir: Path,
) -> dict[str, Any]:
    tmpdir = Path(tempfile.mkdtemp(prefix=f"tmp-{adapter.key}-{backend}-", dir=workdir))
    out_path = workdir / f"{tmpdir.name}.out"
    err_path = workdir / f"{tmpdir.name}.err"
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONWARNINGS="ignore")
    command = child_command(
        "memory",
        adapter.key,
        backend,
        direction,
        str(settings.memory_size),
        str(tmpdir),
    )
    try:
        import psutil
    except ImportError:
        psutil = None  # type: ignore[assignment]
    status: str | None = None
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
        )
        watched = psutil.Process(proc.pid) if psutil is not None else None
        peak_child_mib = 0.0
        while proc.poll() is None:
            if time.perf_counter() - started > settings.memory_timeout:
                status = f"timeout (> {settings.memory_timeout:g} s)"
            elif watched is not None:
                try:
                    rss_mib = watched.memory_info().rss / MiB
                except psutil.Error:
                    rss_mib = 0.0
                peak_child_mib = max(peak_child_mib, rss_mib)
                if rss_mib > settings.memory_cap_mib:
                    status = f"killed: RSS > {settings.memory_cap_mib} MiB"
            if status is not None:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
    leftover = sum(1 for _ in tmpdir.iterdir())
    shutil.rmtree(tmpdir, ignore_errors=True)
    if status is not None:
        return {"status": status, "temp_files_left": leftover}
    lines = out_path.read_text(errors="replace").strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = err_path.read_text(errors="replace").strip().splitlines()
        why = tail[-1] if tail else f"exit status {proc.returncode}"
        return {"status": f"error: child failed: {why}"}
    result["temp_files_left"] = leftover
    return result


def run_memory(
    settings: Settings,
    backends: tuple[str, ...],
    results: Results,
    apps: AppCache,
    workdir: Path,
) -> None:
    jobs = [
        (adapter, backend, direction)
        for adapter in ADAPTERS
        for backend in backends
        for direction in ("upload", "download")
    ]
    for n, (adapter, backend, direction) in enumerate(jobs, 1):
        cell = results.cell(f"mem_{direction}", adapter.key, backend)
        if apps.for_cell(cell, adapter) is None:
            continue
        progress(f"memory: {n}/{len(jobs)} {adapter.key} {backend} {direction}")
        results.current = (f"mem_{direction}", adapter.key, backend)
        try:
            result = _memory_child_run(adapter, backend, direction, settings, workdir)
        except Exception as exc:
            result = {"status": error_status(exc)}
        status = result.pop("status", None)
        if status is not None:
            cell.status = status
            cell.info = result
        else:
            cell.values[0] = result["rss_growth_mib"]
            cell.info = result
    results.current = None
