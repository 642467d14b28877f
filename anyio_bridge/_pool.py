# moved to anyio_bridge._bridge.pool; shim until the imports are updated
from ._bridge.pool import *  # noqa: F403
from ._bridge.pool import __all__ as __all__
