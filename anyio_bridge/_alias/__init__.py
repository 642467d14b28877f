"""anyio-bridge installed as asgiref (see ``docs/asgiref-alias.md``).

:func:`install_as_asgiref` makes every ``import asgiref...`` in the process
give anyio-bridge's modules.  By concern:

- :mod:`.package`: the stand-in ``asgiref`` package and the finder that
  serves its modules (and refuses any other ``asgiref.*`` name);
- :mod:`.install`: :func:`install_as_asgiref`, and
  :class:`AsgirefAlreadyImportedError` when a real asgiref came first;
- :mod:`.startup`: the finder :data:`PTH_FILE` installs in a process that
  starts with :data:`ENV_VAR` set, which installs the alias when the process
  first imports asgiref (child processes);
- :mod:`.runner`: :func:`main`, ``python -m anyio_bridge.as_asgiref``.

``import anyio_bridge`` imports this package, so it loads only
:mod:`.package` and :mod:`.install`, which import only what that loads
anyway; :mod:`.startup` and :mod:`.runner` are imported when their names are
first looked up here.  The modules the alias maps are imported when it is
installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .install import (
    ENV_VAR,
    PROG,
    PTH_FILE,
    AsgirefAlreadyImportedError,
    install_as_asgiref,
)
from .package import ALIAS_OF, ASGIREF_VERSION, SUBMODULES

if TYPE_CHECKING:
    from .runner import main
    from .startup import (
        install_at_first_import as _install_at_first_import,  # noqa: F401
    )

__all__ = [
    "ALIAS_OF",
    "ASGIREF_VERSION",
    "ENV_VAR",
    "PROG",
    "PTH_FILE",
    "SUBMODULES",
    "AsgirefAlreadyImportedError",
    "install_as_asgiref",
    "main",
]

#: Names imported on first use: (module, name there).  The finder of
#: PTH_FILE imports ``_install_at_first_import`` from here, in environments
#: installed by any version: keep that name.
_LAZY = {
    "main": ("runner", "main"),
    "_install_at_first_import": ("startup", "install_at_first_import"),
}


def __getattr__(name: str) -> object:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib

    value: object = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value
