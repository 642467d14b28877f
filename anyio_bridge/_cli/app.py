"""The application: ``MODULE:APP`` parsed, imported and wrapped, with clear errors.

With ``--as-asgiref``, :func:`install_alias` runs before the application is
imported, in the serving process and in each worker.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final, cast

from .._alias import AsgirefAlreadyImportedError, install_as_asgiref
from ..sync import iscoroutinefunction
from ..wsgi import WsgiToAsgi
from .errors import ServeError, UsageError

__all__ = [
    "AppSpec",
    "WSGIApp",
    "install_alias",
    "load_wsgi_app",
    "parse_app_spec",
    "wsgi_candidates",
    "wsgi_to_asgi",
]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_MISSING: Final = object()


@dataclass(frozen=True)
class AppSpec:
    """Where the application is: ``module:attribute``.

    *module* is a dotted module name, imported with the current directory
    first on :data:`sys.path`, or the path of a ``.py`` file, imported under
    its file name with its directory first on :data:`sys.path` (as
    ``python path/to/file.py`` would).  *attribute* is a dotted attribute
    path inside the module.
    """

    module: str
    attribute: str

    @property
    def is_file(self) -> bool:
        """Whether :attr:`module` is the path of a ``.py`` file."""
        return self.module.endswith(".py")

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}"


def _dotted(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


def parse_app_spec(text: str) -> AppSpec:
    """Parse ``MODULE:APP`` (``MODULE`` may also be a ``.py`` file's path).

    :raises UsageError: the text is not of that form.
    """
    module, colon, attribute = text.rpartition(":")
    example = "for example myproject.wsgi:application or app.py:app"
    if not colon:
        raise UsageError(f"{text!r} has no ':'; expected MODULE:APP, {example}")
    if not module or not attribute:
        raise UsageError(f"{text!r} is not of the form MODULE:APP, {example}")
    if not _dotted(attribute):
        raise UsageError(
            f"{attribute!r} in {text!r} is not an attribute name (such as app "
            "or api.wsgi_app)"
        )
    spec = AppSpec(module, attribute)
    if not spec.is_file and not _dotted(module):
        raise UsageError(
            f"{module!r} in {text!r} is neither a dotted module name (such as "
            "package.module) nor the path of a .py file"
        )
    return spec


def _import_module(spec: AppSpec, directory: str) -> ModuleType:
    path: Path | None = None
    if spec.is_file:
        path = Path(directory, spec.module).resolve()
        if not path.is_file():
            raise ServeError(f"cannot import {spec.module!r}: no such file {path}")
        name = path.stem
        if not name.isidentifier():
            raise ServeError(
                f"cannot import {spec.module!r}: {name!r} is not a valid module name"
            )
        search_path = str(path.parent)
    else:
        name = spec.module
        search_path = directory
    if sys.path[:1] != [search_path]:
        sys.path.insert(0, search_path)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if name == missing or name.startswith(missing + "."):
            raise ServeError(
                f"cannot import {spec.module!r}: no module named {missing!r} "
                f"(looked in {search_path} and on sys.path); run the command "
                "from the directory that holds it, or give the path of its "
                ".py file (such as src/app.py:app)"
            ) from None
        raise ServeError(f"importing {spec.module!r} failed: {exc}") from None
    except Exception as exc:
        raise ServeError(
            f"importing {spec.module!r} failed: {type(exc).__name__}: {exc}",
            details="".join(traceback.format_exception(exc)),
        ) from None
    if path is not None and Path(module.__file__ or "").resolve() != path:
        raise ServeError(
            f"cannot import {spec.module!r}: the module name {name!r} is already "
            f"taken by {module.__file__ or module!r}; rename the file or use a "
            "dotted module name"
        )
    return module


def load_wsgi_app(spec: AppSpec, directory: str | None = None) -> WSGIApp:
    """Import and return the WSGI application *spec* names.

    :param directory: what relative names are found from (for a dotted module
        name, what goes first on :data:`sys.path`); the current directory by
        default.
    :raises ServeError: the module cannot be imported, lacks the attribute,
        or the attribute is not callable or is an ASGI application.
    """
    module = _import_module(spec, os.getcwd() if directory is None else directory)
    app: object = module
    for part in spec.attribute.split("."):
        app = getattr(app, part, _MISSING)
        if app is _MISSING:
            raise ServeError(
                f"module {spec.module!r} has no attribute {spec.attribute!r}"
                + _suggestion(spec, module)
            )
    if not callable(app):
        raise ServeError(
            f"{spec} is not a WSGI application: a {type(app).__name__} object "
            "is not callable" + _suggestion(spec, module)
        )
    if _is_async(app):
        raise ServeError(
            f"{spec} is an async callable, so an ASGI application, not a WSGI one; "
            "serve it with hypercorn or uvicorn directly"
        )
    if not _takes_two_arguments(app):
        raise ServeError(
            f"{spec} is not a WSGI application: it cannot be called with "
            f"(environ, start_response), its signature being {_signature(app)}; "
            "if it is an application factory, create the application in a "
            f"module (app = {spec.attribute}()) and name that"
        )
    return cast("WSGIApp", app)


def _is_async(app: object) -> bool:
    return iscoroutinefunction(app) or (
        not isinstance(app, type) and iscoroutinefunction(type(app).__call__)
    )


def _signature(app: object) -> inspect.Signature | None:
    try:
        return inspect.signature(app)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # builtins without a signature
        return None


def _takes_two_arguments(app: object) -> bool:
    signature = _signature(app)
    if signature is None:
        return True
    try:
        signature.bind({}, print)
    except TypeError:
        return False
    return True


def wsgi_candidates(module: ModuleType) -> list[str]:
    """The names at the top level of *module* that look like WSGI applications.

    That is an object (not a class, module or function) callable with two
    arguments, such as a Flask or Django application, or a function defined
    in *module* whose first parameter is ``environ``.
    """
    found = []
    for name, value in vars(module).items():
        if name.startswith("_") or not callable(value) or isinstance(value, type):
            continue
        if inspect.isfunction(value):
            parameters = list(inspect.signature(value).parameters)
            if value.__module__ != module.__name__ or parameters[:1] != ["environ"]:
                continue
        elif inspect.isroutine(value):
            continue
        if not _is_async(value) and _takes_two_arguments(value):
            found.append(name)
    return found


def _suggestion(spec: AppSpec, module: ModuleType) -> str:
    names = [f"{spec.module}:{name}" for name in wsgi_candidates(module)]
    if not names:
        return ""
    return f"; it has {', '.join(names)}" if len(names) > 1 else f"; try {names[0]}"


def install_alias() -> None:
    """Install anyio-bridge as asgiref, or raise :class:`ServeError`."""
    try:
        install_as_asgiref()
    except AsgirefAlreadyImportedError as exc:
        raise ServeError(str(exc)) from None


def wsgi_to_asgi(spec: AppSpec, directory: str, threads: int | None) -> WsgiToAsgi:
    """The application *spec* names, imported from *directory* and wrapped,
    with *threads* as :class:`~anyio_bridge.wsgi.WsgiToAsgi`'s limiter."""
    return WsgiToAsgi(load_wsgi_app(spec, directory), limiter=threads)
