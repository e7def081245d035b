"""``imagefolder``: any class-per-folder image tree (``<root>/<class>/<image>``), e.g. Imagenette."""

from __future__ import annotations

from typing import Literal

from pathlib import Path

from torch.utils.data import Subset

from ..registries import DATA
from .base import DataError, Splits, stratified_split

__all__ = ["imagefolder", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _transforms(image_size: int, augment: bool):
    from torchvision import transforms as T

    norm = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    # eval: resize the short side to size / 0.875, then centre crop (the usual ImageNet protocol)
    eval_tf = T.Compose([T.Resize(round(image_size / 0.875)), T.CenterCrop(image_size), *norm])
    train_tf = T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), *norm]) if augment else eval_tf
    return train_tf, eval_tf


def _load_rgb(path: str):
    """One image as RGB; an unreadable file raises DataError naming it (not a bare PIL error in a worker)."""
    from PIL import Image

    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except (OSError, SyntaxError, ValueError) as err:  # PIL's UnidentifiedImageError is an OSError
        raise DataError(f"imagefolder: cannot read the image {path} ({type(err).__name__}: {err}); remove or "
                        f"replace the file.") from None


def _folder(path: Path, transform):
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(path), transform=transform, loader=_load_rgb)
    except (FileNotFoundError, RuntimeError) as err:
        raise DataError(
            f"imagefolder: cannot read {path} ({err}). Expected one folder per class holding images, e.g. "
            f"{path}/<class>/<image>.jpg; set data.root=<your tree>."
        ) from None


@DATA.register("imagefolder")
def imagefolder(
    *,
    root: str,
    image_size: int = 128,
    train_dir: str = "train",
    test_dir: str = "val",
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    augment: bool = True,
    batch_size: int | Literal["auto"] = 64,
    num_workers: int = 2,
) -> Splits:
    """Class-per-folder images, RGB, resized to ``image_size``.

    Layouts:
        * ``<root>/<train_dir>/<class>/...`` and ``<root>/<test_dir>/<class>/...`` (Imagenette: train/ and val/):
          the test split is ``test_dir``; ``val_fraction`` of ``train_dir`` is held out for validation.
        * ``<root>/<class>/...`` (no ``train_dir``): split into train / val / test by ``val_fraction`` and
          ``test_fraction`` (stratified, seeded by ``split_seed``).

    Args:
        image_size: side of the square crops.
        augment: random-resized crop + horizontal flip on training images (else the eval transform).
        batch_size, num_workers: DataLoader settings.

    Shapes: an item is ((3, image_size, image_size) float32, label).
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"imagefolder: data.root={root!r} is not a folder. Point it at a class-per-folder tree "
                        f"(e.g. an extracted Imagenette with train/ and val/).")
    train_tf, eval_tf = _transforms(image_size, augment)
    if (base / train_dir).is_dir():
        train_all, train_eval = _folder(base / train_dir, train_tf), _folder(base / train_dir, eval_tf)
        if not (base / test_dir).is_dir():
            raise DataError(f"imagefolder: {base / train_dir} exists but {base / test_dir} does not; set "
                            f"data.test_dir=<the test folder under {base}>.")
        test = _folder(base / test_dir, eval_tf)
        if test.classes != train_all.classes:
            raise DataError(f"imagefolder: class folders differ between {train_dir} ({train_all.classes}) and "
                            f"{test_dir} ({test.classes}).")
        train, val = stratified_split(train_all.targets, (val_fraction,), split_seed)
        splits = Subset(train_all, train), Subset(train_eval, val), test
    else:
        train_all, all_eval = _folder(base, train_tf), _folder(base, eval_tf)
        train, val, test_idx = stratified_split(train_all.targets, (val_fraction, test_fraction), split_seed)
        splits = Subset(train_all, train), Subset(all_eval, val), Subset(all_eval, test_idx)
    return Splits(*splits, num_classes=len(train_all.classes), in_channels=3, image_size=(image_size, image_size),
                  batch_size=batch_size, num_workers=num_workers)


def _class_folders(path: Path) -> list[Path]:
    """The class folders of ``path``; DataError when there are none or one holds no image (torchvision's
    image extensions)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    classes = sorted(d for d in path.iterdir() if d.is_dir())
    if not classes:
        raise DataError(f"imagefolder: no class folders under {path}; expected {path}/<class>/<image>.")
    for d in classes:
        if not any(f.suffix.lower() in IMG_EXTENSIONS for f in d.rglob("*") if f.is_file()):
            raise DataError(f"imagefolder: the class folder {d} holds no image ({', '.join(IMG_EXTENSIONS)}); "
                            f"add images or remove the folder.")
    return classes


def _meta(*, root: str, image_size: int = 128, train_dir: str = "train", test_dir: str = "val",
          **options) -> tuple[int, int, tuple[int, int]]:
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"imagefolder: data.root={root!r} is not a folder. Point it at a class-per-folder tree "
                        f"(e.g. an extracted Imagenette with train/ and val/).")
    if (base / train_dir).is_dir():
        classes = _class_folders(base / train_dir)
        if (base / test_dir).is_dir():
            test = _class_folders(base / test_dir)
            if [d.name for d in test] != [d.name for d in classes]:
                raise DataError(f"imagefolder: class folders differ between {train_dir} "
                                f"({[d.name for d in classes]}) and {test_dir} ({[d.name for d in test]}).")
    else:
        classes = _class_folders(base)
    return 3, len(classes), (image_size, image_size)


imagefolder.meta = _meta
