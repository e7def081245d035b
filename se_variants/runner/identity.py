"""What identifies a job and a variant: config hashes, job folder names and the variant's columns.

* ``config_hash``: the resolved config without :data:`NON_IDENTITY_KEYS` (and without the part nodes a preset
  block ignores). Two jobs with the same hash compute the same thing; a sweep re-run skips one already done.
* ``variant_hash``: the same without ``seed``: the jobs of one variant, aggregated over seeds in the report.
* ``context_hash``: the same without the block, its parts and where the model puts blocks (placement, stages):
  a variant's baseline is the ``block=none`` variant with the same context (same model, data, schedule...).
* :func:`is_baseline`: the one place that decides whether a config or a result record is the baseline.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from ..registry import COMPOSE, EXCITE, GATE, NONE, PRESET, SQUEEZE
from ..spec import PART_KEYS, PARTS
from ..spec import is_baseline as spec_is_baseline
from .schema import NON_IDENTITY_KEYS

__all__ = ["identity_config", "config_hashes", "job_name", "is_run_knob", "safe_name", "describe_part",
           "variant_columns",
           "is_baseline", "PART_KEYS"]

#: model options that only say where blocks go
BLOCK_MODEL_KEYS = ("placement", "stages", "attn_arg")
_UNSAFE = re.compile(r"[^A-Za-z0-9=,._+\-\[\]]")
MAX_NAME = 96


def _drop(cfg: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    node = cfg
    for p in parents:
        node = node.get(p) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(last, None)


def is_baseline(cfg_or_record: dict[str, Any]) -> bool:
    """True for the no-attention baseline (``block=none``): a config whose block node is ``{name: none}``, or a
    result record (metrics.json, a report row) whose ``block`` column is ``"none"`` (:func:`spec.is_baseline`)."""
    block = cfg_or_record.get("block")
    return block is not None and spec_is_baseline(block)


def _block_name(cfg: dict[str, Any]) -> Any:
    block = cfg.get("block")
    return block.get("name") if isinstance(block, dict) else block


def identity_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved (plain) config that decides what a job computes."""
    out = copy.deepcopy(cfg)
    for key in NON_IDENTITY_KEYS:
        _drop(out, key)
    if _block_name(out) != PARTS:  # a preset or no block: the part groups have no effect
        for key in PART_KEYS:
            out.pop(key, None)
    if is_baseline(out) and isinstance(out.get("model"), dict):
        for key in BLOCK_MODEL_KEYS:  # where blocks would go does not change a model without blocks
            out["model"].pop(key, None)
    return out


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_hashes(cfg: dict[str, Any]) -> dict[str, str]:
    """``config_hash``, ``variant_hash`` (without seed) and ``context_hash`` (without seed, block and parts)."""
    ident = identity_config(cfg)
    no_seed = {k: v for k, v in ident.items() if k != "seed"}
    context = {k: v for k, v in no_seed.items() if k not in ("block", *PART_KEYS)}
    if isinstance(context.get("model"), dict):
        context["model"] = {k: v for k, v in context["model"].items() if k not in BLOCK_MODEL_KEYS}
    return {"config_hash": _digest(ident), "variant_hash": _digest(no_seed), "context_hash": _digest(context)}


def safe_name(text: str) -> str:
    """A folder name from ``text``, one name per text: characters unsafe in a path are replaced, and when that
    changed anything (``a/b`` and ``a_b`` would meet) or the name is long, it ends with a hash of ``text``."""
    text = text or "default"
    safe = _UNSAFE.sub("_", text)
    tag = hashlib.sha256(text.encode()).hexdigest()[:8]
    if len(safe) > MAX_NAME:
        return f"{safe[:MAX_NAME - 9]}-{tag}"
    return safe if safe == text else f"{safe}-{tag}"


def is_run_knob(override: str) -> bool:
    """True for an override of a key that does not change what a job computes (``rerun=true``,
    ``resume=false``, ``ckpt_path=...``, ``trainer.enable_progress_bar=false``: schema.NON_IDENTITY_KEYS)."""
    key = override.split("=", 1)[0].lstrip("+~")
    return any(key == k or key.startswith(k + ".") for k in NON_IDENTITY_KEYS)


def job_name(overrides: list[str]) -> str:
    """Folder name of a job from its overrides, as Hydra's ``override_dirname`` (sorted, joined with ``,``)
    without run knobs (:func:`is_run_knob`), through :func:`safe_name`: the same job gets the same folder from
    ``train -m`` and ``ablate``, with or without ``rerun=true``."""
    return safe_name(",".join(sorted(o for o in overrides if not is_run_knob(o))))


def describe_part(node: dict[str, Any] | None, registry: Any) -> str | None:
    """``name`` or ``name(key=value, ...)`` with the options that differ from the registered defaults."""
    if not node:
        return None
    name = node.get("name")
    try:
        defaults = registry.entry(name).default_options()
    except Exception:  # an op that is not registered in this process (e.g. read back from another machine)
        defaults = {}
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    diff = {k: v for k, v in node.items() if k != "name" and norm(defaults.get(k, object())) != norm(v)}
    if not diff:
        return str(name)
    return f"{name}(" + ", ".join(f"{k}={json.dumps(v)}" for k, v in diff.items()) + ")"


def variant_columns(cfg: dict[str, Any]) -> dict[str, str | None]:
    """The result table's identity columns: ``block`` (``none``, ``parts``, or a preset or composition name with
    the options that differ from its defaults: ``cbam(reduction=8)``) and, for block=parts, ``squeeze``,
    ``excite``, ``gate``."""
    block = cfg.get("block") or {}
    name = _block_name(cfg)
    out: dict[str, str | None] = {"block": name, "squeeze": None, "excite": None, "gate": None}
    if name == PARTS:
        for key, reg in zip(PART_KEYS, (SQUEEZE, EXCITE, GATE)):
            out[key] = describe_part(cfg.get(key), reg)
    elif isinstance(block, dict) and name != NONE:
        out["block"] = describe_part(block, COMPOSE if name in COMPOSE else PRESET)
    return out
