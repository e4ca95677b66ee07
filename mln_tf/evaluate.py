"""COCO keypoint evaluation (pycocotools ``COCOeval``, iouType 'keypoints') plus the
left/right confusion rate, the paper's motivating problem, which COCOeval does not report.

Left/right confusion: among detections matched to a labelled person (greedy by score, at
side-agnostic OKS >= 0.5, so that a swap cannot prevent its own match), the share with a
swapped left/right pair (eyes, ears, shoulders, elbows, wrists, hips, knees, ankles): both
parts labelled and detected, and *each* detected part more similar (COCO's per-keypoint
OKS term) to the opposite side's ground truth than to its own. See :func:`lr_confusion`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import logging
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from mln_tf import skeleton
from mln_tf.oks import oks

log = logging.getLogger(__name__)
STAT_NAMES = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
COCO_LR_PAIRS = tuple(
    (i, skeleton.COCO_PARTS.index("r_" + n[2:])) for i, n in enumerate(skeleton.COCO_PARTS) if n.startswith("l_")
)


def load_coco(annotations: Any):
    """A pycocotools ``COCO`` from a path, a dict, or an existing ``COCO`` (returned as is)."""
    from pycocotools.coco import COCO

    if isinstance(annotations, COCO):
        return annotations
    name = "annotations"
    if isinstance(annotations, (str, Path)):
        path = Path(annotations)
        name = f"annotation file {path}"
        if not path.is_file():
            raise ValueError(f"annotation file not found: {path}")
        try:
            data = json.loads(path.read_bytes())  # UTF-8/16/32, as JSON allows
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError; nesting too deep
            raise ValueError(f"annotation file {path} is not valid JSON: {str(exc).splitlines()[0]}") from None
        except OSError as exc:
            raise ValueError(f"cannot read annotation file {path}: {exc.strerror or exc}") from None
    else:
        data = copy.deepcopy(annotations)
    _check_coco(data, name)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float's range
        return False


def _numbers(value: Any, count: int) -> bool:
    return isinstance(value, list) and len(value) == count and all(_is_number(v) for v in value)


def _annotation_problem(ann: dict) -> str | None:
    if not _is_int(ann["category_id"]):
        return "'category_id' must be an integer"
    if ann["iscrowd"] not in (0, 1) or isinstance(ann["iscrowd"], float):
        return "'iscrowd' must be 0 or 1"
    if not _numbers(ann.get("keypoints"), 3 * len(skeleton.COCO_PARTS)):
        return "'keypoints' must be 51 numbers (17 x (x, y, v))"
    if not (_is_int(ann.get("num_keypoints")) and ann["num_keypoints"] >= 0):
        return "'num_keypoints' must be an integer >= 0"
    if not (_is_number(ann.get("area")) and ann["area"] >= 0):
        return "'area' must be a number >= 0"
    if not _numbers(ann.get("bbox"), 4):
        return "'bbox' must be 4 numbers (x, y, w, h)"
    return None


def _check_coco(data: Any, name: str) -> None:
    """What pycocotools' index and COCOeval (keypoints) read, checked so that a bad file is one
    ValueError naming it and the entry, not a KeyError or TypeError deep inside (found by fuzzing).
    Fills in what COCO leaves optional: ``categories`` (person), an annotation's ``category_id`` (1)
    and ``iscrowd`` (0)."""
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise ValueError(f"{name} is not COCO keypoints JSON: it needs 'images' and 'annotations' lists")
    images, anns = data["images"], data["annotations"]
    if not isinstance(images, list) or not isinstance(anns, list):
        raise ValueError(f"{name} is not COCO keypoints JSON: 'images' and 'annotations' must be lists")
    if not images:
        raise ValueError(f"{name} lists no images")
    ids = set()
    for k, image in enumerate(images):
        if not isinstance(image, dict) or not _is_int(image.get("id")):
            raise ValueError(f"{name}: images[{k}] must be an object with an integer 'id'")
        for key in ("width", "height"):
            if key in image and not (_is_number(image[key]) and image[key] > 0):
                raise ValueError(f"{name}: image {image['id']} has a bad {key} {image[key]!r}")
        if not isinstance(image.get("file_name", ""), str):
            raise ValueError(f"{name}: image {image['id']} has a bad file_name {image['file_name']!r}")
        ids.add(image["id"])
    categories = data.setdefault("categories", [{"id": 1, "name": "person"}])
    if not isinstance(categories, list) or not all(isinstance(c, dict) and _is_int(c.get("id")) for c in categories):
        raise ValueError(f"{name}: 'categories' must be a list of objects with an integer 'id'")
    for k, ann in enumerate(anns):
        where = f"{name}: annotations[{k}]"
        if not isinstance(ann, dict) or not _is_int(ann.get("id")) or not _is_int(ann.get("image_id")):
            raise ValueError(f"{where} must be an object with integer 'id' and 'image_id'")
        if ann["image_id"] not in ids:
            raise ValueError(f"{where} (id {ann['id']}) is on image {ann['image_id']}, which 'images' does not list")
        ann.setdefault("category_id", 1)
        ann.setdefault("iscrowd", 0)
        problem = _annotation_problem(ann)
        if problem:
            raise ValueError(f"{where} (id {ann['id']}): {problem}")
        # as floats: an integer past int64 made NumPy object arrays in COCOeval (fuzzing)
        ann["keypoints"] = [float(v) for v in ann["keypoints"]]
        ann["bbox"] = [float(v) for v in ann["bbox"]]
        ann["area"] = float(ann["area"])


def evaluate_coco(
    results: list[dict], annotations: Any, image_ids: Iterable[int] | None = None, verbose: bool = True
) -> dict[str, float]:
    """COCO keypoint AP/AR of ``results`` (COCO results format) plus ``lr_confusion``.

    ``image_ids`` restricts the evaluation (default: every image of the annotations).
    Logs the standard table (INFO) when ``verbose``. No detections gives zeros, not an error.
    """
    from pycocotools.cocoeval import COCOeval

    gt = load_coco(annotations)
    ids = sorted(gt.getImgIds()) if image_ids is None else sorted(int(i) for i in image_ids)
    unknown = set(ids) - set(gt.getImgIds())
    if unknown:
        raise ValueError(f"image ids not in the annotations: {sorted(unknown)[:5]}")
    stats = dict.fromkeys(STAT_NAMES, 0.0)
    stats.update(lr_confusion=0.0, matched=0, detections=len(results))
    if results:
        with contextlib.redirect_stdout(io.StringIO()):
            dt = gt.loadRes(copy.deepcopy(results))
            ev = COCOeval(gt, dt, iouType="keypoints")
            ev.params.imgIds = ids
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        stats.update({k: float(v) for k, v in zip(STAT_NAMES, ev.stats)})
        confused, matched = lr_confusion(results, gt, ids, ev.params.kpt_oks_sigmas)
        stats.update(lr_confusion=confused / matched if matched else 0.0, matched=matched)
    if verbose:
        log.info("%s", format_table(stats, len(ids)))
    return stats


@functools.cache
def coco_sigmas() -> np.ndarray:
    """COCOeval's per-keypoint sigmas (COCO-17 order), the ones every OKS on COCO-17 here uses
    (``mln_tf.oks.SIGMAS`` holds them in OpenPose-18 order)."""
    from pycocotools.cocoeval import Params

    return np.asarray(Params(iouType="keypoints").kpt_oks_sigmas, np.float64)


def lr_confusion(results: list[dict], gt, image_ids: Iterable[int], sigmas: np.ndarray) -> tuple[int, int]:
    """(confused, matched) people; matching ignores sides so that swaps cannot hide them.

    Per image, detections in descending score take the unmatched labelled person with the
    highest side-agnostic OKS (the better of the detection and its left/right-swapped
    labelling), if >= 0.5. A matched person is confused when some left/right pair has both
    parts labelled and detected and each detected part is more similar to the opposite
    side's ground truth than to its own.
    """
    swap = np.arange(17)
    for left, right in COCO_LR_PAIRS:
        swap[left], swap[right] = right, left
    by_image: dict[int, list[dict]] = {}
    for r in results:
        by_image.setdefault(int(r["image_id"]), []).append(r)
    confused = matched = 0
    for image_id in image_ids:
        people = [a for a in gt.imgToAnns[image_id] if not a.get("iscrowd") and a.get("num_keypoints", 0) > 0]
        taken = [False] * len(people)
        dets = sorted(by_image.get(image_id, []), key=lambda r: -r["score"])
        for det in dets:
            dk = np.asarray(det["keypoints"], np.float64).reshape(17, 3)
            best, best_oks, best_terms = -1, 0.5, None
            for i, person in enumerate(people):
                if taken[i]:
                    continue
                gk = np.asarray(person["keypoints"], np.float64).reshape(17, 3)
                own, own_terms = oks(dk, gk, person["area"], sigmas)
                swapped, swapped_terms = oks(dk[swap], gk, person["area"], sigmas)
                if max(own, swapped) >= best_oks:
                    best, best_oks, best_terms = i, max(own, swapped), (own_terms, swapped_terms)
            if best < 0:
                continue
            taken[best] = True
            matched += 1
            gk = np.asarray(people[best]["keypoints"], np.float64).reshape(17, 3)
            # own[j]: detected part j vs labelled part j; swapped[j]: the detected opposite of j vs labelled j
            own, swapped = best_terms
            for left, right in COCO_LR_PAIRS:
                if (
                    gk[left, 2] > 0
                    and gk[right, 2] > 0
                    and dk[left, 2] > 0
                    and dk[right, 2] > 0
                    and swapped[right] > own[left]
                    and swapped[left] > own[right]
                ):
                    confused += 1
                    break
    return confused, matched


def format_table(stats: dict[str, float], images: int | None = None) -> str:
    """The standard COCO keypoint summary as a small table."""
    head = f"COCO keypoints ({images} images)" if images is not None else "COCO keypoints"
    lines = [
        head,
        " ".join(f"{k:>6}" for k in STAT_NAMES) + "  L/R-conf",
        " ".join(f"{stats[k]:>6.3f}" for k in STAT_NAMES) + f"  {stats['lr_confusion']:>8.3f}",
    ]
    return "\n".join(lines)


def predict_dataset(
    estimator,
    annotations: Any,
    images_dir: str | Path,
    image_ids: Iterable[int] | None = None,
    progress: bool = True,
    each: Callable[[Path, np.ndarray, Any], None] | None = None,
) -> tuple[list[dict], list[int], list[str]]:
    """Run an ``Estimator`` over a COCO image set -> (COCO results, evaluated image ids, failures).

    An image that is missing or unreadable is skipped with a warning and listed in the
    failures (``mln_tf.images.BadFiles.lines``); it is left out of the evaluated ids.
    ``each(path, rgb, poses)`` is called for every image read (e.g. to draw it: one network pass).
    """
    from mln_tf.console import progress as console_progress
    from mln_tf.images import BadFiles, iter_images
    from mln_tf.outputs import coco_results

    gt = load_coco(annotations)
    ids = sorted(gt.getImgIds()) if image_ids is None else sorted(int(i) for i in image_ids)
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise ValueError(f"image folder not found: {images_dir}")
    id_of = {images_dir / gt.imgs[i]["file_name"]: i for i in ids}
    results: list[dict] = []
    done: list[int] = []
    bad = BadFiles()
    with console_progress(total=len(ids), desc="evaluating", unit="img", quiet=not progress) as bar:
        for path, image in iter_images(_counted(id_of, bar), bad):
            poses = estimator.estimate(image)
            if each is not None:
                each(path, image, poses)
            results.extend(coco_results(id_of[path], poses))
            done.append(id_of[path])
    return results, done, bad.lines()


def _counted(items: Iterable, bar) -> Iterator:
    """``items``, ticking ``bar`` as each is taken (read or not)."""
    for item in items:
        yield item
        bar.update()


def evaluate_model(
    estimator,
    annotations: Any,
    images_dir: str | Path,
    progress: bool = True,
    verbose: bool = True,
    image_ids: Iterable[int] | None = None,
    each: Callable[[Path, np.ndarray, Any], None] | None = None,
) -> dict[str, Any]:
    """COCO keypoint AP of an ``Estimator`` (a model and how it runs) on an annotated image set.

    ``image_ids`` restricts it to those images (default: all of the annotations). The result
    holds the COCO stats, ``images``, ``failures``, ``results`` and the ``settings`` used.
    """
    gt = load_coco(annotations)
    results, done, failures = predict_dataset(
        estimator, gt, images_dir, image_ids=image_ids, progress=progress, each=each
    )
    if not done:
        raise ValueError(f"none of the {len(image_ids or gt.getImgIds())} images could be read: {failures[:3]}")
    stats: dict[str, Any] = evaluate_coco(results, gt, done, verbose=verbose)
    stats.update(images=len(done), failures=failures, results=results, settings=estimator.settings())
    return stats
