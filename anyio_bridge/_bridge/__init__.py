"""The sync/async bridge behind :mod:`anyio_bridge.sync`, :mod:`anyio_bridge.local`
and :mod:`anyio_bridge.current_thread_executor`, one module per concern.

Read in this order:

* :mod:`.sync_to_async` -- :class:`SyncToAsync`: where a call goes (a
  thread-sensitive thread, the worker pool, an executor);
* :mod:`.calls` -- :class:`SyncCall`, the protocol between a caller and the
  thread running its call, including cancellation;
* :mod:`.async_to_sync` -- :class:`AsyncToSync`: where a coroutine runs, and
  the :class:`Job` a thread hands back to its caller's task;
* :mod:`.contexts` -- ``ThreadSensitiveContext`` and
  ``AsyncSingleThreadContext``;
* :mod:`.executor` -- ``CurrentThreadExecutor``, the waiting thread's queue;
* :mod:`.threads` and :mod:`.pool` -- the threads calls run on;
* :mod:`.state` -- every piece of mutable state, with its owner;
* :mod:`.local` -- ``Local`` and the hooks the bridge calls to carry it;
* :mod:`.coroutines` -- marking and running coroutines.

Nothing here is public: import from the front doors.
"""
