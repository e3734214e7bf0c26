"""The toy vision world: procedurally drawn images whose concepts are known per image and per patch.

The world (shapes, colours, sizes, textures, positions) lives in saesanity/data/vision_world.yaml; this
module only samples from it, in plain numpy, from a seed. Every image holds 1 to max_objects objects, one
per quadrant, so each pixel belongs to at most one object and a patch's concepts are those of the object
that covers it. The vision counterpart of saesanity.data.toyworld (arXiv 2602.14111 reports that its
findings hold for vision models; this world lets us check that claim against ground truth).

Output (one folder): images.parquet with one row per image: `image` (int64, unique over both splits),
`split` ('train' | 'heldout'), `pixels` (fixed-size list of H*W*3 uint8, row-major HWC), `objmap`
(fixed-size list of H*W uint8: 0 background, i the i-th object), `count`, and `objects` (JSON list of the
objects' attributes, in objmap order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from saesanity.atomic import atomic_path
from saesanity.config import ConfigError, _check

SPLITS = ("train", "heldout")
IMAGES = "images.parquet"
ATTRIBUTES = ("shape", "colour", "size", "texture", "position")
"""The attributes every object has; `count` is the image's own."""
BACKGROUND = "background"


@dataclass(frozen=True)
class VisionWorldConfig:
    """How many images to draw from the world, and from which seed."""

    n_train_images: int = 4000
    n_heldout_images: int = 1000
    seed: int = 0
    world: str = ""
    """Path of a world YAML; empty means the packaged saesanity/data/vision_world.yaml."""

    def __post_init__(self) -> None:
        for key in ("n_train_images", "n_heldout_images"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")


@dataclass(frozen=True)
class VisionWorld:
    image_size: int
    background: tuple[int, int, int]
    noise: float
    max_objects: int
    shapes: tuple[str, ...]
    colours: dict[str, tuple[int, int, int]]
    sizes: dict[str, int]
    textures: tuple[str, ...]
    stripe_dim: float
    positions: tuple[str, ...]
    patch_cover: float

    @classmethod
    def load(cls, path: str | Path | None = None) -> VisionWorld:
        text = (Path(path).read_text() if path else
                resources.files("saesanity.data").joinpath("vision_world.yaml").read_text())
        raw = yaml.safe_load(text)
        try:
            world = cls(image_size=int(raw["image_size"]), background=tuple(raw["background"]),
                        noise=float(raw["noise"]), max_objects=int(raw["max_objects"]), shapes=tuple(raw["shapes"]),
                        colours={k: tuple(v) for k, v in raw["colours"].items()},
                        sizes={k: int(v) for k, v in raw["sizes"].items()}, textures=tuple(raw["textures"]),
                        stripe_dim=float(raw["stripe_dim"]), positions=tuple(raw["positions"]),
                        patch_cover=float(raw["patch_cover"]))
        except KeyError as err:
            raise ConfigError(f"vision world {path or 'vision_world.yaml'}: missing key {err}") from None
        half = world.image_size // 2
        if len(world.positions) != 4 or not 1 <= world.max_objects <= 4:
            raise ConfigError("vision world: four quadrant positions and 1 to 4 objects are supported")
        if max(world.sizes.values()) * 2 + 1 > half:
            raise ConfigError(f"vision world: an object of half-extent {max(world.sizes.values())} does not fit "
                              f"in a {half}x{half} quadrant")
        unknown = set(world.shapes) - set(SHAPES)
        if unknown:
            raise ConfigError(f"vision world: unknown shapes {sorted(unknown)}; known: {sorted(SHAPES)}")
        return world

    def concept_names(self) -> list[str]:
        """Every concept a patch can carry, sorted: `<attribute>=<value>`, `count=<n>` and `background`."""
        names = [f"shape={s}" for s in self.shapes] + [f"colour={c}" for c in self.colours]
        names += [f"size={s}" for s in self.sizes] + [f"texture={t}" for t in self.textures]
        names += [f"position={p}" for p in self.positions]
        names += [f"count={n}" for n in range(1, self.max_objects + 1)] + [BACKGROUND]
        return sorted(names)

    def label_names(self) -> list[str]:
        """The image-level binary labels the vision model learns: whether some object has each attribute value
        (`count` is a separate 3-way head)."""
        return [c for c in self.concept_names() if "=" in c and not c.startswith("count=")]


def _mask(shape: str, r: int, dy_HW: np.ndarray, dx_HW: np.ndarray) -> np.ndarray:
    ady, adx = np.abs(dy_HW), np.abs(dx_HW)
    if shape == "square":
        return (ady <= r - 1) & (adx <= r - 1)
    if shape == "circle":
        return dy_HW ** 2 + dx_HW ** 2 <= r * r
    if shape == "triangle":  # apex up: the half-width grows from 0 at the top row to r at the bottom one
        return (dy_HW >= -r) & (dy_HW <= r) & (2 * adx <= dy_HW + r)
    if shape == "cross":
        arm = max(1, r // 3)
        return ((ady <= r) & (adx <= arm)) | ((adx <= r) & (ady <= arm))
    raise ConfigError(f"unknown shape {shape!r}")


SHAPES = ("square", "circle", "triangle", "cross")


def draw(world: VisionWorld, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """One image: pixels [H, W, 3] uint8, object map [H, W] uint8 (0 background, i object i) and the objects'
    attributes. Random draws in a fixed order, so the same generator state gives the same image."""
    size, half = world.image_size, world.image_size // 2
    count = int(rng.integers(1, world.max_objects + 1))
    quadrants = np.sort(rng.choice(4, count, replace=False))
    y_HW, x_HW = np.mgrid[0:size, 0:size]
    img_HW3 = np.broadcast_to(np.asarray(world.background, np.float64), (size, size, 3)).copy()
    objmap_HW = np.zeros((size, size), np.uint8)
    objects = []
    colour_names, size_names = list(world.colours), list(world.sizes)
    for i, q in enumerate(quadrants, start=1):
        shape = world.shapes[int(rng.integers(len(world.shapes)))]
        colour = colour_names[int(rng.integers(len(colour_names)))]
        size_name = size_names[int(rng.integers(len(size_names)))]
        texture = world.textures[int(rng.integers(len(world.textures)))]
        r = world.sizes[size_name]
        # The centre anywhere that keeps the whole object inside its quadrant.
        oy, ox = (q // 2) * half, (q % 2) * half
        cy = oy + int(rng.integers(r, half - r))
        cx = ox + int(rng.integers(r, half - r))
        mask_HW = _mask(shape, r, y_HW - cy, x_HW - cx)
        rgb = np.asarray(world.colours[colour], np.float64)
        if texture == "striped":
            rgb_HW3 = np.where(((y_HW // 2) % 2 == 0)[..., None], rgb, rgb * world.stripe_dim)
        else:
            rgb_HW3 = np.broadcast_to(rgb, (size, size, 3))
        img_HW3[mask_HW] = rgb_HW3[mask_HW]
        objmap_HW[mask_HW] = i
        objects.append({"shape": shape, "colour": colour, "size": size_name, "texture": texture,
                        "position": world.positions[int(q)]})
    img_HW3 += rng.normal(0.0, world.noise, img_HW3.shape)
    return np.clip(np.rint(img_HW3), 0, 255).astype(np.uint8), objmap_HW, objects


def generate(cfg: VisionWorldConfig, out: str | Path) -> None:
    """images.parquet of both splits, drawn from one generator per split (seeded by the config's seed and
    the split), so the held-out images do not change when the training set grows."""
    world = VisionWorld.load(cfg.world or None)
    rows: dict[str, list] = {"image": [], "split": [], "pixels": [], "objmap": [], "count": [], "objects": []}
    image_id = 0
    for s, (split, n) in enumerate(zip(SPLITS, (cfg.n_train_images, cfg.n_heldout_images))):
        rng = np.random.default_rng([cfg.seed, s])
        for _ in range(n):
            img, objmap, objects = draw(world, rng)
            rows["image"].append(image_id)
            rows["split"].append(split)
            rows["pixels"].append(img.reshape(-1))
            rows["objmap"].append(objmap.reshape(-1))
            rows["count"].append(len(objects))
            rows["objects"].append(json.dumps(objects, sort_keys=True))
            image_id += 1
    size = world.image_size
    table = pa.table({
        "image": pa.array(rows["image"], pa.int64()), "split": pa.array(rows["split"], pa.string()),
        "pixels": pa.FixedSizeListArray.from_arrays(pa.array(np.concatenate(rows["pixels"]), pa.uint8()), size * size * 3),
        "objmap": pa.FixedSizeListArray.from_arrays(pa.array(np.concatenate(rows["objmap"]), pa.uint8()), size * size),
        "count": pa.array(rows["count"], pa.int8()), "objects": pa.array(rows["objects"], pa.string())})
    meta = {"saesanity.vision_world": json.dumps({"config": {"n_train_images": cfg.n_train_images,
                                                             "n_heldout_images": cfg.n_heldout_images,
                                                             "seed": cfg.seed, "world": cfg.world},
                                                  "image_size": size}, sort_keys=True)}
    with atomic_path(out) as tmp:
        tmp.mkdir()
        pq.write_table(table.replace_schema_metadata(meta), tmp / IMAGES, compression="zstd")


@dataclass(frozen=True)
class WorldImages:
    """One split of a generated world: pixels, object maps and objects, in image-id order."""

    world: VisionWorld
    image_ids: np.ndarray
    pixels_NHW3: np.ndarray
    objmap_NHW: np.ndarray
    objects: list[list[dict]]

    def __len__(self) -> int:
        return len(self.image_ids)

    def labels_NL(self) -> tuple[list[str], np.ndarray]:
        """The binary image labels (VisionWorld.label_names) as a [N, L] 0/1 matrix."""
        names = self.world.label_names()
        col = {n: i for i, n in enumerate(names)}
        y = np.zeros((len(self), len(names)), np.float32)
        for n, objs in enumerate(self.objects):
            for o in objs:
                for a in ATTRIBUTES:
                    y[n, col[f"{a}={o[a]}"]] = 1
        return names, y

    def counts(self) -> np.ndarray:
        return np.array([len(o) for o in self.objects], np.int64)

    def patch_concepts(self, patch_size: int) -> list[list[frozenset[str]]]:
        """Per image, per patch (row-major), the concepts the patch carries: those of the object covering at
        least `patch_cover` of its pixels (the most covering one), else `background`; and the image's count."""
        size = self.world.image_size
        if size % patch_size:
            raise ConfigError(f"patch size {patch_size} does not divide the image size {size}")
        g = size // patch_size
        need = self.world.patch_cover * patch_size * patch_size
        n_obj = self.world.max_objects + 1
        # [N, g * g, objects + 1]: pixels of each object id (0: background) per patch.
        blocks = self.objmap_NHW.reshape(len(self), g, patch_size, g, patch_size).transpose(0, 1, 3, 2, 4)
        cover = np.stack([(blocks == i).sum((3, 4)) for i in range(n_obj)], -1).reshape(len(self), g * g, n_obj)
        best_NP = cover[:, :, 1:].argmax(-1) + 1  # the most covering object (the lowest id among equals)
        covered_NP = np.take_along_axis(cover, best_NP[..., None], -1)[..., 0] >= need
        out = []
        for n, objs in enumerate(self.objects):
            count = f"count={len(objs)}"
            sets = [frozenset({BACKGROUND, count})] + [frozenset({f"{a}={o[a]}" for a in ATTRIBUTES} | {count})
                                                       for o in objs]
            out.append([sets[b] if ok else sets[0] for b, ok in zip(best_NP[n].tolist(), covered_NP[n].tolist())])
        return out


def read_world(folder: str | Path, split: str, limit: int | None = None) -> WorldImages:
    """One split (its first `limit` images, or all) of a folder written by `generate`, with its world."""
    path = Path(folder) / IMAGES
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no {IMAGES}; not a vision world folder (rule vision_world)")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; known: {list(SPLITS)}")
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"saesanity.vision_world"])
    world = VisionWorld.load(meta["config"]["world"] or None)
    table = table.filter(pc.equal(table["split"], split))
    table = table if limit is None else table.slice(0, limit)
    size = world.image_size
    pixels = table["pixels"].combine_chunks().flatten().to_numpy().reshape(-1, size, size, 3)
    objmap = table["objmap"].combine_chunks().flatten().to_numpy().reshape(-1, size, size)
    return WorldImages(world, table["image"].to_numpy(), pixels, objmap,
                       [json.loads(o) for o in table["objects"].to_pylist()])
