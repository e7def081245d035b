"""se_variants: Squeeze-and-Excitation blocks composed from interchangeable squeeze, excitation and gate ops,
for 1-D, 2-D and 3-D inputs.

    >>> import se_variants as sv
    >>> block = sv.build_block("se", channels=64)                            # a preset
    >>> block = sv.build_block(channels=64, squeeze="max", excite="conv1d")  # parts
    >>> block = sv.build_block("ecapa_se", channels=512, dims=1)             # (N, C, T), takes mask=
"""

from . import excite, gate, squeeze  # noqa: F401  (registers the ops)
from . import compose  # noqa: F401  (registers the compositions)
from . import presets  # noqa: F401  (registers the presets)
from .compose import Fusion, Parallel, SEBlock, Serial
from .descriptor import Descriptor
from .factory import as_timm_attn, build_block
from .capture import attention_blocks, capture_scales
from .flops import count_flops
from .mask import lengths_to_mask
from .registry import COMPOSE, EXCITE, GATE, PRESET, SQUEEZE, Registry, SpecError

__version__ = "0.1.0"

__all__ = [
    "build_block",
    "as_timm_attn",
    "capture_scales",
    "attention_blocks",
    "lengths_to_mask",
    "count_flops",
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
