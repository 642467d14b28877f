"""What ``--reload`` watches, and a polling watcher (no dependency).

The files are those of the modules imported once the application is loaded
that belong to the project, not to Python or the installed packages; and
every ``.py`` file in their directories and in the application's directory,
so that a module imported later (Django imports views on the first request)
or a new one counts too.
"""

from __future__ import annotations

import os
import site
import sysconfig
from collections.abc import Iterable
from types import ModuleType

__all__ = ["Watcher", "app_directory", "project_files"]

_Stamp = tuple[int, int]  # modification time (ns) and size


def _library_directories() -> tuple[str, ...]:
    """Where Python's own modules and the installed packages are."""
    paths = sysconfig.get_paths()
    directories = {
        paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")
    }
    directories.update(site.getsitepackages())
    directories.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.abspath(path), "") for path in directories)


def project_files(modules: Iterable[ModuleType]) -> list[str]:
    """The ``.py`` files of *modules* outside the library directories."""
    libraries = _library_directories()
    files = set()
    for module in modules:
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(".py"):
            path = os.path.abspath(file)
            if not path.startswith(libraries):
                files.add(path)
    return sorted(files)


def _stamp(path: str) -> _Stamp | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _python_files(directory: str) -> list[str]:
    """The ``.py`` files of *directory*; none if it is gone."""
    try:
        with os.scandir(directory) as entries:
            return [entry.path for entry in entries if entry.name.endswith(".py")]
    except OSError:
        return []


class Watcher:
    """Notices when watched files change, appear or disappear, by polling."""

    def __init__(self) -> None:
        self._files: set[str] = set()
        self._directories: set[str] = set()
        self._stamps: dict[str, _Stamp | None] = {}

    def watch(self, files: Iterable[str], directories: Iterable[str] = ()) -> None:
        """Watch *files*, and the ``.py`` files of *directories* and of the
        files' directories.  Those watched already keep their last state."""
        files = [os.path.abspath(file) for file in files]
        self._files.update(files)
        self._directories.update(os.path.dirname(file) for file in files)
        self._directories.update(os.path.abspath(path) for path in directories)
        for path in self._paths():
            if path not in self._stamps:
                self._stamps[path] = _stamp(path)

    def _paths(self) -> set[str]:
        paths = set(self._files)
        for directory in self._directories:
            paths.update(_python_files(directory))
        return paths

    def changed(self) -> str | None:
        """A file changed since the last call (or :meth:`watch`), if any."""
        stamps = {path: _stamp(path) for path in self._paths() | set(self._stamps)}
        changed = sorted(
            path for path, stamp in stamps.items() if self._stamps.get(path) != stamp
        )
        self._stamps = stamps
        return changed[0] if changed else None

    @staticmethod
    def display(path: str) -> str:
        """*path* relative to the current directory, when it is below it."""
        relative = os.path.relpath(path)
        return path if relative.startswith(os.pardir) else relative


def app_directory(module: str) -> str:
    """The application's directory: the current one for a dotted module
    name, or that of a ``.py`` file."""
    return (
        os.path.dirname(os.path.abspath(module))
        if module.endswith(".py")
        else os.getcwd()
    )
