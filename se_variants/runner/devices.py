"""One job per GPU: a job that trains on CUDA devices holds them, so that parallel jobs on one machine (the
workers launcher, submitit_local jobs, two sweeps) each get GPUs of their own.

Hydra's local launchers start jobs but do not hand out GPUs (submitit_local gives every job the same first
``gpus_per_node`` devices). Before training, a job asking for ``trainer.devices=k`` GPUs locks k free ones -- a
node-local lock file per physical GPU, held with ``flock`` until the job ends (the kernel releases it if the process
dies) -- and trains on exactly those (``devices=[i, j]`` given to its Trainer). A job that finds no free GPU waits
for one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

__all__ = ["claim_gpus", "visible_gpus", "wants_gpus", "gpu_count", "LOCK_DIR"]

#: node-local: a GPU belongs to one machine
LOCK_DIR = Path(tempfile.gettempdir()) / f"se_variants-gpus-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def visible_gpus() -> list[str]:
    """Physical ids of the GPUs this process may use, in CUDA's order (CUDA_VISIBLE_DEVICES, or 0..count-1)."""
    import torch

    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [d.strip() for d in env.split(",") if d.strip()]
        return ids[: torch.cuda.device_count()] if torch.cuda.is_available() else []
    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def gpu_count() -> int:
    """Usable CUDA GPUs of this process (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def wants_gpus(trainer: dict[str, Any]) -> int:
    """How many GPUs a ``trainer`` config node asks this job to hold: its int ``devices`` on a GPU accelerator;
    0 on CPU, and when ``devices`` already names the GPUs (a list) -- the user chose them."""
    import torch

    accelerator = str(trainer.get("accelerator", "auto"))
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    devices = trainer.get("devices", "auto")
    if not on_gpu or isinstance(devices, (list, tuple)) or devices == 0:
        return 0
    return devices if isinstance(devices, int) and devices > 0 else 1


@contextlib.contextmanager
def claim_gpus(cfg: dict[str, Any], poll_s: float = 1.0) -> Iterator[list[int]]:
    """Hold ``wants_gpus(cfg["trainer"])`` free GPUs of this machine for the duration; yields their CUDA indices
    for ``trainer.devices`` ([] when the job does not train on GPUs). The config itself is not changed: which GPUs
    a job ran on is not part of what it computes."""
    count = wants_gpus(cfg.get("trainer") or {})
    if count == 0:
        yield []
        return
    ids = visible_gpus()
    if count > len(ids):
        raise RuntimeError(f"trainer.devices={count} GPUs asked for, {len(ids)} visible ({ids}).")
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    held: list[tuple[int, Any]] = []
    try:
        while True:  # all `count` GPUs in one pass, or none (holding some while waiting could deadlock)
            for index, physical in enumerate(ids):
                f = open(LOCK_DIR / f"{socket.gethostname()}-gpu{physical}.lock", "a")
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    f.close()
                    continue
                held.append((index, f))
                if len(held) == count:
                    break
            if len(held) == count:
                break
            for _, f in held:
                f.close()
            held.clear()
            time.sleep(poll_s)
        yield sorted(i for i, _ in held)
    finally:
        for _, f in held:
            f.close()
