"""Speed and memory of our blocks against reference implementations, measured in the same run.

Pairs (weights copied from the reference into ours, outputs checked equal before timing):

* ``se``   -- 2-D: ``build_block("se", divisor=8)`` (timm's hidden-width rule) vs timm ``SEModule`` and a
              hand-written six-line SE module; 1-D (N, C, L) and 3-D (N, C, D, H, W): ``build_block("se",
              dims=d, reduction=2)`` vs MONAI ``ChannelSELayer(d, C)`` (its default r = 2) and the hand-written
              SE;
* ``eca``  -- ``build_block("eca")`` vs timm ``EcaModule``;
* ``cbam`` -- ``build_block("cbam", style="timm")`` vs timm ``CbamModule``;
* ``gc``   -- ``build_block("gc")`` (timm style) vs timm ``GlobalContext``.

Timing: float32 on CPU (one thread unless ``--threads``), channels_first and channels_last, forward (eval, no
grad) and forward+backward (train, input requiring grad, backward of a fixed output gradient). For each setting
the implementations are warmed up, then timed ``--repeats`` times interleaved (the order rotates every round); the
table gives the medians, their ratio, and the ratio of the fastest runs (robust to load from other processes).

Allocator: with glibc's defaults, freed blocks of this size go back to the OS and every new activation pays page
faults, which made otherwise identical computations differ by up to 1.3x depending on each module's allocation
order. The script therefore asks glibc (``mallopt``) to keep freed memory, the steady state of a training loop;
``--system-malloc`` keeps glibc's defaults.

Memory: bytes of the tensors autograd saves for backward in one train-mode forward (unique storages, found with
``torch.autograd.graph.saved_tensors_hooks``), excluding the input and the parameters, which exist anyway.
CPU peak memory is not measured: torch has no CPU allocator statistics and tracemalloc does not see tensor memory.

    python scripts/bench_blocks.py                 # all pairs, every shape (about a minute on 2 cores)
    python scripts/bench_blocks.py --quick         # one small shape per dims, fewer repeats (a smoke run)
    python scripts/bench_blocks.py --blocks se eca --shapes 32,64,56,56
    python scripts/bench_blocks.py --record        # keep the figures docs/speed.md and README quote (figures.py)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import se_variants as sv  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import add_record_flag, machine, record  # noqa: E402

SHAPES = [(32, 64, 56, 56), (64, 256, 14, 14), (128, 512, 7, 7),  # ResNet stages
          (32, 512, 200), (64, 256, 400),  # 1-D: ECAPA-TDNN-sized frame sequences (N, C, T)
          (8, 64, 8, 28, 28), (2, 32, 32, 32, 32)]  # 3-D: a video clip (N, C, T, H, W), a medical volume
QUICK_SHAPES = [(8, 64, 28, 28), (8, 128, 100), (2, 32, 8, 16, 16)]


class HandSE(nn.Module):
    """The SE block as one would write it by hand: mean → FC → ReLU → FC → sigmoid → x · s.

    Shapes: (N, C, *spatial) → (N, C, *spatial).
    """

    def __init__(self, channels: int, hidden: int, dims: int = 2):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(channels, hidden), nn.Linear(hidden, channels)
        self.spatial, self.ones = tuple(range(2, 2 + dims)), (1,) * dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(self.spatial)))))
        return x * s.reshape(*s.shape, *self.ones)


def _copy(dst: torch.Tensor, src: torch.Tensor) -> None:
    with torch.no_grad():
        dst.copy_(src.reshape(dst.shape))


def _copy_norm(dst: nn.Module, src: nn.Module) -> None:
    for name, tensor in src.state_dict().items():
        _copy(dst.state_dict()[name], tensor)


# --- the pairs: ours, {reference name: reference}; weights copied from the first reference ------------------------


def pair_se(c: int, dims: int = 2) -> tuple[nn.Module, dict[str, nn.Module]]:
    if dims != 2:
        from monai.networks.blocks import ChannelSELayer

        ref = ChannelSELayer(dims, c)  # r = 2 (MONAI's default): Linear(C, C // 2) → ReLU → Linear → sigmoid
        ours = sv.build_block("se", channels=c, dims=dims, reduction=2)
        hand = HandSE(c, c // 2, dims)
        for i, src in ((1, ref.fc[0]), (2, ref.fc[2])):
            for dst in (getattr(ours.excite, f"fc{i}"), getattr(hand, f"fc{i}")):
                _copy(dst.weight, src.weight), _copy(dst.bias, src.bias)
        return ours, {"MONAI ChannelSELayer": ref, "hand-written SE": hand}
    from timm.layers import SEModule

    ref = SEModule(c)  # rd_ratio 1/16, divisor 8, round_limit 0
    ours = sv.build_block("se", channels=c, divisor=8)
    hand = HandSE(c, ref.fc1.out_channels)
    for i in (1, 2):
        src = getattr(ref, f"fc{i}")
        for dst in (getattr(ours.excite, f"fc{i}"), getattr(hand, f"fc{i}")):
            _copy(dst.weight, src.weight), _copy(dst.bias, src.bias)
    return ours, {"timm SEModule": ref, "hand-written SE": hand}


def pair_eca(c: int) -> tuple[nn.Module, dict[str, nn.Module]]:
    from timm.layers import EcaModule

    ref = EcaModule(c)
    ours = sv.build_block("eca", channels=c)
    _copy(ours.excite.conv.weight, ref.conv.weight)
    return ours, {"timm EcaModule": ref}


def pair_cbam(c: int) -> tuple[nn.Module, dict[str, nn.Module]]:
    from timm.layers.cbam import CbamModule

    ref = CbamModule(c)
    ours = sv.build_block("cbam", channels=c, style="timm")
    channel, spatial = ours[0], ours[1]
    _copy(channel.excite.fc1.weight, ref.channel.fc1.weight)
    _copy(channel.excite.fc2.weight, ref.channel.fc2.weight)
    _copy(spatial.excite.conv.weight, ref.spatial.conv.conv.weight)
    _copy_norm(spatial.excite.norm, ref.spatial.conv.bn)
    return ours, {"timm CbamModule": ref}


def pair_gc(c: int) -> tuple[nn.Module, dict[str, nn.Module]]:
    from timm.layers import GlobalContext

    ref = GlobalContext(c)  # attention pooling, fuse_scale, rd_ratio 1/8
    ours = sv.build_block("gc", channels=c)
    _copy(ours.squeeze.logit.weight, ref.conv_attn.weight), _copy(ours.squeeze.logit.bias, ref.conv_attn.bias)
    for i in (1, 2):
        src = getattr(ref.mlp_scale, f"fc{i}")
        _copy(getattr(ours.excite, f"fc{i}").weight, src.weight), _copy(getattr(ours.excite, f"fc{i}").bias, src.bias)
    _copy_norm(ours.excite.norm, ref.mlp_scale.norm)
    return ours, {"timm GlobalContext": ref}


PAIRS: dict[str, Callable[..., tuple[nn.Module, dict[str, nn.Module]]]] = {
    "se": pair_se, "eca": pair_eca, "cbam": pair_cbam, "gc": pair_gc,
}
#: the spatial dims each pair is measured on (its references' ranks)
PAIR_DIMS: dict[str, tuple[int, ...]] = {"se": (1, 2, 3), "eca": (2,), "cbam": (2,), "gc": (2,)}
#: memory layouts per dims
LAYOUTS = {1: {"channels_first": torch.contiguous_format},
           2: {"channels_first": torch.contiguous_format, "channels_last": torch.channels_last},
           3: {"channels_first": torch.contiguous_format, "channels_last_3d": torch.channels_last_3d}}


# --- measurements ------------------------------------------------------------------------------------------------


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory in the heap (no trimming, mmap only above 32 MiB, glibc's maximum) so that
    timings do not include page faults of re-allocated activations. Returns False where glibc is not present."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, 32 * 2**20)) and bool(libc.mallopt(m_trim_threshold, 2**30))
    except (OSError, AttributeError):
        return False



def check_parity(ours: nn.Module, refs: dict[str, nn.Module], x: torch.Tensor) -> float:
    """Max abs difference of the outputs (eval mode): the pairs must compute the same function."""
    with torch.no_grad():
        y = ours.eval()(x)
        return max((y - ref.eval()(x)).abs().max().item() for ref in refs.values())


def saved_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd keeps for backward in one train-mode forward, excluding x and the parameters."""
    exclude = {x.untyped_storage().data_ptr()} | {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in exclude:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    x = x.detach().requires_grad_()
    exclude.add(x.untyped_storage().data_ptr())
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module.train()(x)
    return sum(seen.values())


def step(module: nn.Module, x: torch.Tensor, grad: torch.Tensor | None) -> Callable[[], None]:
    """One forward (grad is None: eval, no grad) or forward+backward."""
    if grad is None:
        module.eval()

        def run() -> None:
            with torch.no_grad():
                module(x)
    else:
        module.train()
        x = x.detach().requires_grad_()

        def run() -> None:
            module(x).backward(grad)
            x.grad = None
            for p in module.parameters():
                p.grad = None
    return run


def time_interleaved(fns: list[Callable[[], None]], warmup: int, repeats: int) -> list[tuple[float, float]]:
    """(median, min) seconds of each fn; the fns are called in rotating order each round so drifts hit all alike."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        for k in range(len(fns)):
            i = (r + k) % len(fns)
            start = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - start)
    return [(statistics.median(t), min(t)) for t in times]


@dataclass
class Row:
    block: str
    reference: str
    shape: tuple[int, ...]
    layout: str
    mode: str
    ours_ms: float
    ref_ms: float
    min_ratio: float
    ours_kib: float | None = None
    ref_kib: float | None = None

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.ref_ms


def bench(blocks: list[str], shapes: list[tuple[int, ...]], warmup: int, repeats: int) -> list[Row]:
    rows: list[Row] = []
    for name in blocks:
        for shape in shapes:
            dims = len(shape) - 2
            if dims not in PAIR_DIMS[name]:
                continue
            torch.manual_seed(0)
            ours, refs = PAIRS[name](shape[1], dims) if dims != 2 else PAIRS[name](shape[1])
            x = torch.randn(shape)
            diff = check_parity(ours, refs, x[:2])
            if diff > 1e-4:
                raise SystemExit(f"{name} {shape}: ours and the reference differ by {diff:.2e}; fix the mapping.")
            mem = {label: saved_bytes(m, x) / 2**10 for label, m in [("ours", ours), *refs.items()]}
            for layout, fmt in LAYOUTS[dims].items():
                xl = x.contiguous(memory_format=fmt)
                for m in (ours, *refs.values()):
                    m.to(memory_format=fmt)
                for mode in ("forward", "fwd+bwd"):
                    grad = None if mode == "forward" else torch.randn(shape).contiguous(memory_format=fmt)
                    fns = [step(m, xl, grad) for m in (ours, *refs.values())]
                    (ours_med, ours_min), *ref_times = time_interleaved(fns, warmup, repeats)
                    for label, (ref_med, ref_min) in zip(refs, ref_times):
                        rows.append(Row(name, label, shape, layout, mode, ours_med * 1e3, ref_med * 1e3,
                                        ours_min / ref_min, mem["ours"] if mode == "fwd+bwd" else None,
                                        mem[label] if mode == "fwd+bwd" else None))
                    print(f"  {name:<5} {str(shape):<18} {layout:<15} {mode:<8} "
                          + "  ".join(f"{r.reference}: {r.ratio:.2f}x" for r in rows[-len(refs):]),
                          file=sys.stderr, flush=True)
    return rows


def render(rows: list[Row]) -> str:
    header = ["block", "reference", "shape (N, C, *spatial)", "layout", "mode", "ours ms", "ref ms", "ratio",
              "ratio of mins", "saved KiB ours / ref"]
    table = []
    for r in rows:
        mem = f"{r.ours_kib:,.0f} / {r.ref_kib:,.0f}" if r.ours_kib is not None else ""
        table.append([r.block, r.reference, str(r.shape), r.layout, r.mode, f"{r.ours_ms:.2f}", f"{r.ref_ms:.2f}",
                      f"{r.ratio:.2f}", f"{r.min_ratio:.2f}", mem])
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(t, widths)) for t in table]
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    ratios = [r.ratio for r in rows]
    geo = statistics.geometric_mean(ratios)
    worst = max(rows, key=lambda r: r.ratio)
    by_pair: dict[tuple, list[float]] = {}
    for r in rows:
        by_pair.setdefault((r.block, r.reference, _dims(r)), []).append(r.ratio)
    per_pair = ", ".join(f"{b} vs {ref} ({dims}) {statistics.geometric_mean(x):.2f}x"
                         for (b, ref, dims), x in by_pair.items())
    geo_min = statistics.geometric_mean([r.min_ratio for r in rows])
    return (f"summary: time ours/reference, geometric mean {geo:.2f}x of medians ({geo_min:.2f}x of fastest runs) "
            f"over {len(rows)} settings; per pair: {per_pair}; "
            f"worst {worst.ratio:.2f}x ({worst.block} vs {worst.reference}, {worst.shape}, {worst.layout}, "
            f"{worst.mode}).")


def _dims(row: Row) -> str:
    return f"{len(row.shape) - 2}-D"


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}–{high:.2f}"


def _memory(rows: list[Row]) -> str:
    """How the bytes saved for backward compare over a pair's settings: equal, or within the largest gap."""
    gaps = [abs(r.ours_kib / r.ref_kib - 1) for r in rows if r.ours_kib is not None and r.ref_kib]
    if not gaps:
        return "–"
    worst = max(gaps)
    return "equal" if worst < 0.005 else f"within {max(1, round(worst * 100))} %"


def pair_table(rows: list[Row]) -> str:
    """A markdown table: per pair (block, reference, dims) the span of ours / reference over its shapes and
    layouts, forward and forward + backward, and how the bytes saved for backward compare."""
    lines = ["| ours vs | forward | forward + backward | saved for backward |", "|---|---|---|---|"]
    for key in dict.fromkeys((r.block, r.reference, _dims(r)) for r in rows):
        mine = [r for r in rows if (r.block, r.reference, _dims(r)) == key]
        fwd = [r.ratio for r in mine if r.mode == "forward"]
        both = [r.ratio for r in mine if r.mode != "forward"]
        lines.append(f"| `{key[0]}` vs {key[1]} ({key[2]}) | {_span(fwd)} | {_span(both)} | {_memory(mine)} |")
    return "\n".join(lines)


def headline(rows: list[Row]) -> str:
    """The README's sentence: the geometric mean over every setting and the span of each mode."""
    geo = statistics.geometric_mean([r.ratio for r in rows])
    fwd = [r.ratio for r in rows if r.mode == "forward"]
    both = [r.ratio for r in rows if r.mode != "forward"]
    return (f"{geo:.2f}× in geometric mean over its {len(rows)} settings (forward {min(fwd):.2f}–{max(fwd):.2f}×, "
            f"forward + backward {min(both):.2f}–{max(both):.2f}×)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--shapes", nargs="+", type=lambda s: tuple(int(v) for v in s.split(",")),
                        help="N,C,L / N,C,H,W / N,C,D,H,W ... (default: " + " ".join(",".join(map(str, s))
                                                                        for s in SHAPES) + ")")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds per setting (median)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared machine multi-threaded timings mostly measure "
                             "waiting for descheduled threads)")
    parser.add_argument("--quick", action="store_true", help=f"shapes {QUICK_SHAPES}, 5 repeats, 1 warmup")
    parser.add_argument("--system-malloc", action="store_true", help="keep glibc's allocator defaults")
    add_record_flag(parser)
    ns = parser.parse_args(argv)
    torch.set_num_threads(ns.threads)
    allocator = "glibc defaults"
    if not ns.system_malloc:
        allocator = "glibc keeps freed memory (mallopt)" if keep_freed_memory() else "default (mallopt unavailable)"
    shapes = ns.shapes or (QUICK_SHAPES if ns.quick else SHAPES)
    repeats, warmup = (5, 1) if ns.quick else (ns.repeats, ns.warmup)
    setting = (f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32 CPU, allocator: {allocator}; "
               f"median of {repeats} interleaved runs after {warmup} warmup")
    print(setting, file=sys.stderr)
    rows = bench(ns.blocks, shapes, warmup, repeats)
    print(setting)
    print(render(rows))
    print("ms: median; ratio = ours / reference of the medians (< 1: ours faster); ratio of mins: the same for the "
          "fastest run (less sensitive to other load). saved KiB: tensors kept for backward by one train forward, "
          "excluding the input and parameters.")
    print(summary(rows))
    print("\n" + pair_table(rows) + "\n\n" + headline(rows))
    if ns.record:
        record("bench_blocks", {"per pair": ("docs/speed.md", pair_table(rows)),
                                "summary": ("docs/speed.md", summary(rows)),
                                "headline": ("README.md", headline(rows))}, machine(ns.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
