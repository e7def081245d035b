"""Models the runner trains, by name: ``cifar_resnet`` (He et al. 2016, with a small 8×8 variant), ``timm``
(any timm model that takes ``attn_layer``), ``torchvision`` (torchvision ResNets), and for (N, C, L) series
``fcn`` and ``resnet_tsc`` (Wang et al. 2017 as Ismail Fawaz et al. 2019 ran them; they take NaN-padded batches).

Every model factory is called as ``factory(in_channels, num_classes, block, **options)``, where ``block`` is a
:func:`se_variants.build_block` spec (or None for the no-attention baseline); the options are keyword-only and
typed, so the ``model:`` config node is validated by :data:`MODEL` like a squeeze or an excite node.
"""

from ..registries import MODEL
from . import cifar_resnet, fcn, resnet_tsc, timm_model, torchvision_resnet  # noqa: F401  (register the models)
from .placement import PLACEMENTS, Placement

__all__ = ["MODEL", "PLACEMENTS", "Placement"]
