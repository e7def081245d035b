"""A job's checkpoints: where ``last.ckpt`` lives, reading one safely, and whether it belongs to a config.

Used by the job (resume), the planner (``ckpt_path=...``) and ``se-variants inspect``. Checkpoints are read with
``torch.load(weights_only=True)``: a file can hold only tensors and plain values, so loading one never runs code.
A checkpoint belongs to the config whose hash it was written for: a job resumes, and inspect reads weights, only
from a checkpoint of its own config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .identity import config_hashes, identity_config
from .tables import one_line

__all__ = ["CheckpointError", "LAST_CKPT", "RUN_STATE_KEY", "PLATEAU_KEY", "load_checkpoint", "check_checkpoint",
           "given_checkpoint", "config_diff", "history", "epochs_done", "selected"]

#: a job's checkpoint, relative to its folder (written at epoch ends -- see checkpoint_every_s -- atomically)
LAST_CKPT = Path("checkpoints") / "last.ckpt"
#: the key of the runner's loop state (per-epoch metrics) among a checkpoint's callback states
RUN_STATE_KEY = "se_variants.RunState"
#: the key of a plateau schedule's state (stepped by the module, not by Lightning: see lit.py)
PLATEAU_KEY = "se_variants.plateau"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, not a runner checkpoint, or written by another config."""


def load_checkpoint(path: Path | str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the checkpoint, the resolved config of the job that wrote it). Raises :class:`CheckpointError`."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, a pickle asking for code, a folder ...
        raise CheckpointError(f"{path} cannot be read as a checkpoint ({type(err).__name__}: "
                              f"{one_line(err, 300)})") from None
    cfg = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(cfg, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"{path} is not a se-variants job checkpoint (no state_dict and config).")
    return ckpt, cfg


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def config_diff(theirs: dict[str, Any], ours: dict[str, Any], limit: int = 6) -> str:
    """The identity keys in which two configs differ: ``seed: 1 → 0; trainer.max_epochs: 1 → 2``."""
    a, b = _flat(identity_config(theirs)), _flat(identity_config(ours))
    diff = [f"{k}: {a.get(k, '(unset)')!r} → {b.get(k, '(unset)')!r}" for k in sorted(set(a) | set(b))
            if a.get(k, "(unset)") != b.get(k, "(unset)")]
    return "; ".join(diff[:limit]) + ("; ..." if len(diff) > limit else "")


def check_checkpoint(path: Path | str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Load ``path`` and check that a job of config ``cfg`` may use it (same config hash); returns the checkpoint.
    Raises :class:`CheckpointError` naming the keys in which the two configs differ."""
    ckpt, theirs = load_checkpoint(path)
    if config_hashes(theirs)["config_hash"] != config_hashes(cfg)["config_hash"]:
        raise CheckpointError(
            f"{path} was written by a job of another config ({config_diff(theirs, cfg)}). A job resumes only from a "
            f"checkpoint of its own config, so that its result is the result of that config; start this job from "
            f"scratch (drop ckpt_path) or run the checkpoint's own config.")
    return ckpt


def given_checkpoint(cfg: dict[str, Any]) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint a config names with ``ckpt_path`` (None when it names none), checked to be a file of this
    config (:func:`check_checkpoint`): (its path, the checkpoint). Raises :class:`CheckpointError`."""
    if not cfg.get("ckpt_path"):
        return None
    path = Path(cfg["ckpt_path"]).expanduser()
    if not path.is_file():
        raise CheckpointError(f"ckpt_path: {cfg['ckpt_path']!r} is not a file; pass a checkpoint such as "
                              f"<job folder>/{LAST_CKPT}.")
    return path, check_checkpoint(path, cfg)


def history(ckpt: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-epoch metrics a checkpoint keeps (the runner's loop state)."""
    state = (ckpt.get("callbacks") or {}).get(RUN_STATE_KEY, {})
    return list(state.get("history", [])) if isinstance(state, dict) else []


def selected(ckpt: dict[str, Any]) -> dict[str, Any] | None:
    """The weights ``trainer.select=min_train_loss`` selected so far, as the runner's loop state keeps them:
    ``{"epoch", "train/loss", "state"}``, or None."""
    state = (ckpt.get("callbacks") or {}).get(RUN_STATE_KEY, {})
    chosen = state.get("selected") if isinstance(state, dict) else None
    return chosen if isinstance(chosen, dict) else None


def epochs_done(ckpt: dict[str, Any]) -> int:
    """How many epochs a checkpoint has finished (the index of the first epoch a resume trains)."""
    return len(history(ckpt))
