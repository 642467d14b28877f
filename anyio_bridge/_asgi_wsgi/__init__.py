"""The machinery behind :class:`anyio_bridge.wsgi.AsgiToWsgi`.

An ASGI application under a WSGI server: the server's threads call the
adapter, the application runs on an event loop thread shared by the process.

* :mod:`.settings` -- the adapter's options, checked once;
* :mod:`.scope` -- the ASGI scope built from the environ, and how much body
  to read;
* :mod:`.messages` -- checking response messages, turning them into WSGI's;
* :mod:`.exchange` -- one request as both threads see it (body in, response
  out, disconnect), and the WSGI thread's side of it;
* :mod:`.task` -- the request task on the loop: ``receive``, ``send``, and
  running the application;
* :mod:`.response` -- the WSGI thread's side: what the WSGI call returns;
* :mod:`.lifespan` -- startup and shutdown, once per process;
* :mod:`.runtime` -- the loop and lifespan an adapter has in this process,
  across ``fork()`` and interpreter exit;
* :mod:`.adapter` -- :class:`~.adapter.AsgiToWsgi`.
"""
