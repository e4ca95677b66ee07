import json
import logging
import shutil

import numpy as np
import pytest

from helpers import VAL, OracleRunner, coco, gt_people
from mln_tf import skeleton
from mln_tf.estimator import Estimator
from mln_tf.evaluate import evaluate_coco, evaluate_model, load_coco, predict_dataset
from mln_tf.grouping import Poses
from mln_tf.outputs import coco_results


def _gt_as_results(gt, swap_sides=False):
    results = []
    for image_id in gt.getImgIds():
        people = gt_people(gt, image_id)
        if swap_sides:
            people = people[:, list(skeleton.FLIP_PARTS)]
        results += coco_results(image_id, Poses(people, np.ones(len(people), np.float32)))
    return results


def test_ground_truth_scores_perfectly():
    gt = coco()
    stats = evaluate_coco(_gt_as_results(gt), gt, verbose=False)
    assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)
    assert stats["lr_confusion"] == 0.0 and stats["matched"] == 12


def test_left_right_swaps_are_counted():
    gt = coco()
    stats = evaluate_coco(_gt_as_results(gt, swap_sides=True), gt, verbose=False)
    assert stats["matched"] > 0
    assert stats["lr_confusion"] == pytest.approx(1.0)
    assert stats["AP"] < 0.9


def test_no_detections_gives_zeros_and_table_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="mln_tf.evaluate"):
        stats = evaluate_coco([], coco(), verbose=True)
    assert stats["AP"] == 0.0 and stats["detections"] == 0
    assert "AP50" in caplog.text


def test_bad_annotation_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_coco(tmp_path / "missing.json")
    (tmp_path / "empty.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(ValueError, match="no images"):
        load_coco(tmp_path / "empty.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_coco(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="not in the annotations"):
        evaluate_coco([], coco(), image_ids=[1])


class _GtRunner:
    """Renders each image's ground truth: finds the image by its size."""

    input_hw = None

    def __init__(self, gt):
        from mln_tf.inference import read_image

        self.by_size = {}
        for image_id in gt.getImgIds():
            image = read_image(VAL / gt.imgs[image_id]["file_name"])
            self.by_size[image.shape[:2]] = OracleRunner(image, gt_people(gt, image_id))

    def __call__(self, batch):
        for runner in self.by_size.values():
            if runner.image.shape[0] * batch.shape[1] // runner.image.shape[0] == batch.shape[1]:
                try:
                    return runner(batch)
                except AssertionError:
                    continue
        raise AssertionError("unknown image")


def test_evaluate_model_skips_a_corrupt_image(tmp_path):
    gt = coco()
    for f in VAL.glob("*.jpg"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "000000040083.jpg").write_bytes(b"corrupt")
    stats = evaluate_model(
        Estimator(_GtRunner(gt)), VAL / "person_keypoints.json", tmp_path, progress=False, verbose=False
    )
    assert stats["images"] == 3 and len(stats["failures"]) == 1
    assert "000000040083.jpg" in stats["failures"][0]
    assert stats["AP"] > 0.95
    results, done, failures = predict_dataset(Estimator(_GtRunner(gt)), gt, VAL, progress=False)
    assert len(done) == 4 and not failures and len(results) >= 12
