"""FLOP counting, the one place that does it (``se-variants show`` and the runner's cost columns).

``count_flops(module, *inputs)`` counts with torch's own formulas (``torch.utils.flop_counter.flop_registry``,
what ``FlopCounterMode`` uses): 2 per multiply-add of matmuls, convolutions and attention; elementwise work is not
counted (:data:`FLOPS_COUNTED`). The counting mode is ours, a plain ``TorchDispatchMode`` that applies those
formulas to every op and adds the result to the modules being called: ``FlopCounterMode`` itself imports
torch's compiler stack on first use (about a second), which a command that counts one block should not pay.
``tests/test_cli.py`` checks the counts against ``FlopCounterMode``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["count_flops", "module_flops", "counted_run", "child_flops", "Counter", "FLOPS_COUNTED"]

#: what ``count_flops`` counts, as printed by ``show``
FLOPS_COUNTED = (
    "torch's flop formulas (torch.utils.flop_counter): 2 per multiply-add of matmuls, convolutions and attention; "
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


class Counter(TorchDispatchMode):
    """Counts the FLOPs of every op run under it, in total and per direct child of ``module`` (by attribute
    name), with torch's formulas."""

    def __init__(self, module: nn.Module | None = None):
        super().__init__()
        from torch.utils.flop_counter import flop_registry, shape_wrapper

        # torch's formulas take the op's arguments (tensors become shapes in shape_wrapper); so do ours, wrapped
        self.formulas = {**flop_registry, **{op: shape_wrapper(f) for op, f in _extra_formulas().items()}}
        self.total = 0
        self.children: dict[str, int] = {}
        self.current: list[str] = []
        self.hooks = []
        for name, child in (module.named_children() if module is not None else ()):
            self.children[name] = 0
            self.hooks.append(child.register_forward_pre_hook(self._enter(name)))
            self.hooks.append(child.register_forward_hook(self._leave))

    def _enter(self, name: str) -> Any:
        def hook(module: nn.Module, args: Any) -> None:
            self.current.append(name)

        return hook

    def _leave(self, module: nn.Module, args: Any, out: Any) -> None:
        self.current.pop()

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in dynamo's disable() unless the mode says no; that wrapper
        # imports torch's compiler stack (about a second) on the first op. Counting runs eagerly: nothing to skip.
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        formula = self.formulas.get(func._overloadpacket)
        if formula is not None:
            flops = int(formula(*args, **(kwargs or {}), out_val=out))
            self.total += flops
            if self.current:
                self.children[self.current[-1]] += flops
        return out

    def __exit__(self, *exc: Any) -> Any:
        for hook in self.hooks:
            hook.remove()
        return super().__exit__(*exc)

    def get_total_flops(self) -> int:
        return self.total


def counted_run(module: nn.Module, inputs: tuple[Any, ...], backward: bool = False) -> tuple[Counter, Any]:
    """(the :class:`Counter` after one ``module(*inputs)`` call, the call's output)."""
    counter = Counter(module)
    if backward:
        with counter:
            out = module(*inputs)
            out.float().sum().backward()
    else:
        with torch.no_grad(), counter:
            out = module(*inputs)
    return counter, out


def count_flops(module: nn.Module, *inputs: Any, backward: bool = False) -> int:
    """FLOPs of one ``module(*inputs)`` call, counted with torch's flop formulas.

    Counted: 2 per multiply-add of matmuls, convolutions and attention (``FLOPS_COUNTED``); elementwise ops are
    not. ``backward=True`` also runs ``out.sum().backward()`` and includes its FLOPs (inputs that should get
    gradients must have ``requires_grad``). The module's train/eval mode is left as it is.
    """
    return counted_run(module, inputs, backward)[0].get_total_flops()


def child_flops(module: nn.Module, counter: Counter) -> dict[str, int]:
    """Forward FLOPs of each direct child of ``module`` from a counter of one of its calls."""
    return dict(counter.children)


def module_flops(module: nn.Module, *inputs: Any) -> dict[str, int]:
    """Forward FLOPs of each direct child of ``module`` (by attribute name), as ``count_flops`` counts them."""
    return child_flops(module, counted_run(module, inputs)[0])
