"""``python -m anyio_bridge.as_asgiref``: run a program with the alias installed.

:func:`main` installs the alias, then runs a script or module as
``python SCRIPT`` or ``python -m MODULE`` would (a module, directory or zip
file through :mod:`runpy`, imported only then).
"""

from __future__ import annotations

import functools
import os
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from .install import PROG, AsgirefAlreadyImportedError, install_as_asgiref

__all__ = ["main"]

_USAGE: Final = f"usage: {PROG} SCRIPT [ARG ...]\n       {PROG} -m MODULE [ARG ...]\n"
_HELP: Final = f"""{_USAGE}
Run a Python program with anyio-bridge installed as asgiref: every
`import asgiref...` in it gets anyio-bridge's modules.

  SCRIPT     a Python file (or a directory or zip file with a __main__.py),
             run as `python SCRIPT` runs it
  -m MODULE  a module (or a package with a __main__ module), run as
             `python -m MODULE` runs it
  ARG ...    the program's arguments: its sys.argv[1:]

Options for the interpreter go before `-m anyio_bridge.as_asgiref`.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m anyio_bridge.as_asgiref``; return the exit status.

    *argv* is the command's arguments (``sys.argv[1:]`` by default).  The
    program's own exit status arrives as :class:`SystemExit`.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        return _usage_error("expected SCRIPT or -m MODULE")
    first, rest = args[0], args[1:]
    if first in ("-h", "--help"):
        print(_HELP, end="")
        return 0
    run: Callable[[], int]
    if first.startswith("-m"):
        module = first[2:]
        if not module:
            if not rest:
                return _usage_error("argument -m: expected a module name")
            module, rest = rest[0], rest[1:]
        run = functools.partial(_run_module, module, rest)
    elif first.startswith("-"):
        return _usage_error(
            f"unrecognized option {first!r}: give SCRIPT or -m MODULE (options "
            "for the interpreter go before -m anyio_bridge.as_asgiref)"
        )
    else:
        run = functools.partial(_run_script, first, rest)
    try:
        install_as_asgiref()
    except AsgirefAlreadyImportedError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return run()


def _usage_error(message: str) -> int:
    print(f"{_USAGE}{PROG}: error: {message}", file=sys.stderr)
    return 2


def _run_script(path: str, args: list[str]) -> int:
    import pkgutil
    import runpy

    if not os.path.exists(path):
        print(
            f"{PROG}: can't open file {os.path.abspath(path)!r}: "
            "[Errno 2] No such file or directory",
            file=sys.stderr,
        )
        return 2
    sys.argv[:] = [path, *args]
    is_file = pkgutil.get_importer(path) is None  # else a directory or zip file
    # sys.path[0] is the current directory, put there by `python -m`; with
    # -P (sys.flags.safe_path) it is not, and python SCRIPT would add nothing.
    if not getattr(sys.flags, "safe_path", False):
        if is_file:
            sys.path[0] = os.path.dirname(os.path.realpath(path))
        else:  # runpy puts the directory or zip file first
            del sys.path[0]
    if is_file and not path.endswith(".pyc"):
        return _run(functools.partial(_exec_main, path))
    return _run(lambda: runpy.run_path(path, run_name="__main__"))


def _exec_main(path: str) -> None:
    """Run the source file *path* in a new ``__main__``, as ``python SCRIPT`` does.

    Not :func:`runpy.run_path`: that sets ``__file__`` to *path* as given,
    where python gives the absolute path (sys.argv[0] stays as given), and
    puts the old ``__main__`` back once the script's top level returns, while
    its threads and atexit functions may still need the script's.
    """
    import builtins
    from importlib.machinery import SourceFileLoader

    filename = os.path.abspath(path)
    loader = SourceFileLoader("__main__", filename)
    module = types.ModuleType("__main__")
    vars(module).update(
        __file__=filename, __loader__=loader, __builtins__=builtins, __cached__=None
    )
    code = compile(loader.get_data(filename), filename, "exec", dont_inherit=True)
    sys.modules["__main__"] = module
    exec(code, vars(module))


def _run_module(name: str, args: list[str]) -> int:
    import runpy

    # As python -m: "-m" while the module is looked up, then its file (set
    # by runpy); sys.path[0] stays the current directory.
    sys.argv[:] = ["-m", *args]
    return _run(lambda: runpy.run_module(name, run_name="__main__", alter_sys=True))


def _run(program: Callable[[], object]) -> int:
    """Run *program*; report an exception from it as python would, with status 1.

    The frames of this module, of :mod:`runpy` and of the import system that
    come before the program's are left out of the traceback.  An
    :class:`ImportError` with no frames left came from runpy not finding the
    program, which python reports in one line.
    """
    try:
        program()
    except Exception as exc:
        tb = exc.__traceback__
        while tb is not None and _is_runner_frame(tb.tb_frame.f_globals):
            tb = tb.tb_next
        if tb is None and isinstance(exc, ImportError):
            print(f"{PROG}: {exc}", file=sys.stderr)
        else:
            sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        return 1
    return 0


def _is_runner_frame(namespace: Mapping[str, object]) -> bool:
    name = namespace.get("__name__")
    return name in (__name__, "runpy") or str(name).startswith("importlib.")
