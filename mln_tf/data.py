"""COCO person keypoints -> augmented training batches (paper 3.2) through ``tf.data``.

Pipeline for one sample (everything but the file read is a pure NumPy function)::

    read JPEG -> ignore mask (crowd + unlabelled people, from their segmentation)
      -> choose the person to centre on -> rotate / scale / crop-or-pad (one affine warp)
      -> horizontal flip (left/right parts swapped, PAF x negated via mln_tf.skeleton)
      -> targets (mln_tf.targets.render_targets) packed with W(p) (mln_tf.targets.pack_targets)
      -> pixel / 256 - 0.5 (mln_tf.inference.normalize)

Randomness: a run has one seed. Every random choice (epoch order, person, angle, scale,
centre jitter, flip) comes from ``numpy.random.SeedSequence(seed)`` keyed by the sample's
position in the run's sample stream (epoch, index). The stream is therefore random-access:
any number of parallel workers produce the same samples, and a run resumed at step ``s``
reads exactly the samples an uninterrupted run would have read from step ``s`` on.

Bad records (missing image file, unreadable or corrupt image, an image whose size differs
from its annotation entry, an annotation outside the image) are counted in
:attr:`CocoKeypoints.bad`, reported once each as a logged warning naming the
file, and replaced by the next image of the epoch's order, so every step still gets a full
batch and the step <-> sample mapping stays fixed.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from mln_tf import skeleton
from mln_tf.inference import normalize, read_image
from mln_tf.targets import TargetConfig, map_size, pack_targets, render_targets

PAD_VALUE = 128  # grey: 0 after normalisation, like preprocess' padding


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentConfig:
    """The paper's augmentation (rotation, scale, flip) with CMU OpenPose's ranges.

    ``max_rotation``: angle drawn uniformly in [-max_rotation, max_rotation] degrees.
    ``person_height``: the centred person's box height as a fraction of the crop height
    before the random multiplier (CMU ``target_dist`` 0.6), drawn in ``scale_range``
    (CMU 0.5..1.1). ``centre_jitter``: the crop centre moves by up to this fraction of
    the crop side (CMU: 40 px of 368). ``flip_probability``: horizontal mirror.
    A person is a crop centre when it has at least ``min_keypoints`` labelled keypoints
    and a box of at least ``min_area`` pixels (CMU: 5 and 32x32); an image without one
    is centred on itself and scaled to fit the crop.
    """

    max_rotation: float = 40.0
    scale_range: tuple[float, float] = (0.5, 1.1)
    person_height: float = 0.6
    centre_jitter: float = 40.0 / 368.0
    flip_probability: float = 0.5
    min_keypoints: int = 5
    min_area: float = 32.0 * 32.0

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {self.scale_range}")
        if self.max_rotation < 0 or self.centre_jitter < 0 or self.person_height <= 0:
            raise ValueError(f"invalid AugmentConfig {self}")
        if not 0.0 <= self.flip_probability <= 1.0:
            raise ValueError(f"flip_probability must be in [0, 1], got {self.flip_probability}")


@dataclass(frozen=True)
class DataConfig:
    """What a training sample looks like: input size, augmentation, targets.

    ``augment=None`` gives plain samples: the whole image scaled to fit the crop, centred,
    no rotation or flip (useful to inspect targets). ``skip_empty`` drops images with no
    person that has labelled keypoints (kept by default: they teach the background).
    """

    input_hw: tuple[int, int] = (368, 368)
    augment: AugmentConfig | None = AugmentConfig()
    targets: TargetConfig = TargetConfig()
    skip_empty: bool = False

    def __post_init__(self) -> None:
        map_size(self.input_hw, self.targets.stride)  # validates the size


@dataclass(frozen=True)
class Record:
    """One image and its people, in OpenPose-18 order (only people with labelled keypoints)."""

    image_id: int
    path: Path
    image_hw: tuple[int, int]
    keypoints: np.ndarray  # (P, 18, 3) x, y, v in image pixels
    boxes: np.ndarray  # (P, 4) x, y, w, h of those people
    masked: tuple[dict, ...] = field(default=())  # crowd / zero-keypoint annotations


@dataclass(frozen=True)
class Params:
    """The random choices for one sample."""

    person: int  # index into Record.keypoints, -1 = centre on the image
    angle: float  # degrees, counter-clockwise
    scale: float  # multiplier of the person-normalising scale
    jitter: tuple[float, float]  # crop-centre offset, fraction of the crop side
    flip: bool


def _sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


def epoch_order(seed: int, epoch: int, size: int) -> np.ndarray:
    """The permutation of records read in ``epoch`` of a run with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, 2**32 - 1])).permutation(size)


