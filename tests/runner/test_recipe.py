"""The training recipe of Ismail Fawaz et al. 2019 as general options: optim=adam, schedule=plateau (on the
training loss, with Keras' patience), trainer.select=min_train_loss, no validation split -- and exact resume with
all of them: a job killed in an epoch and run again ends with the numbers, the lr sequence and the selected epoch
of an uninterrupted run."""

from __future__ import annotations

import math
import signal

import numpy as np
import pytest
import torch

from se_variants.registry import SpecError
from se_variants.runner.configs import compose
from se_variants.runner.job import run_job
from se_variants.runner.optim import OPTIM, SCHEDULE
from se_variants.runner.search_settings import check_objectives_data
from se_variants.runner.validate import ConfigError, check_config

from .conftest import CALLS_PER_EPOCH, ops_in_process, run_cli, run_here


def keras_plateau(losses, lr, factor, patience, min_lr, min_delta):
    """The lr each epoch trains with under Keras' ReduceLROnPlateau(monitor='loss', mode='min', cooldown=0),
    written from its documentation and source (keras/src/callbacks/reduce_lr_on_plateau.py): an epoch improves when
    its loss is below the best minus min_delta; after ``patience`` epochs without improvement the lr becomes
    max(lr · factor, min_lr) (when above min_lr) and the count restarts."""
    best, wait, out = math.inf, 0, []
    for loss in losses:
        out.append(lr)
        if loss < best - min_delta:
            best, wait = loss, 0
        else:
            wait += 1
            if wait >= patience and lr > min_lr:
                lr, wait = max(lr * factor, min_lr), 0
    return out


def _plateau_lrs(losses, **options):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = OPTIM.build({"name": "adam", "lr": 1e-3}, [param])
    schedule = SCHEDULE.build({"name": "plateau", **options}, optimizer, len(losses))
    out = []
    for loss in losses:
        out.append(optimizer.param_groups[0]["lr"])
        schedule.step(loss)
    return out


@pytest.mark.parametrize("patience,min_delta", [(1, 1e-4), (3, 1e-4), (50, 1e-4), (2, 0.05)])
def test_plateau_follows_keras(patience, min_delta):
    """Random-walk training losses (plateaus, ties, small improvements): the lr of every epoch equals Keras'
    rule's (exactly: both halve the same floats)."""
    rng = np.random.default_rng(patience)
    losses = np.maximum.accumulate(np.cumsum(rng.normal(0, 0.02, 400))[::-1])[::-1] + rng.normal(0, 0.01, 400)
    losses = np.round(losses, 3).tolist()  # ties happen
    options = dict(factor=0.5, patience=patience, min_lr=1e-4, min_delta=min_delta)
    ours = _plateau_lrs(losses, **options)
    assert ours == keras_plateau(losses, 1e-3, **options)
    assert len(set(ours)) > 1


def test_recipe_options_are_checked():
    with pytest.raises(SpecError, match="patience"):
        SCHEDULE.entry("plateau").factory.check(10, patience=0)
    with pytest.raises(SpecError, match="factor"):
        SCHEDULE.entry("plateau").factory.check(10, factor=1.0)
    with pytest.raises(SpecError, match="eps must be > 0"):
        OPTIM.entry("adam").factory.check(eps=0.0)
    adam = OPTIM.build(compose(["optim=adam"])["optim"], [torch.nn.Parameter(torch.zeros(1))])
    assert adam.defaults["eps"] == 1e-7 and adam.defaults["weight_decay"] == 0  # Keras' epsilon, no decay
    with pytest.raises(ConfigError, match="trainer.select: unknown selection 'min_train_los'"):
        check_config(compose(["trainer.select=min_train_los"]))


def test_a_search_on_a_validation_metric_needs_a_validation_split():
    cfg = check_config(compose(["data=ucr", "model=fcn"]))  # val_fraction 0, as published
    with pytest.raises(ConfigError, match="val/acc is measured on the validation split.*data.val_fraction=0.1"):
        check_objectives_data(cfg, ["val/acc"])
    check_objectives_data(cfg, ["train/loss"])
    check_objectives_data(check_config(compose(["data=ucr", "model=fcn", "data.val_fraction=0.2"])), ["val/acc"])


# ------------------------------------------------------------------------------------------------- trained

