"""Importing this module installs anyio-bridge as asgiref, process-wide.

After ``import anyio_bridge.as_asgiref``, every ``import asgiref``,
``asgiref.sync``, ``asgiref.local``, ``asgiref.testing`` and so on gives
anyio-bridge's modules (:func:`install_as_asgiref`; ``docs/asgiref-alias.md``).
Import it before anything imports asgiref, or it raises
:class:`AsgirefAlreadyImportedError`; importing it again does nothing.  The
other ways in, without changing code:

- ``python -m anyio_bridge.as_asgiref SCRIPT [ARG ...]`` or
  ``python -m anyio_bridge.as_asgiref -m MODULE [ARG ...]`` runs a program
  with the alias installed first;
- ``pytest -p anyio_bridge.as_asgiref`` installs it before pytest loads the
  other plugins and the conftest files;
- ``anyio-bridge serve --as-asgiref MODULE:APP`` installs it in the server and
  in each worker before importing the application.

Installing it sets ``ANYIO_BRIDGE_AS_ASGIREF=1`` in the environment: the
Python processes the program starts (``multiprocessing`` children, Django's
``runserver`` reloader, ``subprocess`` running Python) install the alias when
they import asgiref, and so does any process started with that variable.
"""

from __future__ import annotations

import sys

from ._alias import AsgirefAlreadyImportedError, install_as_asgiref, main

__all__ = ["AsgirefAlreadyImportedError", "install_as_asgiref"]

if __name__ != "__main__":
    install_as_asgiref()
else:  # pragma: no cover - python -m, run in subprocesses by the tests
    # main() installs the alias once the command line is checked, and
    # reports an asgiref imported already in one message.
    sys.exit(main())
