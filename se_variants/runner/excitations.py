"""Summaries of recorded excitations (gate outputs per sample): per-block statistics, class specificity, and the
per-class profiles SENet's Fig. 6 and 7 draw. Pure NumPy on arrays of shape (samples, *scale shape)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..capture import base_name

__all__ = ["SATURATED_HIGH", "SATURATED_LOW", "class_specificity", "excitation_stats", "Profile", "profiles",
           "class_means", "class_mean_rows", "element_label"]

#: thresholds of the saturation fractions (a sigmoid gate near 1 passes a channel, near 0 suppresses it)
SATURATED_HIGH, SATURATED_LOW = 0.9, 0.1


def class_specificity(values: np.ndarray, labels: np.ndarray) -> float | None:
    """Share of the variance of the scale explained by the class: η² = SS_between / SS_total, pooled over the
    scale's elements (every channel / position):

    SS_between = Σ_c n_c Σ_e (m_ce − m_e)², SS_total = Σ_i Σ_e (v_ie − m_e)², with m_ce the mean of element e
    over the samples of class c and m_e its mean over all samples. 0: every class gets the same mean scale
    (class-agnostic); 1: the scale is fixed by the class. None when the scale does not vary.

    Args:
        values: (samples, ...) float.
        labels: (samples,) int.
    """
    v = values.reshape(len(values), -1).astype(np.float64)
    m = v.mean(0)
    total = float(((v - m) ** 2).sum())
    if total <= 0.0:
        return None
    between = sum(float((labels == c).sum()) * float(((v[labels == c].mean(0) - m) ** 2).sum())
                  for c in np.unique(labels))
    return between / total


def excitation_stats(scales: dict[str, np.ndarray], labels: np.ndarray,
                     gates: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per block: ``block``, ``gate`` (from ``gates``), ``shape`` (scale shape without the batch),
    ``samples``, ``mean``, ``std``, ``min``, ``max`` (over all samples and elements), ``frac_above_0.9``,
    ``frac_below_0.1`` (share of elements beyond the saturation thresholds) and ``class_specificity``.

    Args:
        scales: block name → (samples, *scale shape).
        labels: (samples,) int.
    """
    rows = []
    for name, v in scales.items():
        v64 = v.astype(np.float64)
        rows.append({
            "block": name, "gate": (gates or {}).get(name, ""), "shape": "x".join(map(str, v.shape[1:])),
            "samples": len(v), "mean": float(v64.mean()), "std": float(v64.std()), "min": float(v64.min()),
            "max": float(v64.max()), f"frac_above_{SATURATED_HIGH}": float((v64 > SATURATED_HIGH).mean()),
            f"frac_below_{SATURATED_LOW}": float((v64 < SATURATED_LOW).mean()),
            "class_specificity": class_specificity(v, labels),
        })
    return rows


@dataclass
class Profile:
    """What a figure shows of one block.

    ``kind``: ``channels`` (x = channels, spatial axes averaged), ``branches`` (fusion: x = branch × channel),
    ``positions`` (a 1-D map, or one value) or ``map`` (a 2-D map). ``values``: (samples, elements) for the line
    kinds, (samples, H, W) for ``map``. ``shown``: indices of the elements drawn (channel indices; for
    ``branches`` flat indices k · C + c). ``branches``: K.
    """

    kind: str
    values: np.ndarray
    shown: list[int]
    branches: int = 1


def _subset(count: int, k: int, seed: int) -> list[int]:
    """A sorted random subset of min(k, count) of range(count), fixed by ``seed``."""
    if count <= k:
        return list(range(count))
    return sorted(np.random.default_rng(seed).choice(count, k, replace=False).tolist())


def profiles(scales: dict[str, np.ndarray], fusion: set[str], channels: int = 50,
             seed: int = 0) -> dict[str, Profile]:
    """Reduce each block's scale (samples, *shape) to what the figures draw.

    Channel-type scales (C' > 1: channel, directional, SimAM; 1-D and 3-D too) are averaged over their spatial
    axes, and a fixed random subset of ``channels`` channels (drawn with ``seed``, sorted, the same for every
    class) is shown. Fusion blocks (names in ``fusion``; (samples, K, C, ...)) show the same channels in each of
    the K branches. A spatial map (C' = 1) is shown whole: a 1-D map as positions, a 2-D map as an image (a 3-D
    map averaged over its first axis).
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}.")
    out = {}
    for name, v in scales.items():
        n = len(v)
        if base_name(name) in fusion and v.ndim >= 3:
            k, c = v.shape[1], v.shape[2]
            per = v.reshape(n, k, c, -1).mean(-1)
            picked = _subset(c, channels, seed)
            out[name] = Profile("branches", per.reshape(n, k * c), [b * c + i for b in range(k) for i in picked], k)
        elif v.ndim >= 2 and v.shape[1] > 1:
            per = v.reshape(n, v.shape[1], -1).mean(-1)
            out[name] = Profile("channels", per, _subset(v.shape[1], channels, seed))
        else:
            spatial = v.reshape(n, *[s for s in v.shape[2:] if s > 1]) if v.ndim > 2 else v.reshape(n, -1)
            if spatial.ndim <= 2:
                flat = spatial.reshape(n, -1)
                out[name] = Profile("positions", flat, list(range(flat.shape[1])))
            else:
                while spatial.ndim > 3:
                    spatial = spatial.mean(1)
                out[name] = Profile("map", spatial, list(range(spatial[0].size)))
    return out


def class_means(profile: Profile, labels: np.ndarray, classes: Sequence[int]) -> dict[Any, tuple[np.ndarray, ...]]:
    """class (and ``"all"``) → (mean, std (ddof 0), n) over its samples, of the shown elements (``map``: the
    whole (H, W) map), in float64."""
    v = (profile.values if profile.kind == "map" else profile.values[:, profile.shown]).astype(np.float64)
    out: dict[Any, tuple[np.ndarray, ...]] = {}
    for c in [*classes, "all"]:
        sel = v if c == "all" else v[labels == c]
        out[c] = (sel.mean(0), sel.std(0), np.asarray(len(sel)))
    return out


def element_label(profile: Profile, i: int) -> str:
    """How element ``i`` of a profile is named in files and figures: ``c`` (channel or position), ``k/c``
    (branch k, channel c) or ``row,col`` (a map)."""
    if profile.kind == "branches":
        c = profile.values.shape[1] // profile.branches
        return f"{i // c}/{i % c}"
    if profile.kind == "map":
        return f"{i // profile.values.shape[2]},{i % profile.values.shape[2]}"
    return str(i)


def class_mean_rows(profs: dict[str, Profile], labels: np.ndarray, classes: Sequence[int]) -> list[dict[str, Any]]:
    """The rows of excitations_by_class.csv: ``block``, ``kind``, ``class`` (or ``all``), ``element``
    (:func:`element_label`), ``mean``, ``std``, ``n`` -- the numbers the Fig. 6 / 7 panels draw."""
    rows = []
    for name, p in profs.items():
        for c, (mean, std, n) in class_means(p, labels, classes).items():
            flat_m, flat_s = mean.reshape(-1), std.reshape(-1)
            elements = p.shown if p.kind != "map" else range(flat_m.size)
            for j, e in enumerate(elements):
                rows.append({"block": name, "kind": p.kind, "class": c, "element": element_label(p, e),
                             "mean": float(flat_m[j]), "std": float(flat_s[j]), "n": int(n)})
    return rows
