"""hypercorn: checking it (and trio) can be imported, and its configuration.

With one worker, a :class:`hypercorn.config.Config` subclass hands hypercorn
the listening socket made beforehand.  With more, the socket goes to
``hypercorn.run`` as an ``fd://`` bind, and each worker imports the
application again (:mod:`.workers`).  hypercorn is an optional dependency
(the ``serve`` extra), imported only when serving.
"""

from __future__ import annotations

import importlib
import socket
import ssl
from typing import TYPE_CHECKING, Final

from .errors import ServeError
from .options import Backend, ServeOptions
from .workers import worker_application_path

if TYPE_CHECKING:
    from hypercorn.config import Config

__all__ = [
    "INSTALL_SERVE",
    "INSTALL_TRIO",
    "check_server",
    "check_tls",
    "make_config",
]

INSTALL_SERVE: Final = "pip install 'anyio-bridge[serve]'"
INSTALL_TRIO: Final = "pip install 'anyio-bridge[trio]'"


def check_server(backend: Backend) -> None:
    """Import hypercorn (and trio), or say how to install them.

    :raises ServeError: they are not installed.
    """
    if backend == "trio":
        try:
            import trio  # noqa: F401
        except ImportError:
            raise ServeError(
                f"--backend trio needs trio, which is not installed: {INSTALL_TRIO}"
            ) from None
    try:
        importlib.import_module(f"hypercorn.{backend}")
        import hypercorn.run  # noqa: F401
    except ImportError as exc:
        raise ServeError(
            f"anyio-bridge serve needs hypercorn, which is not installed ({exc}): "
            f"{INSTALL_SERVE}"
        ) from None


def make_config(
    options: ServeOptions, listener: socket.socket, directory: str
) -> Config:
    """hypercorn's configuration for *options*, serving on *listener*.

    With more than one worker, *listener* is detached: hypercorn takes over
    its file descriptor (and closes it at the end).
    """
    from hypercorn.config import Config, Sockets

    from .logs import ServerLogger

    config: Config
    if options.workers == 1:

        class ListenerConfig(Config):
            """Serves on *listener*, made beforehand, instead of on ``bind``."""

            def create_sockets(self) -> Sockets:
                if self.ssl_enabled:
                    return Sockets([listener], [], [])
                return Sockets([], [listener], [])

        config = ListenerConfig()
    else:
        # hypercorn.run gives its worker processes a copy of the configuration
        # and of the sockets it makes from `bind`: the listener goes there as
        # a file descriptor, which hypercorn takes over (and closes at the end).
        config = Config()
        config.bind = [f"fd://{listener.detach()}"]
        config.application_path = worker_application_path(options, directory)
    config.worker_class = options.backend
    config.workers = options.workers
    config.root_path = options.root_path
    config.loglevel = options.log_level.upper()
    config.logger_class = ServerLogger
    config.certfile = options.certfile
    config.keyfile = options.keyfile
    config.graceful_timeout = options.graceful_timeout
    config.keep_alive_timeout = options.keep_alive
    return config


def check_tls(options: ServeOptions) -> None:
    """Load ``--certfile`` and ``--keyfile``, or say why they cannot be.

    :raises ServeError: they cannot be loaded.
    """
    if options.certfile is None:
        return
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(options.certfile, options.keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ServeError(
            f"cannot load the TLS certificate --certfile {options.certfile} "
            f"--keyfile {options.keyfile}: {exc.strerror or exc}; give a "
            "certificate and its private key, both in PEM"
        ) from None
