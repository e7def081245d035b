"""The two figures of ``se-variants inspect``, after SENet (Hu et al., TPAMI 2019) Fig. 6 (mean excitation per
class) and Fig. 7 (mean ± std over the instances of a class), drawn from :class:`~.excitations.Profile` s with
matplotlib's Agg backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .excitations import Profile, class_means, element_label
from .files import replace_into

__all__ = ["plot_by_class", "plot_by_instance", "save_figure"]


def _grid(count: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, count))
    return (count + cols - 1) // cols, cols


def _line_axes(ax: Any, p: Profile) -> None:
    if p.kind == "branches":
        per = len(p.shown) // p.branches
        for b in range(1, p.branches):
            ax.axvline(b * per - 0.5, color="0.6", linewidth=0.8)
        ax.set_xlabel(" | ".join(f"branch {b + 1}" for b in range(p.branches)) + f" ({per} channels each)",
                      fontsize=7)
    elif p.kind == "channels":
        ax.set_xlabel(f"channel ({len(p.shown)} of {p.values.shape[1]}, fixed subset)", fontsize=7)
    else:
        ax.set_xlabel("position", fontsize=7)
    if len(p.shown) <= 12:
        ax.set_xticks(range(len(p.shown)), [element_label(p, e) for e in p.shown], fontsize=6)
    else:
        ax.tick_params(labelsize=6)
    ax.tick_params(axis="y", labelsize=6)


def _mosaic(maps: list[np.ndarray]) -> np.ndarray:
    """Maps (H, W) side by side, one NaN column between them."""
    h = maps[0].shape[0]
    gap = np.full((h, 1), np.nan)
    return np.concatenate([x for m in maps for x in (m, gap)][:-1], axis=1)


def save_figure(fig: Any, path: Path) -> None:
    """Save ``fig`` as PNG to ``path`` atomically (:func:`.files.replace_into`: never half a file), close it."""
    import matplotlib.pyplot as plt

    try:
        replace_into(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)


def _panel_title(name: str, specificity: dict[str, float | None] | None) -> str:
    eta = (specificity or {}).get(name)
    return name if eta is None else f"{name}   class specificity {eta:.2f}"


def plot_by_class(profs: dict[str, Profile], labels: np.ndarray, classes: Sequence[int], path: Path,
                   title: str, specificity: dict[str, float | None] | None = None) -> None:
    """SENet Fig. 6 as a PNG at ``path``: one panel per block, the mean activation of the shown elements per
    class (one line each) and over all classes (dashed); a map as the mean map per class. ``labels``: (samples,)
    int, the rows of every profile; ``specificity`` (block → η²) goes into the panel titles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = _grid(len(profs), 3)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.0 * rows), squeeze=False)
    colors = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for ax, (name, p) in zip(axes.flat, profs.items()):
        means = class_means(p, labels, classes)
        if p.kind == "map":
            shown = [*classes, "all"]
            img = ax.imshow(_mosaic([means[c][0] for c in shown]), cmap="viridis", aspect="equal")
            w = p.values.shape[2]
            ax.set_xticks([i * (w + 1) + (w - 1) / 2 for i in range(len(shown))], [str(c) for c in shown],
                          fontsize=6)
            ax.set_yticks([])
            ax.set_xlabel("mean map per class", fontsize=7)
            fig.colorbar(img, ax=ax, fraction=0.03)
        else:
            x = np.arange(len(p.shown))
            for i, c in enumerate(classes):
                ax.plot(x, means[c][0], color=colors(i % colors.N), linewidth=0.9, label=str(c))
            ax.plot(x, means["all"][0], color="black", linestyle="--", linewidth=1.3, label="all")
            _line_axes(ax, p)
            ax.set_ylabel("mean activation", fontsize=7)
        ax.set_title(_panel_title(name, specificity), fontsize=8)
    for ax in list(axes.flat)[len(profs):]:
        ax.axis("off")
    handles, names = next((a.get_legend_handles_labels() for a in axes.flat if a.get_legend_handles_labels()[0]),
                          ([], []))
    if handles:
        fig.legend(handles, names, loc="upper right", fontsize=7, title="class", title_fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.93 if handles else 1, 0.95))
    save_figure(fig, path)


def plot_by_instance(profs: dict[str, Profile], labels: np.ndarray, classes: Sequence[int], path: Path,
                      title: str, specificity: dict[str, float | None] | None = None) -> None:
    """SENet Fig. 7 as a PNG at ``path``: per block (row) and class (column), mean ± std over the instances of
    the class; a map as its std map, on one colour scale per block."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(profs), len(classes)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols + 0.8, 1.7 * rows + 0.6), squeeze=False,
                             sharey="row")
    for r, (name, p) in enumerate(profs.items()):
        means = class_means(p, labels, classes)
        top = max(float(means[c][1].max()) for c in classes) or 1.0  # one colour scale per block: comparable
        for j, c in enumerate(classes):
            ax = axes[r, j]
            mean, std, n = means[c]
            if p.kind == "map":
                img = ax.imshow(std, cmap="magma", vmin=0.0, vmax=top)
                ax.set_xticks([])
                ax.set_yticks([])
                if j == len(classes) - 1:
                    fig.colorbar(img, ax=ax, fraction=0.05)
            else:
                x = np.arange(len(p.shown))
                ax.plot(x, mean, color="tab:blue", linewidth=0.8)
                ax.fill_between(x, mean - std, mean + std, color="tab:blue", alpha=0.25, linewidth=0)
                ax.tick_params(labelsize=5)
            if r == 0:
                ax.set_title(f"class {c}", fontsize=7)
            ax.set_xlabel(f"n={int(n)}", fontsize=5, labelpad=1)
        eta = (specificity or {}).get(name)
        axes[r, 0].set_ylabel(name + ("\n(std map)" if p.kind == "map" else "")
                              + ("" if eta is None else f"\nspecificity {eta:.2f}"), fontsize=6)
    fig.suptitle(title + "  (mean ± std over the instances of each class)", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    save_figure(fig, path)