#: the digits job of the resume tests (squeeze=fault: the kill switch) with the whole recipe; a plateau every
#: epoch that does not improve by 1.0 (patience 1), so the lr is cut within the 4 epochs
RECIPE = ["squeeze=fault", "imports=[sv_test_ops]", "trainer.max_epochs=4", "trainer.limit_train_batches=3",
          "trainer.limit_test_batches=2", "checkpoint_every_s=0", "data.val_fraction=0", "optim=adam",
          "schedule=plateau", "schedule.patience=1", "schedule.min_delta=1.0", "trainer.select=min_train_loss",
          "seed=0"]


def _selected_test_accuracy(cfg: dict, state: dict) -> float:
    """Test accuracy of the weights ``state`` on the job's test batches, computed here without the runner's loop."""
    from se_variants.runner.data import DATA
    from se_variants.runner.models import MODEL
    from se_variants.runner.validate import block_spec

    splits = DATA.build(cfg["data"])
    model = MODEL.build(cfg["model"], splits.in_channels, splits.num_classes, block_spec(cfg))
    model.load_state_dict(state)
    model.eval()
    n = cfg["trainer"]["limit_test_batches"] * splits.batch_size
    with torch.no_grad():
        x, y = splits.test.images[:n], splits.test.labels[:n]
        return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.slow
def test_plateau_selection_and_no_validation_survive_a_kill(tmp_path, user_ops):
    """SIGKILL in epoch 3 (after epoch 2's checkpoint), the same command again: the metrics, the history (with the
    lr each epoch trained with), the selected epoch and the tested weights are those of the uninterrupted run. In
    that run the lr follows torch's ReduceLROnPlateau fed the epochs' training losses (patience − 1: Keras counts
    differently), the selected epoch is the first with the lowest training loss, and the test accuracy is that of
    its weights; there are no val metrics (val_fraction=0), not zeros."""
    from se_variants.runner.checkpoints import load_checkpoint, selected

    with ops_in_process(user_ops):  # (the op's group option is made by the command line; here by hand)
        cfg = compose([o for o in RECIPE if not o.startswith(("squeeze=", "imports="))])
        cfg = check_config({**check_config(cfg), "squeeze": {"name": "fault"}, "imports": ["sv_test_ops"]})
        reference = run_job(cfg, tmp_path / "reference")
    assert reference["status"] == "ok", reference["error"]
    history = reference["history"]
    losses = [h["train/loss"] for h in history]

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1e-3)
    torch_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=1.0,
                                                               threshold_mode="abs", min_lr=1e-4)
    expected = []
    for loss in losses:
        expected.append(optimizer.param_groups[0]["lr"])
        torch_plateau.step(loss)
    assert [h["lr"] for h in history] == expected and len(set(expected)) > 1

    first_min = int(np.argmin(losses))
    assert reference["selected"] == {"by": "min_train_loss", "epoch": first_min, "train/loss": losses[first_min]}
    state = selected(load_checkpoint(tmp_path / "reference" / "checkpoints" / "last.ckpt")[0])
    assert state["epoch"] == first_min
    with ops_in_process(user_ops):
        check_config(cfg)  # (imports the op again)
        assert _selected_test_accuracy(cfg, state["state"]) == pytest.approx(reference["metrics"]["test"]["acc"],
                                                                             abs=1e-6)
        from se_variants.runner.inspect_job import load_job

        inspected = load_job(tmp_path / "reference", imports=["sv_test_ops"]).model.state_dict()
        assert all(torch.equal(inspected[k], v) for k, v in state["state"].items())  # inspect sees what was tested
    assert set(reference["metrics"]) == {"train", "test"} and not any("val/" in k for h in history for k in h)

    args = ["train", *RECIPE, f"hydra.run.dir={tmp_path / 'job'}"]
    killed = run_cli(args, cwd=tmp_path, env={"SV_KILL_AT": str(2 * CALLS_PER_EPOCH + 2)}, pythonpath=[user_ops])
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    again = run_here(args, user_ops, cwd=tmp_path)  # (here: nothing stops it)
    assert again.returncode == 0, again.stderr[-3000:]
    import json

    record = json.loads((tmp_path / "job" / "metrics.json").read_text())
    assert [a["outcome"] for a in record["attempts"]] == ["killed", "ok"] and record["attempts"][1]["from_epoch"] == 2
    assert record["config_hash"] == reference["config_hash"]
    assert record["metrics"] == reference["metrics"] and record["history"] == reference["history"]
    assert record["selected"] == reference["selected"] and record["per_class"] == reference["per_class"]


