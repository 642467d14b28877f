# moved to anyio_bridge._bridge.state; shim until the imports are updated
from ._bridge.state import *  # noqa: F403
from ._bridge.state import __all__ as __all__
