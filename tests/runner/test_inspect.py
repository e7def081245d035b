"""``se-variants inspect``: on a tiny trained CBAM job (a channel and a spatial gate per unit) the files exist and
read back, and the recorded scales and per-class means equal a direct computation with the checkpoint's
weights; options select samples, classes, channels and blocks reproducibly; every scale shape reduces and
plots; jobs that cannot be inspected exit 2 with the reason."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from se_variants.runner.excitation_plots import plot_by_class, plot_by_instance
from se_variants.runner.excitations import Profile, class_means, class_specificity, profiles
from se_variants.runner.configs import compose
from se_variants.runner.commands import inspect_main as main
from se_variants.runner.inspect_job import InspectError, default_blocks, inspect_job
from se_variants.runner.job import run_job
from se_variants.runner.validate import check_config

CBAM_BLOCKS = [f"stages.{s}.0.attn.{g}" for s in range(3) for g in (0, 1)]


def train(folder: Path, *overrides: str) -> Path:
    """A cbam job on digits, trained in this process for 2 batches (trainer=smoke) into ``folder``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        record = run_job(check_config(compose(["trainer=smoke", "block=cbam", "threads=1", *overrides])), folder)
    finally:
        torch.set_num_threads(threads)
    assert record["status"] == "ok", record.get("error")
    return folder


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> Path:
    """One cbam job on digits (seed 0), shared by the tests of this module (read only)."""
    return train(tmp_path_factory.mktemp("inspect") / "job")