@pytest.mark.slow
def test_fcn_recipe_on_ucr_resumes_exactly_after_a_failure_in_any_epoch(tmp_path):
    """The experiment's own setting, shortened: FCN + a block on ItalyPowerDemand with adam (lr 0.1: the training
    loss goes down, then up, so the selected epoch is an early one), plateau (a cut after every epoch without a
    0.02 lower loss), min_train_loss selection, batch auto, no validation split. A job that dies in epoch k and is
    run again ends exactly as the uninterrupted one -- history, lr sequence, selected epoch, test metrics -- for k
    before and after the selected epoch (whose weights then come from the checkpoint)."""
    from se_variants import SQUEEZE, Descriptor
    from se_variants.squeeze import Squeeze

    calls = {"n": 0, "fail_at": None}

    class DiesOnce1d(Squeeze):
        """Average pooling over L that raises at one chosen training call. Shapes: (N, C, L) → (N, 1, C, 1)."""

        def __init__(self, channels: int, dims: int = 1):
            super().__init__(channels, dims)
            self.descriptor = Descriptor(channels, 1, ("c",), dims=dims)

        def forward(self, x):
            if self.training and torch.is_grad_enabled():
                calls["n"] += 1
                if calls["n"] == calls["fail_at"]:
                    raise RuntimeError("killed")
            return x.mean(2, keepdim=True).unsqueeze(1)

    SQUEEZE.register("dies_once_1d")(DiesOnce1d)
    try:
        epochs = 5
        cfg = check_config(compose(["experiment=ucr_fcn", "block=parts", "squeeze=avg", f"trainer.max_epochs={epochs}",
                                    "optim.lr=0.1", "schedule.patience=1", "schedule.min_delta=0.02",
                                    "checkpoint_every_s=0"]))
        cfg = {**cfg, "squeeze": {"name": "dies_once_1d"}}
        reference = run_job(cfg, tmp_path / "reference")
        assert reference["status"] == "ok", reference["error"]
        chosen = reference["selected"]["epoch"]
        assert len({h["lr"] for h in reference["history"]}) > 1
        assert chosen is not None and chosen + 1 < epochs - 1, reference["history"]  # kills after it are tested
        from se_variants.runner.checkpoints import load_checkpoint, selected
        from se_variants.runner.inspect_job import load_job

        ckpt = load_checkpoint(tmp_path / "reference" / "checkpoints" / "last.ckpt")[0]
        inspected = load_job(tmp_path / "reference").model.state_dict()  # se-variants inspect: the tested weights
        assert all(torch.equal(inspected[k], v) for k, v in selected(ckpt)["state"].items())
        assert not all(torch.equal(inspected[k[len("model."):]], v) for k, v in ckpt["state_dict"].items())
        per_epoch = 12 * 2  # 67 cases in batches of 6 × blocks after conv blocks 1 and 2
        for k in sorted({1, chosen + 1, epochs - 1}):  # before the selected epoch, right after it, the last
            calls.update(n=0, fail_at=per_epoch * k + 1)
            first = run_job(cfg, tmp_path / f"k{k}")
            assert first["status"] == "failed" and first["error"]["message"] == "killed"
            calls.update(n=0, fail_at=None)
            again = run_job(cfg, tmp_path / f"k{k}")
            assert again["status"] == "ok" and again["attempts"][1]["from_epoch"] == k
            assert again["metrics"] == reference["metrics"] and again["history"] == reference["history"]
            assert again["selected"] == reference["selected"], k
    finally:
        SQUEEZE.unregister("dies_once_1d")


@pytest.mark.slow
def test_a_search_on_val_acc_without_a_validation_split_is_refused(tmp_path, monkeypatch, sv):
    pytest.importorskip("optuna")
    monkeypatch.chdir(tmp_path)
    code, _, err = sv("train", "-m", "hydra/sweeper=optuna", "block=choice(se,eca)", "data=ucr", "model=fcn",
                      "--dry-run")
    assert code == 2 and "val/acc is measured on the validation split" in err and "Traceback" not in err
