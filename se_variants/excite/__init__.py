"""Excitation ops: descriptor (N, S, C', *spatial') → logits (N, C', *spatial'). Importing registers them all."""

# registration order is the listing order
from . import fc  # noqa: F401, I001
from . import conv  # noqa: F401
from . import attn  # noqa: F401
from .base import Excite

__all__ = ["Excite"]