def _direct(job: Path, split: str = "test") -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every block's gate output on the whole split, computed without the inspect code: the checkpoint's weights
    in a freshly built model, a plain forward hook on each gate module."""
    from se_variants.runner.data import DATA
    from se_variants.runner.models import MODEL
    from se_variants.runner.validate import block_spec

    ckpt = torch.load(job / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    cfg = ckpt["hyper_parameters"]
    data = DATA.build({**cfg["data"], "augment": False})
    model = MODEL.build(cfg["model"], data.in_channels, data.num_classes, block_spec(cfg))
    model.load_state_dict({k[6:]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")})
    model.eval()
    out: dict[str, list[torch.Tensor]] = {}
    for name in CBAM_BLOCKS:
        gate = model.get_submodule(name).gate
        gate.register_forward_hook(lambda m, i, o, name=name: out.setdefault(name, []).append(o))
    dataset = getattr(data, split)
    x = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.no_grad():
        model(x)
    labels = np.asarray([dataset[i][1] for i in range(len(dataset))])
    return {k: v[0].numpy() for k, v in out.items()}, labels


@pytest.fixture(scope="module")
def inspected(job):
    return inspect_job(job)


@pytest.mark.slow  # trains a job
def test_files_and_per_class_means_equal_a_direct_computation(job, inspected):
    folder = job / "inspect"
    names = ["excitations.npz", "excitation_stats.csv", "excitations_by_class.csv", "excitations_by_class.png",
             "excitations_by_instance.png", "inspect.json"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)  # no temporary files left
    direct, labels = _direct(job)
    with np.load(folder / "excitations.npz") as npz:
        assert sorted(npz.files) == sorted([*CBAM_BLOCKS, "labels", "indices"])  # depth 8: every block is chosen
        np.testing.assert_array_equal(npz["labels"], labels)
        np.testing.assert_array_equal(npz["indices"], np.arange(len(labels)))
        for name in CBAM_BLOCKS:
            np.testing.assert_allclose(npz[name], direct[name], rtol=1e-5, atol=1e-6)
    assert direct["stages.0.0.attn.0"].shape[1:] == (16, 1, 1) and direct["stages.0.0.attn.1"].shape[1:] == (1, 8, 8)

    meta = json.loads((folder / "inspect.json").read_text())
    assert meta["split"] == "test" and meta["samples"] == 450 and meta["classes"] == list(range(10))
    with open(folder / "excitations_by_class.csv") as f:
        rows = list(csv.DictReader(f))
    for name in ("stages.2.0.attn.0", "stages.1.0.attn.1"):
        values = direct[name].reshape(len(labels), -1)
        shown = meta["shown"][name]
        for c in (0, 7, "all"):
            sel = values if c == "all" else values[labels == c]
            got = {r["element"]: float(r["mean"]) for r in rows if r["block"] == name and r["class"] == str(c)}
            if meta["kinds"][name] == "channels":
                assert len(shown) == 50 and shown == sorted(set(shown))  # 50 of 64 channels, a fixed subset
                want = {str(ch): sel[:, ch].mean() for ch in shown}
            else:  # the 4×4 spatial map of stages.1, whole
                want = {f"{e // 4},{e % 4}": sel[:, e].mean() for e in range(16)}
            assert got.keys() == want.keys()
            assert [got[k] for k in want] == pytest.approx([want[k] for k in want], rel=1e-5, abs=1e-6)

    with open(folder / "excitation_stats.csv") as f:
        stats = {r["block"]: r for r in csv.DictReader(f)}
    for name in CBAM_BLOCKS:
        v = direct[name].astype(np.float64)
        row = stats[name]
        assert row["gate"] == "sigmoid" and row["shape"] == "x".join(map(str, v.shape[1:]))
        assert float(row["mean"]) == pytest.approx(v.mean(), rel=1e-6)
        assert float(row["frac_above_0.9"]) == pytest.approx((v > 0.9).mean())
        assert float(row["frac_below_0.1"]) == pytest.approx((v < 0.1).mean())
        assert float(row["class_specificity"]) == pytest.approx(class_specificity(v, labels), rel=1e-6)

    import matplotlib.image

    for png in ("excitations_by_class.png", "excitations_by_instance.png"):
        img = matplotlib.image.imread(folder / png)
        assert img.ndim == 3 and min(img.shape[:2]) > 200 and img.std() > 0  # drawn, not blank
    assert set(inspected.scales) == set(CBAM_BLOCKS) and inspected.files[0] == folder / "excitations.npz"


def test_class_specificity_is_eta_squared():
    """η² = SS_between / SS_total; for one element it is F(k − 1) / (F(k − 1) + N − k) of the one-way ANOVA."""
    from scipy.stats import f_oneway

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [5, 7, 9])
    v = rng.normal(0, 1, 21) + labels * 0.8
    f = f_oneway(*(v[labels == c] for c in range(3))).statistic
    assert class_specificity(v[:, None], labels) == pytest.approx(f * 2 / (f * 2 + 21 - 3))
    exact = np.stack([labels * 1.0, -labels * 2.0], 1)
    assert class_specificity(exact, labels) == pytest.approx(1.0)  # the class fixes the scale
    assert class_specificity(np.ones((21, 3)), labels) is None  # no variation at all
    pooled = np.stack([v, rng.normal(0, 1, 21)], 1)  # pooled over elements: sums of squares add
    m = pooled.mean(0)
    between = sum((labels == c).sum() * ((pooled[labels == c].mean(0) - m) ** 2).sum() for c in range(3))
    assert class_specificity(pooled, labels) == pytest.approx(between / ((pooled - m) ** 2).sum())


@pytest.mark.slow  # trains a job
def test_options_choose_samples_classes_channels_and_blocks(job, tmp_path, capsys):
    args = [str(job), "--split", "val", "--classes", "1,3", "--per-class", "5", "--channels", "4", "--blocks",
            "stages.2.0.attn.0,stages.1.0.attn.1", "--seed", "3"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "stages.2.0.attn.0" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert main([*args[:-1], "4", "--out", str(tmp_path / "c")]) == 0
    with np.load(tmp_path / "a" / "excitations.npz") as a, np.load(tmp_path / "b" / "excitations.npz") as b, \
            np.load(tmp_path / "c" / "excitations.npz") as c:
        assert sorted(a.files) == ["indices", "labels", "stages.1.0.attn.1", "stages.2.0.attn.0"]
        assert sorted(a["labels"].tolist()) == [1] * 5 + [3] * 5
        np.testing.assert_array_equal(a["indices"], b["indices"])  # same seed, same samples
        assert a["indices"].tolist() != c["indices"].tolist()  # another seed, others
        direct, labels = _direct(job, "val")
        np.testing.assert_allclose(a["stages.2.0.attn.0"], direct["stages.2.0.attn.0"][a["indices"]], rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_array_equal(a["labels"], labels[a["indices"]])
    with open(tmp_path / "a" / "excitations_by_class.csv") as f:
        rows = list(csv.DictReader(f))
    channel_rows = [r for r in rows if r["block"] == "stages.2.0.attn.0"]
    assert len(channel_rows) == 4 * 3 and {r["class"] for r in channel_rows} == {"1", "3", "all"}
    assert {r["n"] for r in channel_rows if r["class"] == "1"} == {"5"}
    meta = json.loads((tmp_path / "a" / "inspect.json").read_text())
    assert meta["shown"]["stages.2.0.attn.0"] == json.loads((tmp_path / "b" / "inspect.json").read_text())[
        "shown"]["stages.2.0.attn.0"]
    assert main([str(job), "--out", str(tmp_path / "defaults")]) == 0  # (its own: no other test's output)
    assert not (tmp_path / "defaults" / "excitations_by_class.csv").read_text() == (
        tmp_path / "a" / "excitations_by_class.csv").read_text()


@pytest.mark.slow  # trains a job
def test_jobs_that_cannot_be_inspected_exit_2(job, tmp_path, capsys):
    def run(*argv: str) -> str:
        assert main(list(argv)) == 2
        return capsys.readouterr().err

    ckpt = torch.load(job / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    none = tmp_path / "none"
    (none / "checkpoints").mkdir(parents=True)
    cfg = {**ckpt["hyper_parameters"], "block": {"name": "none"}}
    torch.save({"state_dict": {}, "hyper_parameters": cfg}, none / "checkpoints" / "last.ckpt")
    assert "trained with block=none" in run(str(none))

    cifar = tmp_path / "cifar"
    (cifar / "checkpoints").mkdir(parents=True)
    data = {"name": "cifar10", "root": str(tmp_path / "nowhere"), "download": False}
    torch.save({"state_dict": {}, "hyper_parameters": {**ckpt["hyper_parameters"], "data": data}},
               cifar / "checkpoints" / "last.ckpt")
    err = run(str(cifar))
    assert "cannot load the data of" in err and "SE_VARIANTS_DATA" in err

    bare = tmp_path / "no_ckpt"
    bare.mkdir()
    shutil.copy(job / "metrics.json", bare / "metrics.json")
    err = run(str(bare))
    assert "no checkpoint at" in err and "status 'ok'" in err and "Traceback" not in err
    assert "is this a sweep folder?" in run(str(tmp_path))
    assert "is not a folder" in run(str(tmp_path / "missing"))

    other = tmp_path / "other" / "checkpoints"
    other.mkdir(parents=True)
    torch.save({"state_dict": {"model.stem.0.weight": torch.zeros(1)}, "hyper_parameters": ckpt["hyper_parameters"]},
               other / "last.ckpt")
    assert "does not fit the network" in run(str(other.parent))
    (other / "last.ckpt").write_bytes(b"not a checkpoint")
    assert "cannot be read as a checkpoint" in run(str(other.parent))

    assert "Did you mean 'stages.2.0.attn.0'" in run(str(job), "--blocks", "stages.2.0.atn.0")
    assert "class 42 has no sample" in run(str(job), "--classes", "42")
    assert "comma-separated class indices" in run(str(job), "--classes", "a,b")
    assert "invalid choice: 'tset'" in run(str(job), "--split", "tset")
    assert "--channels must be >= 1" in run(str(job), "--channels", "0")
    assert "--per-class must be >= 1" in run(str(job), "--per-class", "0")
    with pytest.raises(InspectError, match="unknown split"):
        inspect_job(job, split="tst")
    assert "required: job" in run()
    assert main(["--help"]) == 0 and "--per-class N" in capsys.readouterr().out


def copy_job(job: Path, dest: Path) -> Path:
    """A copy of a job folder's record and checkpoint (nothing else) at ``dest``."""
    (dest / "checkpoints").mkdir(parents=True)
    shutil.copy(job / "metrics.json", dest / "metrics.json")
    shutil.copy(job / "checkpoints" / "last.ckpt", dest / "checkpoints" / "last.ckpt")
    return dest


