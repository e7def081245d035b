"""MNIST-1D (Greydanus 2020) for the runner: generated offline by the reference package (never downloaded, nothing
written into the working directory, the global RNGs left as they were), the published split sizes, and the 1-D
ResNet composes, validates and runs on it; a 1-D model on 2-D data is refused before anything trains."""

from __future__ import annotations

import importlib.util
import os
import random

import numpy as np
import pytest
import torch

from se_variants.runner.configs import compose
from se_variants.runner.data import DATA, data_meta
from se_variants.runner.data.mnist1d import LENGTH, generate
from se_variants.runner.validate import ConfigError, check_config, check_model

# mnist1d is looked up, not imported, when the tests are collected (importing it takes most of a second)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("mnist1d") is None,
                                reason="MNIST-1D needs the train extra: pip install 'se-variants[train]'")


@pytest.mark.slow
def test_generated_offline_without_writing_or_touching_global_rngs(tmp_path, monkeypatch):
    import mnist1d.data

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(mnist1d.data, "get_dataset", lambda *a, **k: pytest.fail("get_dataset downloads and writes"))
    monkeypatch.setattr(mnist1d.data.requests, "get", lambda *a, **k: pytest.fail("no download"))
    generate.cache_clear()
    random.seed(123), np.random.seed(123)
    expected_py, expected_np = random.random(), np.random.rand()
    random.seed(123), np.random.seed(123)
    x, y, x_test, y_test = generate()
    assert (random.random(), np.random.rand()) == (expected_py, expected_np)  # make_dataset reseeds; restored
    assert os.listdir(tmp_path) == []  # nothing written into the working directory
    assert x.shape == (4000, LENGTH) and x_test.shape == (1000, LENGTH)
    assert sorted(set(y.tolist())) == list(range(10)) and np.bincount(y_test).min() > 60
    generate.cache_clear()
    again = generate()
    assert np.array_equal(again[0], x) and np.array_equal(again[3], y_test)  # the same set every time (seed 42)


@pytest.mark.slow  # (generates MNIST-1D: a second or more)
def test_splits_and_items():
    splits = DATA.build({"name": "mnist1d"})
    assert splits.sizes() == {"train": 3600, "val": 400, "test": 1000}
    assert data_meta({"name": "mnist1d"}) == (1, 10, (LENGTH,))
    x, label = splits.train[0]
    assert x.shape == (1, LENGTH) and x.dtype == torch.float32 and 0 <= label < 10
    other = DATA.build({"name": "mnist1d", "split_seed": 1})
    assert not torch.equal(splits.val.images, other.val.images)  # the split follows split_seed
    assert torch.equal(splits.test.images, other.test.images)  # the published test set never moves


def _checked(overrides: list[str]) -> dict:
    plain = check_config(compose(overrides))
    check_model(plain)
    return plain


def test_resnet1d_composes_and_validates_and_2d_models_are_refused():
    plain = _checked(["model=resnet1d", "data=mnist1d", "squeeze=c", "excite=conv1d"])
    assert plain["model"]["dims"] == 1
    with pytest.raises(ConfigError, match=r"model: cifar_resnet takes 2-D inputs .* data=mnist1d gives 1-D .*resnet1d"):
        _checked(["data=mnist1d"])
    with pytest.raises(ConfigError, match=r"model: cifar_resnet takes 1-D inputs .* data=digits gives 2-D"):
        _checked(["model=resnet1d"])
    with pytest.raises(ConfigError, match=r"squeeze/excite/gate: axes 'h' is defined for 2-D, 3-D inputs, not for 1-D"):
        _checked(["model=resnet1d", "data=mnist1d", "squeeze=h"])
