"""Shared test helpers: ground truth from the bundled COCO files and oracle runners."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mln_tf import skeleton
from mln_tf.bundled import TRAIN_DIR as TRAIN  # noqa: F401  (the tests import them from here)
from mln_tf.bundled import VAL_DIR as VAL  # noqa: F401
from mln_tf.evaluate import load_coco
from mln_tf.inference import Transform, preprocess
from mln_tf.targets import render_targets

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
PEER_MAPS = DATA / "peers" / "tfpose_mobilenet_thin" / "maps"
PEER_MAPS_TRAIN = DATA / "peers" / "tfpose_mobilenet_thin" / "maps_train2017_mini"


def gt_people(coco, image_id: int) -> np.ndarray:
    """OpenPose-18 keypoints (P, 18, 3) of the labelled, non-crowd people of an image."""
    anns = [a for a in coco.imgToAnns[image_id] if a.get("num_keypoints", 0) > 0 and not a["iscrowd"]]
    if not anns:
        return np.zeros((0, 18, 3), np.float32)
    return skeleton.coco17_to_openpose18(np.array([a["keypoints"] for a in anns], np.float32).reshape(-1, 17, 3))


def oracle_maps(people_image: np.ndarray, transform: Transform):
    """Targets rendered from image-pixel keypoints for the transform's input."""
    kp = people_image.copy()
    kp[..., :2] = transform.image_to_input(kp[..., :2])
    t = render_targets(kp, transform.input_hw)
    return t.heatmaps, t.pafs


class OracleRunner:
    """A Runner stand-in whose 'network' renders the ground truth of one image.

    It recognises a mirrored input (the second item of a flip batch) and renders the
    mirrored people for it, as a perfect network would.
    """

    input_hw = None

    def __init__(self, image: np.ndarray, people: np.ndarray) -> None:
        self.image, self.people = image, people
        self.calls = []

    def __call__(self, batch: np.ndarray):
        height = batch.shape[1]
        x, transform = preprocess(self.image, height)
        assert x.shape == batch.shape[1:], "oracle runner needs input heights that are multiples of 8"
        hms, pfs = [], []
        for item in batch:
            kp = self.people.copy()
            kp[..., :2] = transform.image_to_input(kp[..., :2])
            if not np.array_equal(item, x):
                assert np.array_equal(item, x[:, ::-1])
                kp = skeleton.flip_keypoints(kp, x.shape[1])
            t = render_targets(kp, transform.input_hw)
            hms.append(t.heatmaps)
            pfs.append(t.pafs)
        self.calls.append(batch.shape)
        return np.stack(hms), np.stack(pfs)


def coco(split: Path = VAL):
    return load_coco(split / "person_keypoints.json")
