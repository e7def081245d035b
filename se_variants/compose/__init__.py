"""Ways of composing blocks, registered in ``COMPOSE`` under the block names a spec's ``name`` selects:
``parts`` (the SE block from squeeze / excite / gate), ``serial``, ``parallel`` and ``fusion`` (K inputs)."""

from ..registry import COMPOSE
# registration order is the listing order
from .block import SEBlock  # noqa: I001
from .multi import Parallel, Serial
from .fusion import Fusion

__all__ = ["COMPOSE", "SEBlock", "Serial", "Parallel", "Fusion"]
