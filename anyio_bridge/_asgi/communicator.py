"""ApplicationCommunicator: run one ASGI application and talk to it, for tests.

The implementation behind ``anyio_bridge.testing.ApplicationCommunicator``
(``asgiref.testing.ApplicationCommunicator`` under the asgiref stand-in).
Starting and ending the application is its base class's part
(:mod:`.harness`); exchanging messages with it is this module's.
``docs/testing.md`` describes the behaviour in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import anyio.lowlevel

from .harness import ApplicationHarness, Message
from .timeout import timeout as _timeout

__all__ = ["ApplicationCommunicator", "Message"]


class ApplicationCommunicator(ApplicationHarness):
    """Run an ASGI application and exchange messages with it, for tests.

    The application is called once, with *scope*, a ``receive`` callable that
    returns what :meth:`send_input` was given, in order, and a ``send``
    callable that queues messages for :meth:`receive_output`.  It runs in a
    new task that starts with an empty :mod:`contextvars` context, as it
    would in a server.

    Use the communicator as ``async with ApplicationCommunicator(app, scope)
    as communicator:``.  The application then starts when the block is
    entered, runs in a task group owned by the block, and is cancelled and
    awaited when the block is left; this works on asyncio and trio.  If the
    application failed and no method has raised its exception yet, leaving
    the block raises it (unless the block itself is raising, or
    ``stop(exceptions=False)`` was called).

    Without ``async with``, the communicator works like asgiref's, on asyncio
    only: the first method call starts the application as an asyncio task;
    :meth:`wait` or :meth:`stop` ends it, or garbage collection of the
    communicator cancels it.  On trio, the methods then raise
    :class:`RuntimeError` asking for ``async with``.

    An exception raised by the application is kept, and the next
    :meth:`send_input`, :meth:`receive_output`, :meth:`receive_nothing`,
    :meth:`wait` or ``stop()`` raises it (again at every later call).
    :meth:`receive_output` first hands out the messages the application sent
    before it failed.

    Once the application has been cancelled (by a timeout of
    :meth:`receive_output` or :meth:`wait`, by :meth:`stop` or by
    ``future.cancel()``), :meth:`send_input`, :meth:`receive_output`,
    :meth:`receive_nothing` and ``stop()`` raise :class:`ApplicationCancelled`
    instead, on both backends, as asgiref's raise the task's
    :class:`asyncio.CancelledError` (of which it is a subclass); :meth:`wait`
    returns.  Leaving the ``async with`` block raises neither.

    :param application: an ASGI 3 application, or an ASGI 2 one (converted
        with :func:`~anyio_bridge.compatibility.guarantee_single_callable`).
    :param scope: the connection scope given to the application as is.
    """

    # Entering and leaving ``async with``, ``future`` and ``stop()`` come from
    # ApplicationHarness (harness.py), with the application's run and queues.

    # -- exchanging messages -----------------------------------------------------

    async def send_input(self, message: Mapping[str, Any]) -> None:
        """Queue *message* for the application's ``receive``.

        :param message: an ASGI message (a dictionary with a ``type`` key).
        :raises Exception: the application's exception, if it has failed.
        :raises ApplicationCancelled: if the application was cancelled.
        :raises RuntimeError: on trio outside ``async with``, or after the
            ``async with`` block.
        """
        run = self._started()
        run.raise_outcome()
        await self.input_queue.put(message)

    async def receive_output(self, timeout: float | None = 1) -> Message:
        """Return the next message the application sent, waiting for it.

        Messages sent before the application failed are returned first; after
        them, the application's exception is raised.

        :param timeout: seconds to wait, or ``None`` to wait without limit.
        :returns: the message, as the application sent it.
        :raises TimeoutError: if no message came within *timeout*.  The
            application is then cancelled, and this waits for it to end; the
            next calls raise :class:`ApplicationCancelled`.
        :raises Exception: the application's exception, if it failed (also
            when it fails while being cancelled after the timeout).
        :raises ApplicationCancelled: if the application was cancelled (after
            the messages it sent before).
        :raises RuntimeError: on trio outside ``async with``, or after the
            ``async with`` block.
        """
        run = self._started()
        try:
            with _timeout(timeout):
                while True:
                    if not self.output_queue.empty():
                        return self.output_queue.get_nowait()
                    run.raise_outcome()
                    await self.output_queue._wait()
        except TimeoutError:
            await self._cancel_and_wait(run)
            self._raise_failure(run)
            raise

    async def receive_nothing(
        self, timeout: float = 0.1, interval: float = 0.01
    ) -> bool:
        """Check that the application sends nothing within *timeout* seconds.

        Returns as soon as a message is waiting, and at once when the
        application has already finished.  Waiting messages stay queued for
        :meth:`receive_output`.

        :param timeout: seconds to watch for a message.
        :param interval: accepted for compatibility with asgiref, which polls
            every *interval* seconds; this implementation is woken by the
            message itself, so the value is not used.
        :returns: ``True`` if no message is waiting, ``False`` otherwise.
        :raises Exception: the application's exception, if it has failed
            (before or during the wait).
        :raises ApplicationCancelled: if the application was cancelled before
            the call.
        :raises RuntimeError: on trio outside ``async with``, or after the
            ``async with`` block.
        """
        run = self._started()
        run.raise_outcome()
        if self.output_queue.empty() and not run.finished:
            with anyio.move_on_after(timeout):
                await self.output_queue._wait()
        else:
            await anyio.lowlevel.checkpoint()
        self._raise_failure(run)
        return self.output_queue.empty()

    async def wait(self, timeout: float | None = 1) -> None:
        """Wait for the application to return.

        An application that ended because it was cancelled (by :meth:`stop`
        or after a timeout) counts as returned.

        :param timeout: seconds to wait, or ``None`` to wait without limit.
        :raises TimeoutError: if the application is still running after
            *timeout*.  It is then cancelled, and this waits for it to end.
        :raises Exception: the application's exception, if it failed.
        :raises RuntimeError: on trio outside ``async with``, or after the
            ``async with`` block.
        """
        run = self._started()
        try:
            with _timeout(timeout):
                await run.wait()
        except TimeoutError:
            await self._cancel_and_wait(run)
            self._raise_failure(run)
            raise
        self._raise_failure(run)

    async def _next_message(self) -> Message:
        """The next message; used by :func:`http_request`.

        Unlike :meth:`receive_output`, this does not wait for a message from
        an application that has returned.
        """
        run = self._started()
        while True:
            if not self.output_queue.empty():
                return self.output_queue.get_nowait()
            self._raise_failure(run)
            if run.finished:
                raise RuntimeError(
                    "the application returned without completing the response"
                )
            await self.output_queue._wait()
