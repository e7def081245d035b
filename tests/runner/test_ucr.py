"""data=ucr: the .ts reader, the archive's datasets as published (sizes, channels, lengths, classes), the
z-normalisation, variable lengths (cubic and linear resampling against scipy and torch, NaN padding and its
mask), Fawaz et al.'s batch rule, no validation split, and the errors that stop a command before anything trains
(an unknown name, a dataset that is neither bundled nor downloadable)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from se_variants.registry import SpecError
from se_variants.runner.data import DATA, DataError, data_meta, data_padded
from se_variants.runner.data import ucr as ucr_data
from se_variants.runner.data.base import auto_batch_size
from se_variants.runner.data.ts_format import TsFormatError, read_ts

if importlib.util.find_spec("sktime") is None:  # (not importorskip: importing sktime costs 1.6 s, and no test needs it)
    pytest.skip("data=ucr needs the [ucr] extra (sktime's bundled copies)", allow_module_level=True)

HEADER = "# a comment\n@problemName Toy\n@timeStamps false\n@missing false\n@classLabel true a b\n@data\n"


def _ts(tmp_path, body: str, header: str = HEADER, name: str = "toy.ts"):
    path = tmp_path / name
    path.write_text(header + body)
    return path


# ------------------------------------------------------------------------------------------------- the format


def test_read_ts_univariate_multivariate_variable_length(tmp_path):
    uni = read_ts(_ts(tmp_path, "1,2,3,4:a\n5,6,7,8:b\n"))
    assert uni.labels == ["a", "b"] and uni.class_labels == ["a", "b"] and uni.channels == 1
    np.testing.assert_array_equal(uni.series[1], [[5, 6, 7, 8]])
    multi = read_ts(_ts(tmp_path, "1,2,3:4,5,6:a\n7,8:9,10:b\n"))
    assert multi.channels == 2 and multi.lengths.tolist() == [3, 2]
    np.testing.assert_array_equal(multi.series[1], [[7, 8], [9, 10]])
    missing = read_ts(_ts(tmp_path, "1,?,3:a\n"))
    assert missing.missing and np.isnan(missing.series[0][0, 1])


@pytest.mark.parametrize("body,header,match", [
    ("1,2:3:a\n", HEADER, "differ in length"),
    ("1,2:a\n1,2:3,4:b\n", HEADER, "2 channels, but the first case has 1"),
    ("1,x,3:a\n", HEADER, "'x' is not a number"),
    ("1,2:c\n", HEADER, "not among the declared"),
    ("1,2:a\n", HEADER.replace("@timeStamps false", "@timeStamps true"), "timeStamps true"),
    ("1,2:0.5\n", HEADER.replace("@classLabel true a b", "@targetLabel true"), "not a classification file"),
    ("", HEADER, "no cases"),
], ids=["channel-lengths", "channel-count", "not-a-number", "undeclared-label", "timestamps", "regression",
        "empty"])
def test_read_ts_refuses_what_is_not_the_format(tmp_path, body, header, match):
    with pytest.raises(TsFormatError, match=match):
        read_ts(_ts(tmp_path, body, header))


# ------------------------------------------------------------------------------------------------- the archive

#: the archive's published facts of the bundled datasets: train / test cases, channels, longest length, classes
#: (timeseriesclassification.com; Dau et al. 2019, Bagnall et al. 2018)
ARCHIVE = {
    "ItalyPowerDemand": (67, 1029, 1, 24, 2),
    "ArrowHead": (36, 175, 1, 251, 3),
    "GunPoint": (50, 150, 1, 150, 2),
    "BasicMotions": (40, 40, 6, 100, 4),
    "JapaneseVowels": (270, 370, 12, 29, 9),
}


@pytest.mark.parametrize("name", list(ARCHIVE))
def test_bundled_datasets_load_as_published(name):
    n_train, n_test, channels, length, classes = ARCHIVE[name]
    splits = DATA.build({"name": name})  # data=ucr data.name=<name>: the name is the dataset's
    assert splits.sizes() == {"train": n_train, "val": 0, "test": n_test}
    assert (splits.in_channels, splits.image_size, splits.num_classes) == (channels, (length,), classes)
    assert data_meta({"name": name}) == (channels, classes, (length,))
    x, y = splits.train[0]
    assert x.shape == (channels, length) and x.dtype == torch.float32 and 0 <= y < classes
    assert torch.isfinite(splits.test.images).all()
    assert set(splits.test.labels.tolist()) <= set(range(classes))


def test_the_bundled_list_and_the_archive_names():
    assert set(ARCHIVE) <= set(ucr_data.bundled())
    names = ucr_data.archive_names()
    assert len(names) == 128 + 33 and {"Coffee", "ItalyPowerDemand", "JapaneseVowels", "BasicMotions"} <= set(names)


def test_znormalisation_per_series_and_channel():
    """Every channel of every case has mean 0 and population std 1 (scipy's zscore, ddof 0); a constant channel
    is only centred (Fawaz et al.'s rule)."""
    from scipy.stats import zscore

    train, _ = ucr_data.load_archive("BasicMotions")
    x = DATA.build({"name": "BasicMotions"}).train.images.numpy()
    ref = np.stack([zscore(s, axis=1, ddof=0) for s in train.series])
    np.testing.assert_allclose(x, ref, atol=1e-5)
    out = ucr_data.znormalize([np.array([[3.0, 3.0, 3.0], [1.0, 2.0, 3.0]])])[0]
    np.testing.assert_allclose(out[0], 0.0)
    np.testing.assert_allclose(out[1], zscore([1.0, 2.0, 3.0]))
    raw = DATA.build({"name": "BasicMotions", "znorm": False}).train.images.numpy()
    np.testing.assert_allclose(raw, np.stack(train.series), atol=1e-6)


def test_variable_length_cubic_is_scipys_interp1d_cubic():
    """Fawaz et al. resampled the MTS archive with scipy's interp1d(kind='cubic') to the longest length: ours
    equals that call case by case (float32: atol 1e-5)."""
    from scipy.interpolate import interp1d

    train, test = ucr_data.load_archive("JapaneseVowels")
    x = DATA.build({"name": "JapaneseVowels", "znorm": False, "variable_length": "cubic"})
    assert x.image_size == (29,) and not data_padded({"name": "JapaneseVowels"})
    for i in (0, 5, 100):
        s = train.series[i]
        ref = interp1d(np.arange(s.shape[1]), s, kind="cubic", axis=1)(np.linspace(0, s.shape[1] - 1, 29))
        np.testing.assert_allclose(x.train.images[i].numpy(), ref, atol=1e-5)


def test_variable_length_linear_is_torchs_linear_interpolation():
    train, _ = ucr_data.load_archive("JapaneseVowels")
    x = DATA.build({"name": "JapaneseVowels", "znorm": False, "variable_length": "linear"})
    for i in (0, 7, 200):
        s = torch.tensor(train.series[i], dtype=torch.float64)[None]
        ref = torch.nn.functional.interpolate(s, size=29, mode="linear", align_corners=True)[0]
        np.testing.assert_allclose(x.train.images[i].numpy(), ref.numpy(), atol=1e-5)


def test_variable_length_pad_keeps_the_values_and_marks_the_padding():
    """pad: each case's own values (z-normalised), then NaN to the longest length; the flag the planner reads."""
    train, test = ucr_data.load_archive("JapaneseVowels")
    x = DATA.build({"name": "JapaneseVowels", "variable_length": "pad"})
    assert data_padded({"name": "JapaneseVowels", "variable_length": "pad"})
    assert not data_padded({"name": "ItalyPowerDemand", "variable_length": "pad"})  # equal lengths: nothing padded
    for i in (0, 3):
        n = train.series[i].shape[1]
        got = x.train.images[i].numpy()
        np.testing.assert_allclose(got[:, :n], ucr_data.znormalize([train.series[i]])[0], atol=1e-5)
        assert np.isnan(got[:, n:]).all() and not np.isnan(got[:, :n]).any()
    lengths = (~torch.isnan(x.test.images[:, 0])).sum(1)
    assert lengths.tolist() == test.lengths.tolist()


def test_cubic_needs_four_points():
    short = [np.arange(3.0)[None], np.arange(5.0)[None]]
    with pytest.raises(DataError, match="too short for a cubic spline"):
        ucr_data._check_resample("Toy", np.array([s.shape[1] for s in short]), "cubic")
    out = ucr_data.equal_length(short, 5, "linear")
    np.testing.assert_allclose(out[0, 0], [0, 0.5, 1, 1.5, 2])
    np.testing.assert_allclose(ucr_data.equal_length([np.array([[7.0]]), np.arange(3.0)[None]], 3, "linear")[0, 0],
                               [7.0, 7.0, 7.0])  # a one-point case: constant


def test_batch_size_auto_is_fawaz_rule():
    """int(min(N_train / 10, 16)): the published batches 6 (ItalyPowerDemand), 3 (ArrowHead), 16 (JapaneseVowels)."""
    assert [DATA.build({"name": n}).batch_size for n in ("ItalyPowerDemand", "ArrowHead", "JapaneseVowels")] == \
        [6, 3, 16]
    assert [auto_batch_size(n) for n in (5, 10, 99, 160, 10_000)] == [1, 1, 9, 16, 16]
    assert DATA.build({"name": "digits", "batch_size": "auto"}).batch_size == 16  # any data: 1077 / 10 > 16


def test_validation_split_is_an_option():
    none = DATA.build({"name": "ArrowHead"})
    assert len(none.val) == 0 and len(none.train) == 36
    held = DATA.build({"name": "ArrowHead", "val_fraction": 0.25})
    assert (len(held.train), len(held.val)) == (27, 9)
    assert sorted(torch.bincount(held.val.labels).tolist()) == [3, 3, 3]  # stratified: 12 training cases per class
    digits = DATA.build({"name": "digits", "val_fraction": 0.0})
    assert digits.sizes() == {"train": 1347, "val": 0, "test": 450}


# ------------------------------------------------------------------------------------------------- errors


def test_an_unknown_name_gets_did_you_mean_against_the_archive():
    with pytest.raises(SpecError, match="Did you mean 'ItalyPowerDemand'"):
        DATA.resolve({"name": "ItalyPowerDemnd"})
    with pytest.raises(SpecError, match="Unknown data 'NoSuchSet'.*data=ucr data.name="):
        DATA.resolve({"name": "NoSuchSet"})
    with pytest.raises(SpecError, match="choose the group option too, data=ucr data.name=GunPoint"):
        DATA.resolve({"name": "GunPoint", "test_fraction": 0.25})  # data.name=GunPoint on the digits node


def test_a_dataset_neither_bundled_nor_downloadable_names_where_to_put_it(tmp_path, monkeypatch):
    """sktime's loader fails (no network): DataError naming the dataset, the bundled ones and the cache folder;
    no empty cache folder is left behind."""
    import sktime.datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(sktime.datasets, "load_UCR_UEA_dataset", offline)
    root = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        data_meta({"name": "Coffee", "root": str(root)})
    message = str(err.value)
    assert "'Coffee' is not bundled" in message and "ItalyPowerDemand" in message and "could not be downloaded" \
        in message and str(root.resolve() / "Coffee") in message and "Name or service not known" in message
    assert not root.exists()
    with pytest.raises(DataError, match="data.download=false"):
        data_meta({"name": "Coffee", "root": str(tmp_path), "download": False})


def test_a_copy_in_root_is_read(tmp_path):
    """A dataset that is not bundled is read from <root>/<name>/ (a download, or a copy put there by hand)."""
    folder = tmp_path / "Coffee"
    folder.mkdir()
    header = HEADER.replace("Toy", "Coffee")
    for part, n in (("TRAIN", 4), ("TEST", 2)):
        rows = "".join(f"{i},{i + 1},{i + 3},{i},{2 * i}:{'ab'[i % 2]}\n" for i in range(n))
        (folder / f"Coffee_{part}.ts").write_text(header + rows)
    splits = DATA.build({"name": "Coffee", "root": str(tmp_path), "download": False})
    assert splits.sizes() == {"train": 4, "val": 0, "test": 2} and splits.image_size == (5,)


@pytest.mark.slow
def test_unknown_and_unreachable_names_exit_2_before_training(tmp_path, monkeypatch, sv):
    """`se-variants train data=ucr data.name=NoSuchSet` and a name without a copy or a network: exit 2, the
    message, no traceback, no job folder."""
    import sktime.datasets

    monkeypatch.chdir(tmp_path)
    code, _, err = sv("train", "data=ucr", "data.name=NoSuchSet", "model=fcn", f"hydra.run.dir={tmp_path / 'a'}")
    assert code == 2 and "Unknown data 'NoSuchSet'" in err and "Traceback" not in err
    monkeypatch.setattr(sktime.datasets, "load_UCR_UEA_dataset",
                        lambda *a, **k: (_ for _ in ()).throw(ConnectionError("offline")))
    code, _, err = sv("train", "data=ucr", "data.name=Coffee", "model=fcn", f"data.root={tmp_path / 'ucr'}",
                      f"hydra.run.dir={tmp_path / 'b'}")
    assert code == 2 and "'Coffee' is not bundled" in err and "Traceback" not in err
    assert str((tmp_path / "ucr" / "Coffee").resolve()) in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_the_experiment_narrowed_plans_three_jobs(tmp_path, monkeypatch, sv):
    """The documented narrowing: one variant of ucr_fcn, 3 seeds -> 3 jobs, each checked, nothing trained."""
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("ablate", "experiment=ucr_fcn", 'ablation.variants=["data.name=ItalyPowerDemand block=none"]',
                        "ablation.seeds=[0,1,2]", "--dry-run")
    assert code == 0, err[-2000:]
    assert "Dry run: 3 jobs: 0 finished, 3 to run" in out and out.count("[run ]") == 3
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_train_fcn_with_se_on_gunpoint(tmp_path, monkeypatch, sv):
    """`se-variants train data=ucr data.name=GunPoint model=fcn block=se trainer.max_epochs=2` works."""
    monkeypatch.chdir(tmp_path)
    code, out, err = sv("train", "data=ucr", "data.name=GunPoint", "model=fcn", "block=se", "trainer.max_epochs=2",
                        f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 0, err[-3000:]
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "ok" and record["epochs"] == 2 and record["data"]["name"] == "GunPoint"
    assert record["data"]["sizes"] == {"train": 50, "val": 0, "test": 150}
    assert set(record["metrics"]) == {"train", "test"}  # no validation split: no val metrics, not zeros
    assert all(not k.startswith("val/") for h in record["history"] for k in h)