def draw_params(rng: np.random.Generator, record: Record, augment: AugmentConfig | None) -> Params:
    """Draw one sample's augmentation from ``rng`` (always the same number of draws)."""
    u = rng.random(6)  # a fixed count of draws per sample
    if augment is None:
        return Params(-1, 0.0, 1.0, (0.0, 0.0), False)
    candidates = _centre_candidates(record, augment)
    person = int(candidates[min(int(u[0] * len(candidates)), len(candidates) - 1)]) if len(candidates) else -1
    lo, hi = augment.scale_range
    return Params(
        person=person,
        angle=float((2 * u[1] - 1) * augment.max_rotation),
        scale=float(lo + (hi - lo) * u[2]),
        jitter=(float((2 * u[3] - 1) * augment.centre_jitter), float((2 * u[4] - 1) * augment.centre_jitter)),
        flip=bool(u[5] < augment.flip_probability),
    )


def _centre_candidates(record: Record, augment: AugmentConfig) -> np.ndarray:
    labelled = (record.keypoints[:, :, 2] > 0).sum(axis=1) if len(record.keypoints) else np.zeros(0)
    area = record.boxes[:, 2] * record.boxes[:, 3] if len(record.boxes) else np.zeros(0)
    return np.nonzero((labelled >= augment.min_keypoints) & (area >= augment.min_area))[0]


def sample_affine(
    record: Record, params: Params, input_hw: tuple[int, int], augment: AugmentConfig | None
) -> np.ndarray:
    """The 2x3 affine taking image pixels to crop pixels (before the flip)."""
    h, w = record.image_hw
    out_h, out_w = input_hw
    if params.person >= 0:
        x, y, bw, bh = record.boxes[params.person]
        centre = (x + bw / 2.0, y + bh / 2.0)
        base = (augment or AugmentConfig()).person_height * out_h / max(bh, 1.0)
    else:  # the whole image fits the crop
        centre = ((w - 1) / 2.0, (h - 1) / 2.0)
        base = min(out_h / h, out_w / w)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), params.angle, base * params.scale)
    target = ((out_w - 1) / 2.0 + params.jitter[0] * out_w, (out_h - 1) / 2.0 + params.jitter[1] * out_h)
    m[0, 2] += target[0] - centre[0]
    m[1, 2] += target[1] - centre[1]
    return m


