"""What attention blocks compute: every gate's output -- the scale, before it multiplies (or is added to) x --
recorded with forward hooks, in any model that contains the library's blocks.

    >>> with capture_scales(model) as scales:
    ...     model(x)
    >>> scales["stages.2.0.attn"].shape          # (N, C, 1, 1) for an SE block

Keys are the module names of the blocks that own a gate (:func:`attention_blocks`): an SE block's name, each
SE block inside a serial or parallel composition (CBAM: ``...attn.0`` channel, ``...attn.1`` spatial), a fusion
block (its K branch weights), a preset with its own gate (SimAM, coordinate attention). A gate called more than
once in one forward pass (coordinate attention's shared gate: a_h, then a_w) gives ``name[0]``, ``name[1]``, ...
in call order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from .gate import Gate
from .registry import suggest

__all__ = ["capture_scales", "attention_blocks", "base_name"]


def _gates(model: nn.Module) -> dict[str, tuple[str, Gate]]:
    """gate module name → (block name, gate), for every :class:`~se_variants.gate.Gate` in ``model``.

    A block's name is its gate's owner (the gate's parent module); an owner with several gates gets one name per
    gate (the gates' own names); a gate at the top of ``model`` is named by the model's class.
    """
    gates = [(name, m) for name, m in model.named_modules() if isinstance(m, Gate)]
    owners: dict[str, int] = {}
    for name, _ in gates:
        owner = name.rpartition(".")[0]
        owners[owner] = owners.get(owner, 0) + 1
    out = {}
    for name, gate in gates:
        owner = name.rpartition(".")[0]
        key = owner if owners[owner] == 1 else name
        out[name] = (key or type(model).__name__, gate)
    return out


def attention_blocks(model: nn.Module) -> dict[str, nn.Module]:
    """Name → module of every attention block of ``model`` (the modules that own a library gate), in module
    order. The names are the keys :func:`capture_scales` uses (without the ``[i]`` call index)."""
    out: dict[str, nn.Module] = {}
    for name, (key, gate) in _gates(model).items():
        if key == name:  # one of several gates of one module: the gate stands for itself
            out[key] = gate
        else:
            owner = name.rpartition(".")[0]
            out[key] = model.get_submodule(owner) if owner else model
    return out


def base_name(key: str) -> str:
    """A :func:`capture_scales` key without its call index: ``"a.attn[1]"`` → ``"a.attn"``."""
    return key[: key.rindex("[")] if key.endswith("]") and "[" in key else key


class _Recorder:
    """Collects gate outputs during one forward pass of the root model, then publishes them into ``scales``."""

    def __init__(self, scales: dict[str, torch.Tensor]):
        self.scales = scales
        self.pending: list[tuple[str, torch.Tensor]] = []

    def start(self, *_: object) -> None:
        self.pending = []

    def record(self, key: str, output: torch.Tensor) -> None:
        if isinstance(output, torch.Tensor):
            self.pending.append((key, output.detach().clone()))

    def publish(self, *_: object) -> None:
        if not self.pending:
            return
        calls: dict[str, int] = {}
        for key, _ in self.pending:
            calls[key] = calls.get(key, 0) + 1
        seen: dict[str, int] = {}
        self.scales.clear()
        for key, value in self.pending:
            if calls[key] > 1:
                i = seen.get(key, 0)
                seen[key] = i + 1
                key = f"{key}[{i}]"
            self.scales[key] = value
        self.pending = []


@contextlib.contextmanager
def capture_scales(model: nn.Module, blocks: Iterable[str] | None = None) -> Iterator[dict[str, torch.Tensor]]:
    """Record the gate output of every attention block of ``model`` while the context is open.

    Args:
        model: any module containing se_variants blocks (the runner's models, timm models built with
            ``as_timm_attn``, your own networks, or a single block).
        blocks: record only these block names (keys of :func:`attention_blocks`); default: all.

    Yields a dict, filled after each forward pass of ``model``: block name → its gate output for that pass
    (detached copies, on the model's device), batch first. Shapes are what the gates produce: (N, C, 1, 1) for
    channel attention, (N, 1, H, W) spatial, (N, C, H, 1) / (N, C, 1, W) directional, (N, C, H, W) SimAM,
    (N, K, C, 1, 1) the K branch weights of a fusion block; other ranks for 1-D / 3-D blocks. Values are not
    assumed to lie in [0, 1] (tanh, relu and identity gates). Calls of a submodule outside a forward pass of
    ``model`` are published when the context exits.

    Raises ValueError when ``model`` contains no gate, or ``blocks`` names one it does not have.
    """
    gates = _gates(model)
    if not gates:
        raise ValueError(
            f"{type(model).__name__} contains no attention block (no se_variants gate module), so there is no "
            f"scale to capture. Build it with blocks (se_variants.build_block, as_timm_attn, or the runner with a "
            f"block other than block=none).")
    wanted = None if blocks is None else set(blocks)
    if wanted is not None:
        names = sorted({key for key, _ in gates.values()})
        unknown = sorted(wanted - set(names))
        if unknown:
            raise ValueError(f"no attention block named {unknown[0]!r} in {type(model).__name__}."
                             f"{suggest(unknown[0], names)} Blocks: {', '.join(names)}.")
    scales: dict[str, torch.Tensor] = {}
    recorder = _Recorder(scales)
    handles = [model.register_forward_pre_hook(recorder.start), model.register_forward_hook(recorder.publish)]
    for key, gate in gates.values():
        if wanted is None or key in wanted:
            handles.append(gate.register_forward_hook(
                lambda _module, _inputs, output, key=key: recorder.record(key, output)))
    try:
        yield scales
    finally:
        for h in handles:
            h.remove()
        recorder.publish()
