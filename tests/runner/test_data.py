"""Datasets: the embedded digits split is fixed and seeded; CIFAR and image folders load from their real
on-disk formats (generated here, nothing downloads); missing data says where to put it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from se_variants.runner.data import DATA, DataError, data_meta

from .conftest import write_imagefolder


def test_digits_split_is_fixed_disjoint_and_stratified():
    a, b = DATA.build("digits"), DATA.build("digits", augment=False)
    assert a.sizes() == {"train": 1077, "val": 270, "test": 450}
    torch.testing.assert_close(a.test.images, b.test.images)  # the split does not depend on anything else
    c = DATA.build("digits", split_seed=1)
    assert not torch.equal(a.test.labels, c.test.labels)
    counts = np.bincount(a.test.labels.numpy(), minlength=10)
    assert counts.min() >= 43 and counts.max() <= 47  # 450 test images, ~45 per class
    train = {tuple(x.flatten().tolist()) for x in a.train.images}
    assert not any(tuple(x.flatten().tolist()) in train for x in a.test.images[:50])
    x, y = a.train[0]
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32 and 0 <= y < 10


@pytest.mark.parametrize("which,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_reads_the_python_release(which, classes, data_root):
    splits = DATA.build(which, root=str(data_root), download=False, val_size=20 if classes == 10 else 100,
                        num_workers=0)
    n_train = 200 if classes == 10 else 300
    assert len(splits.train) + len(splits.val) == n_train and len(splits.test) == 20
    x, y = splits.train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= y < classes
    assert data_meta({"name": which, "root": str(data_root), "download": False}) == (3, classes, (32, 32))


def test_missing_cifar_says_where_to_put_it(tmp_path):
    with pytest.raises(DataError, match=r"cifar-10-batches-py.*cifar-10-python\.tar\.gz.*data\.root"):
        DATA.build("cifar10", root=str(tmp_path), download=False)


def test_imagefolder_layouts(data_root, tmp_path):
    s = DATA.build("imagefolder", root=str(data_root / "imagefolder"), image_size=16, num_workers=0)
    assert s.num_classes == 3 and len(s.test) == 15 and len(s.train) + len(s.val) == 30
    assert s.train[0][0].shape == (3, 16, 16)
    flat = write_imagefolder(tmp_path / "flat", split=False)
    s = DATA.build("imagefolder", root=str(flat), image_size=16, num_workers=0)
    assert len(s.train) + len(s.val) + len(s.test) == 30
    with pytest.raises(DataError, match="not a folder"):
        DATA.build("imagefolder", root=str(tmp_path / "nope"))