def edit_config(folder: Path, **changes) -> None:
    """Change keys of the recorded config of a job folder, in its metrics.json and its checkpoint alike."""
    record = json.loads((folder / "metrics.json").read_text())
    record["config"].update(changes)
    (folder / "metrics.json").write_text(json.dumps(record))
    ckpt = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"].update(changes)
    torch.save(ckpt, folder / "checkpoints" / "last.ckpt")


PAYLOAD = """from pathlib import Path

Path({marker!r}).write_text("imported")
"""


@pytest.mark.slow  # trains a job
def test_inspect_never_imports_modules_named_by_the_job_folder(job, tmp_path, monkeypatch, capsys):
    """A job folder is data: the modules its recorded config lists under imports are not imported (a folder
    could name any module on sys.path: this, a payload.py beside it)."""
    marker = tmp_path / "marker"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "sv_inspect_payload.py").write_text(PAYLOAD.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    monkeypatch.delitem(sys.modules, "sv_inspect_payload", raising=False)
    evil = copy_job(job, tmp_path / "evil")
    edit_config(evil, imports=["sv_inspect_payload"])
    assert main([str(evil), "--per-class", "2", "--channels", "3", "--out", str(tmp_path / "out")]) == 0
    assert not marker.exists() and "sv_inspect_payload" not in sys.modules
    assert (tmp_path / "out" / "excitations.npz").is_file()  # every op of this job is registered: inspected
    capsys.readouterr()


SV_OPS = """import torch

from se_variants import SQUEEZE, Descriptor
from se_variants.squeeze import Squeeze


@SQUEEZE.register("sv_rms")
class RootMeanSquare(Squeeze):
    \"\"\"Root mean square over the positions (tests only). Shapes: (N, C, H, W) -> (N, 1, C, 1, 1).\"\"\"

    def __init__(self, channels: int):
        super().__init__(channels)
        self.descriptor = Descriptor(channels, 1, ("c",))

    def forward(self, x):
        return x.pow(2).mean((2, 3), keepdim=True).add(1e-6).sqrt().unsqueeze(1)
"""


@pytest.mark.slow  # trains a job
def test_user_ops_are_imported_only_with_the_imports_option(tmp_path, monkeypatch, capsys):
    """A job trained with an op registered by a user module (imports: [sv_inspect_ops]) is refused, naming the op
    and the option, until the user names the module with --imports."""
    from se_variants import SQUEEZE
    from se_variants.runner.inspect_job import load_job

    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "sv_inspect_ops.py").write_text(SV_OPS)
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))

    def forget() -> None:  # as in a fresh process: the op unregistered, its module not imported
        if "sv_rms" in SQUEEZE:
            SQUEEZE.unregister("sv_rms")
        sys.modules.pop("sv_inspect_ops", None)

    try:
        cfg = compose(["trainer=smoke", "threads=1", "imports=[sv_inspect_ops]"])
        cfg = {**check_config(cfg), "squeeze": {"name": "sv_rms"}}
        folder = tmp_path / "job"
        record = run_job(check_config(cfg), folder)
        assert record["status"] == "ok", record.get("error")
        forget()
        args = [str(folder), "--per-class", "2", "--channels", "3", "--out", str(tmp_path / "out")]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "squeeze 'sv_rms', which is not registered here" in err
        assert "imports: [sv_inspect_ops]" in err and "--imports sv_inspect_ops" in err
        assert "sv_inspect_ops" not in sys.modules and not (tmp_path / "out").exists()
        assert main([*args, "--imports", "no_such_module_sv"]) == 2
        assert "cannot import 'no_such_module_sv'" in capsys.readouterr().err
        assert main([*args, "--imports", "sv_inspect_ops"]) == 0
        capsys.readouterr()
        meta = json.loads((tmp_path / "out" / "inspect.json").read_text())
        assert meta["imports"] == ["sv_inspect_ops"] and meta["samples"] == 20
        forget()
        assert load_job(folder, imports=["sv_inspect_ops"]).config["squeeze"] == {"name": "sv_rms"}
    finally:
        forget()


