"""FLOP counting, the one place that does it (``se-variants show`` and the runner's cost columns).

``count_flops(module, *inputs)`` counts with ``torch.utils.flop_counter.FlopCounterMode``: 2 per multiply-add
of matmuls, convolutions and attention; elementwise work is not counted (:data:`FLOPS_COUNTED`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["count_flops", "module_flops", "counted_run", "child_flops", "FLOPS_COUNTED"]

#: what ``count_flops`` counts, as printed by ``show``
FLOPS_COUNTED = (
    "torch.utils.flop_counter: 2 per multiply-add of matmuls, convolutions and attention; "
    "elementwise work (pooling, norms, activations, gates, the x·scale product) is not counted"
)


def _pad4(shape: Sequence[int]) -> tuple[int, ...]:
    return (1,) * (4 - len(shape)) + tuple(shape)


def _cpu_sdpa_flops(query, key, value, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(_pad4(query), _pad4(key), _pad4(value))


def _cpu_sdpa_backward_flops(grad_out, query, key, value, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(_pad4(grad_out), _pad4(query), _pad4(key), _pad4(value))


def _extra_formulas() -> dict[Any, Any]:
    """Formulas torch's counter lacks: on CPU, ``scaled_dot_product_attention`` runs the op
    ``_scaled_dot_product_flash_attention_for_cpu``, which torch 2.x does not count (it would report 0)."""
    from torch.utils.flop_counter import flop_registry

    aten = torch.ops.aten
    extra = {}
    for op, formula in (
        ("_scaled_dot_product_flash_attention_for_cpu", _cpu_sdpa_flops),
        ("_scaled_dot_product_flash_attention_for_cpu_backward", _cpu_sdpa_backward_flops),
    ):
        packet = getattr(aten, op, None)
        if packet is not None and packet not in flop_registry:
            extra[packet] = formula
    return extra


def counted_run(module: nn.Module, inputs: tuple[Any, ...], backward: bool = False) -> tuple[Any, Any]:
    """(the FlopCounterMode after one ``module(*inputs)`` call, the call's output)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=_extra_formulas())
    if backward:
        with counter:
            out = module(*inputs)
            out.float().sum().backward()
    else:
        with torch.no_grad(), counter:
            out = module(*inputs)
    return counter, out


def count_flops(module: nn.Module, *inputs: Any, backward: bool = False) -> int:
    """FLOPs of one ``module(*inputs)`` call, counted by ``torch.utils.flop_counter.FlopCounterMode``.

    Counted: 2 per multiply-add of matmuls, convolutions and attention (``FLOPS_COUNTED``); elementwise ops are
    not. ``backward=True`` also runs ``out.sum().backward()`` and includes its FLOPs (inputs that should get
    gradients must have ``requires_grad``). The module's train/eval mode is left as it is.
    """
    return counted_run(module, inputs, backward)[0].get_total_flops()


def child_flops(module: nn.Module, counter: Any) -> dict[str, int]:
    """Forward FLOPs of each direct child of ``module`` from a counter of one of its calls."""
    counts = counter.get_flop_counts()
    root = type(module).__name__
    return {name: sum(counts.get(f"{root}.{name}", {}).values()) for name, _ in module.named_children()}


def module_flops(module: nn.Module, *inputs: Any) -> dict[str, int]:
    """Forward FLOPs of each direct child of ``module`` (by attribute name), as ``count_flops`` counts them."""
    return child_flops(module, counted_run(module, inputs)[0])
