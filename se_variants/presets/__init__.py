"""Presets: literature modules built from the parts. Importing registers them all (in listing order)."""

from . import channel  # noqa: F401, I001
from . import cbam  # noqa: F401
from . import coord  # noqa: F401
from . import fusion  # noqa: F401
from . import simam  # noqa: F401
from . import scse  # noqa: F401
