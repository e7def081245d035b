"""Squeeze ops: x (N, C, *spatial) → descriptor (N, S, C', *spatial'). Importing this package registers them all."""

# registration order is the listing order
from . import pool  # noqa: F401, I001
from . import learned  # noqa: F401
from . import dct  # noqa: F401
from .base import Squeeze

__all__ = ["Squeeze"]
