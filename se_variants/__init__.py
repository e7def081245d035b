"""se_variants: Squeeze-and-Excitation blocks composed from interchangeable squeeze, excitation and gate ops.

    >>> import se_variants as sv
    >>> block = sv.build_block("se", channels=64)                       # a preset
    >>> block = sv.build_block(channels=64, squeeze="max", excite="conv1d")  # parts
"""

from . import excite, gate, squeeze  # noqa: F401  (registers the ops)
from . import presets  # noqa: F401  (registers the presets)
from .compose import COMPOSE, Fusion, Parallel, SEBlock, Serial
from .descriptor import Descriptor
from .factory import as_timm_attn, build_block
from .capture import attention_blocks, capture_scales
from .registry import EXCITE, GATE, PRESET, SQUEEZE, Registry, SpecError

__version__ = "0.1.0"

__all__ = [
    "build_block",
    "as_timm_attn",
    "capture_scales",
    "attention_blocks",
    "SQUEEZE",
    "EXCITE",
    "GATE",
    "PRESET",
    "COMPOSE",
    "Registry",
    "SpecError",
    "Descriptor",
    "SEBlock",
    "Serial",
    "Parallel",
    "Fusion",
]
