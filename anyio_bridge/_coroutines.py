# moved to anyio_bridge._bridge.coroutines; shim until the imports are updated
from ._bridge.coroutines import *  # noqa: F403
from ._bridge.coroutines import __all__ as __all__