@pytest.mark.slow  # trains a job
def test_a_checkpoint_of_another_job_is_refused(job, tmp_path, capsys):
    """--ckpt (or a job folder's own last.ckpt) must be of the job's config: inspect writes its results as the
    job's. The job's config is its metrics.json's, or its own last.ckpt's when the record is missing or broken."""
    other = train(tmp_path / "seed1", "seed=1")
    theirs = other / "checkpoints" / "last.ckpt"
    out = tmp_path / "out"

    def refused(*argv: str) -> str:
        assert main([*argv, "--per-class", "2", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "seed: 1 → 0" in err and "Traceback" not in err and not out.exists()
        return err

    assert str(job) in refused(str(job), "--ckpt", str(theirs))
    no_record = copy_job(job, tmp_path / "no_record")
    (no_record / "metrics.json").unlink()
    refused(str(no_record), "--ckpt", str(theirs))
    broken = copy_job(job, tmp_path / "broken")
    (broken / "metrics.json").write_text("{not json")
    refused(str(broken), "--ckpt", str(theirs))
    swapped = copy_job(job, tmp_path / "swapped")  # a last.ckpt copied in from another job
    shutil.copy(theirs, swapped / "checkpoints" / "last.ckpt")
    refused(str(swapped))

    bare = tmp_path / "bare"  # no record and no checkpoint of its own: nothing to check --ckpt against
    bare.mkdir()
    assert main([str(bare), "--ckpt", str(theirs), "--out", str(out)]) == 2
    assert "cannot be checked" in capsys.readouterr().err and not out.exists()

    mine = tmp_path / "mine.ckpt"  # the job's own checkpoint, copied elsewhere, is its own
    shutil.copy(job / "checkpoints" / "last.ckpt", mine)
    assert main([str(job), "--ckpt", str(mine), "--per-class", "2", "--out", str(out)]) == 0
    assert json.loads((out / "inspect.json").read_text())["checkpoint"] == str(mine)
    capsys.readouterr()


@pytest.mark.slow  # trains a job
def test_bad_seed_and_out_exit_2_without_a_traceback(job, tmp_path, capsys):
    def run(*argv: str) -> str:
        assert main([str(job), *argv]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "usage:" in err
        return err

    err = run("--seed", "-1")
    assert "--seed must be >= 0" in err and "numpy" in err
    afile = tmp_path / "a_file"
    afile.write_text("keep me")
    err = run("--out", str(afile))
    assert f"--out {afile} is a file" in err and afile.read_text() == "keep me"
    assert "is a file" in run("--out", str(afile / "below"))
    assert "--per-class must be >= 1" in run("--per-class", "0")
    assert "--channels must be >= 1" in run("--channels", "0")
    with pytest.raises(InspectError, match="seed must be >= 0"):
        inspect_job(job, seed=-2)


@pytest.mark.slow  # trains a job
def test_an_unfinished_job_is_inspected_with_a_warning(job, tmp_path, capsys):
    """A job whose record is not ok (failed, interrupted, running or killed; missing or broken) is inspected
    from its last checkpoint, with a warning on stderr naming its status and the checkpoint's epoch; inspect.json
    records both."""

    def inspect(folder: Path) -> tuple[str | None, dict]:
        out = tmp_path / f"out_{folder.name}"
        result = inspect_job(folder, per_class=2, channels=3, out=out, plot=False)
        return result.job.warning, json.loads((out / "inspect.json").read_text())

    warning, meta = inspect(job)
    assert warning is None and meta["job_status"] == "ok" and meta["epoch"] == 1 and meta["job_error"] is None

    failed = copy_job(job, tmp_path / "failed")
    record = json.loads((failed / "metrics.json").read_text())
    record.update(status="failed", error={"type": "RuntimeError", "message": "boom"}, finished=None)
    (failed / "metrics.json").write_text(json.dumps(record))
    assert main([str(failed), "--per-class", "2", "--channels", "3", "--out", str(tmp_path / "cli")]) == 0
    captured = capsys.readouterr()
    assert "warning: this job did not finish (status failed: RuntimeError); inspecting its last checkpoint " \
           "(epoch 1 of 1)" in captured.err and "warning" not in captured.out
    meta = json.loads((tmp_path / "cli" / "inspect.json").read_text())
    assert meta["job_status"] == "failed" and meta["job_error"] == "RuntimeError" and meta["epoch"] == 1

    running = copy_job(job, tmp_path / "running")
    record.update(status="running", error=None)
    (running / "metrics.json").write_text(json.dumps(record))
    warning, meta = inspect(running)
    assert warning.startswith("warning: this job did not finish (status running") and "(epoch 1 of 1)" in warning
    assert meta["job_status"] == "running"

    missing = copy_job(job, tmp_path / "missing")
    (missing / "metrics.json").unlink()
    warning, meta = inspect(missing)
    assert warning.startswith("warning:") and "metrics.json is missing" in warning and "(epoch 1 of 1)" in warning
    assert meta["job_status"] == "unknown" and meta["epoch"] == 1

    broken = copy_job(job, tmp_path / "broken")
    (broken / "metrics.json").write_text("[]")
    warning, meta = inspect(broken)
    assert "metrics.json cannot be read: not a job record" in warning and meta["job_status"] == "unknown"


SHAPES = {  # scale shape without the batch → what the figures show
    "channel": ((6, 1, 1), "channels"),
    "spatial": ((1, 4, 5), "map"),
    "keeps_h": ((6, 4, 1), "channels"),
    "keeps_w": ((6, 1, 5), "channels"),
    "row_map": ((1, 4, 1), "positions"),
    "scalar": ((1, 1, 1), "positions"),
    "fusion": ((2, 6, 1, 1), "branches"),
    "conv1d_block": ((6, 1), "channels"),  # 1-D blocks: (N, C, 1)
    "conv3d_block": ((6, 1, 1, 1), "channels"),  # 3-D blocks: (N, C, 1, 1, 1)
    "volume_map": ((1, 3, 4, 5), "map"),
    "simam": ((6, 4, 5), "channels"),
}


@pytest.mark.slow
def test_every_scale_shape_reduces_and_plots(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 4)
    scales = {k: rng.normal(0.5, 2.0, (12, *shape)).astype(np.float32) for k, (shape, _) in SHAPES.items()}
    profs = profiles(scales, fusion={"fusion"}, channels=4, seed=0)
    assert {k: p.kind for k, p in profs.items()} == {k: kind for k, (_, kind) in SHAPES.items()}
    assert len(profs["channel"].shown) == 4 and profs["channel"].shown == profiles(scales, {"fusion"}, 4, 0)[
        "channel"].shown
    assert len(profs["fusion"].shown) == 8  # the same 4 channels in each of the 2 branches
    means = class_means(profs["keeps_h"], labels, [0, 1, 2])
    ch = profs["keeps_h"].shown
    np.testing.assert_allclose(means[1][0], scales["keeps_h"][labels == 1].mean(2)[:, ch, 0].mean(0), rtol=1e-6)
    volume = class_means(profs["volume_map"], labels, [0, 1, 2])[2][0]
    np.testing.assert_allclose(volume, scales["volume_map"][labels == 2, 0].mean(1).mean(0), rtol=1e-5)
    fusion = class_means(profs["fusion"], labels, [0])[0][0]
    np.testing.assert_allclose(fusion[4:], scales["fusion"][labels == 0][:, 1, profs["channel"].shown, 0, 0].mean(0),
                               rtol=1e-6)  # branch 2, the same channel subset (same C, same seed)
    plot_by_class(profs, labels, [0, 1, 2], tmp_path / "c.png", "all shapes")
    plot_by_instance(profs, labels, [0, 1, 2], tmp_path / "i.png", "all shapes")
    assert (tmp_path / "c.png").stat().st_size > 10_000 and (tmp_path / "i.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="channels must be >= 1"):
        profiles(scales, set(), channels=0)
    assert isinstance(profs["spatial"], Profile) and profs["spatial"].values.shape == (12, 4, 5)


def test_default_blocks_are_senets_fig6_choice():
    from se_variants.runner.models import MODEL

    tv = MODEL.build({"name": "torchvision", "arch": "resnet50"}, 3, 10, "se")
    # SE_2_3, SE_3_4, SE_4_6 (last of conv2..conv4) and SE_5_1..SE_5_3 (all of conv5), as SENet Fig. 6
    assert default_blocks(tv) == ["layer1.2.bn3.1", "layer2.3.bn3.1", "layer3.5.bn3.1", "layer4.0.bn3.1",
                                  "layer4.1.bn3.1", "layer4.2.bn3.1"]
    cifar = MODEL.build({"name": "cifar_resnet", "depth": 20}, 1, 10, "cbam")
    assert default_blocks(cifar) == ["stages.0.2.attn.0", "stages.0.2.attn.1", "stages.1.2.attn.0",
                                     "stages.1.2.attn.1", *[f"stages.2.{u}.attn.{g}" for u in range(3) for g in (0, 1)]]
    post = MODEL.build({"name": "cifar_resnet", "depth": 20, "placement": "post", "stages": [1, 2]}, 1, 10, "sk")
    assert default_blocks(post) == ["stages.0.2.post.fusion", *[f"stages.1.{u}.post.fusion" for u in range(3)]]
