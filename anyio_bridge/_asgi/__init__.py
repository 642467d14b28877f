"""The ASGI helpers, by concern, behind the public front doors.

``queue`` and ``future`` are the message queue and the asyncio-task-shaped
view of an application run that ``communicator`` (``anyio_bridge.testing``)
and ``server`` (``anyio_bridge.server``) share; ``scopes`` and ``request``
are the test helpers; ``timeout``, ``compatibility`` and ``typing`` are the
implementations of the public modules of the same names.

Nothing is imported here: importing ``anyio_bridge`` loads none of it.
"""