def ignore_mask(annotations: Iterable[dict], image_hw: tuple[int, int]) -> np.ndarray | None:
    """Union of the regions of crowd / unlabelled people as a bool (H, W) mask, or None.

    Uses each annotation's segmentation (polygons, RLE or compressed RLE); an annotation
    without a segmentation falls back to its box.
    """
    from pycocotools import mask as mask_utils

    h, w = image_hw
    out = None
    for ann in annotations:
        seg = ann.get("segmentation")
        if seg:
            if isinstance(seg, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
            elif isinstance(seg.get("counts"), list):
                rle = mask_utils.frPyObjects(seg, h, w)
            else:
                rle = seg
            m = mask_utils.decode(rle).astype(bool)
            if m.shape != (h, w):
                raise ValueError(f"annotation {ann.get('id')}: segmentation is {m.shape}, image is {(h, w)}")
        else:
            x, y, bw, bh = ann.get("bbox", (0, 0, 0, 0))
            m = np.zeros((h, w), bool)
            m[max(0, int(y)) : max(0, int(math.ceil(y + bh))), max(0, int(x)) : max(0, int(math.ceil(x + bw)))] = True
        out = m if out is None else (out | m)
    return out


def augment_sample(
    image: np.ndarray,
    record: Record,
    params: Params,
    input_hw: tuple[int, int],
    augment: AugmentConfig | None,
    ignore: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Warp, crop/pad and flip one image -> (uint8 crop, keypoints (P, 18, 3), ignore crop)."""
    out_h, out_w = input_hw
    m = sample_affine(record, params, input_hw, augment)
    crop = cv2.warpAffine(
        image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3
    )
    kp = record.keypoints.copy()
    if len(kp):
        xy = kp[..., :2] @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(np.float32)
        kp[..., :2] = np.where(kp[..., 2:] > 0, xy, 0.0)
    ign = None
    if ignore is not None:
        ign = cv2.warpAffine(
            ignore.astype(np.uint8),
            m,
            (out_w, out_h),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        ).astype(bool)
    if params.flip:
        crop = crop[:, ::-1]
        kp = skeleton.flip_keypoints(kp, out_w) if len(kp) else kp
        ign = ign[:, ::-1] if ign is not None else None
    return np.ascontiguousarray(crop), kp, (np.ascontiguousarray(ign) if ign is not None else None)


def _in_image(ann: dict, h: int, w: int, slack: float = 1.0) -> str | None:
    """Why an annotation lies outside its image, or None."""
    x, y, bw, bh = (float(v) for v in ann.get("bbox", (0, 0, 0, 0)))
    if (
        bw < 0
        or bh < 0
        or x > w + slack
        or y > h + slack
        or x + bw < -slack
        or y + bh < -slack
        or x + bw > w + slack
        or y + bh > h + slack
        or x < -slack
        or y < -slack
    ):
        return f"annotation {ann.get('id')} box {[round(v, 1) for v in (x, y, bw, bh)]} is outside the {w}x{h} image"
    kp = np.asarray(ann.get("keypoints") or np.zeros(51), np.float32).reshape(-1, 3)
    if kp.shape[0] != skeleton.NUM_COCO_PARTS:
        return f"annotation {ann.get('id')} has {kp.shape[0]} keypoints, expected 17"
    on = kp[kp[:, 2] > 0]
    if len(on) and (
        on[:, 0].min() < -slack
        or on[:, 1].min() < -slack
        or on[:, 0].max() > w - 1 + slack
        or on[:, 1].max() > h - 1 + slack
    ):
        return f"annotation {ann.get('id')} has keypoints outside the {w}x{h} image"
    return None


class CocoKeypoints:
    """The training records of a COCO-format person-keypoint JSON and its image folder.

    Keeps every image (people with labelled keypoints become targets; crowd regions and
    people with no labelled keypoint become the loss mask); ``skip_empty`` drops images
    without a labelled person. Missing files and annotations outside their image are
    found here and reported; unreadable images are found when read (:meth:`load`).
    """

    def __init__(self, annotations: Any, images_dir: str | Path, skip_empty: bool = False) -> None:
        from mln_tf.evaluate import load_coco

        self.images_dir = Path(images_dir)
        if not self.images_dir.is_dir():
            raise ValueError(f"image folder not found: {self.images_dir}")
        coco = load_coco(annotations)
        self.bad: dict[str, str] = {}
        self._lock = threading.Lock()
        self._orders: dict[tuple[int, int], np.ndarray] = {}
        person_ids = set(coco.getCatIds(catNms=["person"])) or {1}
        records = []
        for image_id in sorted(coco.getImgIds()):
            info = coco.imgs[image_id]
            path = self.images_dir / info["file_name"]
            h, w = int(info.get("height", 0)), int(info.get("width", 0))
            if h <= 0 or w <= 0:
                self.report(path, "image entry has no valid height/width")
                continue
            if not path.is_file():
                self.report(path, "image file not found")
                continue
            anns = [a for a in coco.imgToAnns.get(image_id, []) if a.get("category_id", 1) in person_ids]
            problem = next((p for p in (_in_image(a, h, w) for a in anns) if p), None)
            if problem:
                self.report(path, problem)
                continue
            labelled = [
                not a.get("iscrowd")
                and a.get("num_keypoints", 0) > 0
                and bool(np.any(np.asarray(a["keypoints"]).reshape(-1, 3)[:, 2] > 0))
                for a in anns
            ]
            people = [a for a, keep in zip(anns, labelled) if keep]
            masked = tuple(a for a, keep in zip(anns, labelled) if not keep)
            if skip_empty and not people:
                continue
            coco_kp = np.asarray([a["keypoints"] for a in people], np.float32).reshape(-1, 17, 3)
            kp = skeleton.coco17_to_openpose18(coco_kp) if len(people) else np.zeros((0, 18, 3), np.float32)
            boxes = np.asarray([a["bbox"] for a in people], np.float32).reshape(-1, 4)
            records.append(Record(int(image_id), path, (h, w), kp, boxes, masked))
        if not records:
            raise ValueError(
                f"no usable training images in {self.images_dir} ({len(self.bad)} bad records: {self.bad_summary()})"
            )
        self.records: tuple[Record, ...] = tuple(records)

    def __len__(self) -> int:
        return len(self.records)

    def report(self, path: Path | str, reason: str) -> None:
        """Count a bad record and warn once per file."""
        key = str(path)
        with self._lock:
            new = key not in self.bad
            self.bad[key] = reason
        if new:
            log.warning("skipping bad training record %s: %s", key, reason)

    def bad_summary(self, limit: int = 3) -> str:
        """The first bad records, 'file: reason; ...'."""
        items = list(self.bad.items())[:limit]
        more = f"; ... {len(self.bad) - limit} more" if len(self.bad) > limit else ""
        return "; ".join(f"{Path(k).name}: {v}" for k, v in items) + more

    def load(self, record: Record) -> tuple[np.ndarray, np.ndarray | None]:
        """Read a record's image (uint8 RGB) and its ignore mask; ValueError when unusable."""
        image = read_image(record.path)
        if image.shape[:2] != record.image_hw:
            raise ValueError(
                f"image is {image.shape[1]}x{image.shape[0]} but its annotation entry "
                f"says {record.image_hw[1]}x{record.image_hw[0]}"
            )
        return image, ignore_mask(record.masked, record.image_hw) if record.masked else None

    def sample(self, index: int, seed: int, config: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample ``index`` of the run's stream -> (uint8 crop, packed heatmaps, packed PAFs).

        Packed targets are (h, w, 19 + 1) and (h, w, 38 + 1), W(p) in the last channel.
        A bad image is reported and replaced by the next one in the epoch's order.
        """
        n = len(self.records)
        epoch, position = divmod(int(index), n)
        order = self._order(seed, epoch)
        for attempt in range(n):
            record = self.records[order[(position + attempt) % n]]
            if str(record.path) in self.bad:
                continue
            try:
                image, ignore = self.load(record)
            except (ValueError, OSError, cv2.error) as exc:
                self.report(record.path, str(exc))
                continue
            params = draw_params(_sample_rng(seed, epoch, position), record, config.augment)
            crop, kp, ign = augment_sample(image, record, params, config.input_hw, config.augment, ignore)
            t = render_targets(kp, config.input_hw, ign, config.targets)
            return crop, pack_targets(t.heatmaps, t.mask), pack_targets(t.pafs, t.mask)
        raise ValueError(f"every training image is unreadable ({len(self.bad)} bad records: {self.bad_summary()})")

    def _order(self, seed: int, epoch: int) -> np.ndarray:
        with self._lock:
            order = self._orders.get((seed, epoch))
            if order is None:
                if len(self._orders) > 4:  # workers only straddle neighbouring epochs
                    self._orders.clear()
                order = self._orders[(seed, epoch)] = epoch_order(seed, epoch, len(self.records))
        return order


def target_names(output_names: Sequence[str]) -> dict[str, str]:
    """Which target each model output learns: 'heatmaps' or 'pafs'."""
    out = {}
    for name in output_names:
        if name.endswith("heatmaps"):
            out[name] = "heatmaps"
        elif name.endswith("pafs"):
            out[name] = "pafs"
        else:
            raise ValueError(f"model output {name!r} is neither heatmaps nor pafs")
    return out


def training_dataset(
    source: CocoKeypoints,
    config: DataConfig,
    output_names: Sequence[str],
    batch_size: int,
    seed: int = 0,
    start_step: int = 0,
    steps: int | None = None,
    workers: int | None = None,
    deterministic: bool = True,
    num_shards: int = 1,
    shard_index: int = 0,
    replica_batch: int | None = None,
    prefetch: int | None = None,
):
    """A ``tf.data.Dataset`` of (x (B, H, W, 3) float32, {output: packed targets}) batches.

    Step ``s`` of a run always holds samples ``s * batch_size .. (s + 1) * batch_size - 1``
    of the stream (``batch_size`` is the global batch); ``start_step`` resumes there.
    With ``num_shards`` > 1 (one input pipeline per worker) shard ``shard_index`` yields
    its ``batch_size / num_shards`` slice of every step, in batches of ``replica_batch``
    (default: the whole slice; ``tf.distribute`` input functions pass the per-replica
    batch so that a worker's replicas split its slice in order). ``workers``: parallel map calls
    (None = autotune); ``deterministic=False`` lets batches be assembled out of order
    (faster when samples vary in cost; the samples themselves are unchanged). Infinite
    unless ``steps`` is given.
    """
    import tensorflow as tf

    if batch_size < 1 or num_shards < 1 or batch_size % num_shards:
        raise ValueError(f"batch size {batch_size} must be a positive multiple of the {num_shards} input pipelines")
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index {shard_index} not in [0, {num_shards})")
    per_shard = batch_size // num_shards
    out_batch = per_shard if replica_batch is None else int(replica_batch)
    if out_batch < 1 or per_shard % out_batch:
        raise ValueError(f"replica_batch {replica_batch} must divide the shard's batch {per_shard}")
    names = target_names(output_names)
    h, w = config.input_hw
    mh, mw = map_size(config.input_hw, config.targets.stride)
    first = int(start_step) * batch_size
    if steps is None:
        indices = tf.data.Dataset.counter(first)
    else:
        indices = tf.data.Dataset.range(first, first + int(steps) * batch_size)
    if num_shards > 1:
        indices = indices.filter(lambda g: (g % batch_size) // per_shard == shard_index)

    def load(index):
        return source.sample(int(index), seed, config)

    def to_example(index):
        image, hm, pf = tf.numpy_function(load, [index], (tf.uint8, tf.float32, tf.float32), stateful=False)
        image.set_shape((h, w, 3))
        hm.set_shape((mh, mw, skeleton.NUM_HEATMAPS + 1))
        pf.set_shape((mh, mw, skeleton.NUM_PAFS + 1))
        x = normalize(tf.cast(image, tf.float32))
        maps = {"heatmaps": hm, "pafs": pf}
        return x, {name: maps[kind] for name, kind in names.items()}

    parallel = tf.data.AUTOTUNE if workers is None else int(workers)
    ds = indices.map(to_example, num_parallel_calls=parallel, deterministic=deterministic)
    ds = ds.batch(out_batch, drop_remainder=True)
    options = tf.data.Options()
    options.deterministic = deterministic
    # Sharding is done above by sample index; tf.distribute must not shard again.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE if prefetch is None else prefetch)


def describe(source: CocoKeypoints) -> str:
    """One line describing the records: images, people, masked annotations, bad records."""
    people = sum(len(r.keypoints) for r in source.records)
    masked = sum(len(r.masked) for r in source.records)
    line = f"{len(source)} images, {people} people with keypoints, {masked} masked regions"
    if source.bad:
        line += f", {len(source.bad)} bad records skipped"
    return line
