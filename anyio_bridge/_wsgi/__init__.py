"""The machinery behind :mod:`anyio_bridge.wsgi`, one module per concern.

One request is one :class:`~.instance.WsgiToAsgiInstance`, shared by two sides:

* the **request task** (on the event loop) receives and sends ASGI messages;
* a **worker thread** (from :mod:`anyio_bridge._bridge.pool`) runs the WSGI
  application and iterates its response.

They talk through the instance's fields, guarded by one lock
(:mod:`.channel`):

* thread → loop: an *outbox* of response items (:mod:`.response` puts them
  in, :mod:`.sender` sends them).  Each body part is handed over as soon as
  the application produces it (PEP 3333 wants that, and a streamed response
  must not wait for a buffer to fill); the thread wakes the request task
  natively only if it is parked.  Parts that arrive together are sent as one
  message, so a response made in one go -- the common case -- costs one
  wake-up and two ``send`` calls.
* loop → thread: the *inbox* of request body pieces (:mod:`.body`), filled
  by a reader task that only exists when the body or the response is
  streamed, and the ``aborted`` flag (client gone, request cancelled), both
  signalled through a :class:`threading.Condition` the thread waits on.
* backpressure: ``pending`` counts response bytes handed over but not yet
  sent; the thread waits while it exceeds the send buffer size.

Modules:

* :mod:`.environ` -- the PEP 3333 environ built from the scope, ``wsgi.errors``;
* :mod:`.input` -- ``wsgi.input`` for a streamed body, and its errors;
* :mod:`.files` -- ``wsgi.file_wrapper`` and the pathsend decision;
* :mod:`.settings` -- the options shared by every request of one adapter;
* :mod:`.channel` -- the state shared by both sides, and ending a request;
* :mod:`.body` -- the request body: reader task, inbox, read-ahead, dropping;
* :mod:`.response` -- the thread side: the response as the app describes it;
* :mod:`.sender` -- the loop side: sending the outbox, releasing back-pressure;
* :mod:`.instance` -- :class:`WsgiToAsgiInstance`, the request's course;
* :mod:`.adapter` -- :class:`WsgiToAsgi`.
"""
