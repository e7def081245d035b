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
def test_cifar_reads_the_python_release(which, classes, data_root, cifar_checksums):
    splits = DATA.build(which, root=str(data_root), download=False, val_size=20 if classes == 10 else 100,
                        num_workers=0)
    n_train = 200 if classes == 10 else 300
    assert len(splits.train) + len(splits.val) == n_train and len(splits.test) == 20
    x, y = splits.train[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= y < classes
    assert data_meta({"name": which, "root": str(data_root), "download": False}) == (3, classes, (32, 32))


class _Planted:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("checksums_match", [False, True], ids=["unknown file", "checksum collision"])
def test_a_planted_cifar_pickle_never_runs(checksums_match, tmp_path, monkeypatch):
    """A data folder whose CIFAR file is a pickle that would run code: refused by its checksum before anything is
    unpickled; and should its checksum ever match, the restricted unpickler still refuses to call anything."""
    import hashlib
    import pickle

    from se_variants.runner.data import cifar

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "pwned"
    for name in cifar.CHECKSUMS["cifar10"]:
        (folder / name).write_bytes(pickle.dumps({"data": _Planted(marker), "labels": [0]}))
    if checksums_match:
        sums = {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in cifar.CHECKSUMS["cifar10"]}
        monkeypatch.setattr(cifar, "CHECKSUMS", {**cifar.CHECKSUMS, "cifar10": sums})
    match = "refused to load" if checksums_match else "not the file of the published cifar10 release"
    with pytest.raises(DataError, match=match):
        DATA.build("cifar10", root=str(tmp_path), download=False)
    if not checksums_match:
        with pytest.raises(DataError, match=match):  # the preflight checks the files before any job starts
            data_meta({"name": "cifar10", "root": str(tmp_path), "download": False})
    assert not marker.exists()


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
