"""The images a vision job reads, from either source behind one type:
- 'world': the toy vision world (saesanity.vision.world): labels per image and concepts per patch known;
- 'folder': an image folder the user provides, ImageNet-style (one subfolder per class holding .png/.jpg
  files), read with PIL, centre-cropped to a square and resized to the model's resolution; the class is the
  only label and there are no patch concepts.
Image ids are stable: the world's own ids, or a file's index in the sorted list of the folder's files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saesanity.config import ConfigError, _check

SUFFIXES = (".png", ".jpg", ".jpeg")
KINDS = ("world", "folder")


@dataclass(frozen=True)
class ImageSource:
    """Where a job's images come from (the `images` block of a vision spec)."""

    kind: str
    path: str
    n_heldout: int = 200
    """folder: images held out (drawn with `seed`); the world has its own held-out split."""
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.kind in KINDS, "kind", f"must be one of {list(KINDS)}, got {self.kind!r}")
        _check(self.n_heldout >= 0, "n_heldout", f"must be >= 0, got {self.n_heldout}")


@dataclass(frozen=True)
class ImageSet:
    """One split of images at the model's resolution, with what the evaluations know about them."""

    image_ids: np.ndarray
    pixels_NHW3: np.ndarray
    probe_labels: dict[str, np.ndarray]
    """'<label set>:<class>' -> 0/1 per image: the binary tasks of sparse probing."""
    targets: tuple[np.ndarray, np.ndarray] | None
    """toy world: (binary labels [N, L], object counts [N]), what the toy ViT is trained to predict."""
    concepts: list[list[frozenset[str]]] | None
    """toy world: per image, per patch (row-major) the concepts it carries; None for a folder."""

    def __len__(self) -> int:
        return len(self.image_ids)

    def head(self, n: int) -> ImageSet:
        """The first n images."""
        return ImageSet(self.image_ids[:n], self.pixels_NHW3[:n], {k: v[:n] for k, v in self.probe_labels.items()},
                        None if self.targets is None else (self.targets[0][:n], self.targets[1][:n]),
                        None if self.concepts is None else self.concepts[:n])


def load_images(source: ImageSource, split: str, image_size: int, patch_size: int,
                limit: int | None = None) -> ImageSet:
    """The first `limit` images of a split (all with None), in image-id order."""
    if source.kind == "world":
        return _world_images(source, split, image_size, patch_size, limit)
    return _folder_images(source, split, image_size, limit)


def _world_images(source: ImageSource, split: str, image_size: int, patch_size: int, limit: int | None) -> ImageSet:
    from saesanity.vision.world import read_world
    w = read_world(source.path, split, limit)
    if w.world.image_size != image_size:
        raise ConfigError(f"the vision world's images are {w.world.image_size}x{w.world.image_size}, the model "
                          f"takes {image_size}x{image_size}: set vision.model.image_size to the world's")
    names, y_NL = w.labels_NL()
    counts = w.counts()
    probe = {name.replace("=", ":", 1): y_NL[:, i].astype(np.int8) for i, name in enumerate(names)}
    probe.update({f"count:{c}": (counts == c).astype(np.int8) for c in range(1, w.world.max_objects + 1)})
    return ImageSet(w.image_ids, w.pixels_NHW3, probe, (y_NL, counts), w.patch_concepts(patch_size))


def folder_files(root: str | Path) -> tuple[list[Path], list[str]]:
    """Every image file below the class subfolders of `root`, sorted, and the class of each."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"image folder {str(root)!r} does not exist: set vision.images to a folder with one "
                          "subfolder per class holding .png or .jpg files (ImageNet-style)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not classes:
        raise ConfigError(f"image folder {str(root)!r} has no class subfolders (expected <folder>/<class>/*.jpg)")
    files, labels = [], []
    for cls in classes:
        found = sorted(f for f in (root / cls).iterdir() if f.suffix.lower() in SUFFIXES)
        files += found
        labels += [cls] * len(found)
    if not files:
        raise ConfigError(f"image folder {str(root)!r}: no .png or .jpg images in its class subfolders {classes}")
    return files, labels


def read_image(path: Path, image_size: int) -> np.ndarray:
    """An image file as uint8 [size, size, 3]: RGB, centre-cropped to a square, resized (bicubic), as CLIP's
    preprocessing does (resize the short side, centre crop)."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side)).resize((image_size, image_size), Image.BICUBIC)
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise ConfigError(f"cannot read image {str(path)!r}: {err}") from None


def folder_split(n_files: int, n_heldout: int, seed: int) -> dict[str, np.ndarray]:
    """File indices of each split: a seeded draw of n_heldout held-out files, the rest for training; sorted."""
    if n_heldout >= n_files:
        raise ConfigError(f"vision.folder.n_heldout ({n_heldout}) must be below the number of images ({n_files})")
    order = np.random.default_rng(seed).permutation(n_files)
    return {"heldout": np.sort(order[:n_heldout]), "train": np.sort(order[n_heldout:])}


def _folder_images(source: ImageSource, split: str, image_size: int, limit: int | None) -> ImageSet:
    files, labels = folder_files(source.path)
    ids = folder_split(len(files), source.n_heldout, source.seed)[split][:limit]
    pixels = np.stack([read_image(files[i], image_size) for i in ids]) if len(ids) else \
        np.zeros((0, image_size, image_size, 3), np.uint8)
    classes = sorted(set(labels))
    lab = np.array(labels, dtype=object)[ids]
    probe = {f"class:{c}": (lab == c).astype(np.int8) for c in classes} if len(classes) > 1 else {}
    return ImageSet(ids.astype(np.int64), pixels, probe, None, None)
