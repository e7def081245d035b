"""Ways of composing blocks: the SE block, serial, parallel and multi-input fusion.

``COMPOSE`` maps the ``type`` key of a block spec to its class.
"""

from ..registry import Registry
from .block import SEBlock
from .fusion import Fusion
from .multi import Parallel, Serial

__all__ = ["COMPOSE", "SEBlock", "Serial", "Parallel", "Fusion"]

#: composition types, selected by ``type:`` in a block spec (default ``block``)
COMPOSE = Registry("composition")
COMPOSE.register("block")(SEBlock)
COMPOSE.register("serial")(Serial)
COMPOSE.register("parallel")(Parallel)
COMPOSE.register("fusion")(Fusion)
