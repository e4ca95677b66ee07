"""The COCO training pipeline: batches, masks, flip, seeding/resume order, bad records."""

import json
import logging
import shutil

import numpy as np
import pytest

from mln_tf import skeleton as sk
from mln_tf.bundled import TRAIN_DIR
from mln_tf.data import AugmentConfig, CocoKeypoints, DataConfig, Params, augment_sample, ignore_mask, training_dataset
from mln_tf.targets import render_targets

OUTPUTS = ["det_heatmaps", "det_pafs", "heatmaps", "pafs"]
SMALL = DataConfig(input_hw=(64, 96))


@pytest.fixture(scope="module")
def train_set(data_dir):
    d = TRAIN_DIR
    return CocoKeypoints(d / "person_keypoints.json", d)


def batches(source, n, **kwargs):
    kwargs.setdefault("config", SMALL)
    kwargs.setdefault("batch_size", 3)
    ds = training_dataset(source, output_names=OUTPUTS, **kwargs)
    return [(x.numpy(), {k: v.numpy() for k, v in y.items()}) for x, y in ds.take(n)]


def test_records_keep_people_crowds_and_unlabelled_people(train_set):
    assert len(train_set) == 36 and not train_set.bad
    people = sum(len(r.keypoints) for r in train_set.records)
    masked = [a for r in train_set.records for a in r.masked]
    assert people == 86  # the 86 annotations with labelled keypoints (mln_tf/bundled/README.md)
    assert len(masked) == 86 and sum(a["iscrowd"] for a in masked) == 5
    assert all(r.keypoints.shape[1:] == (18, 3) for r in train_set.records)


def test_batches_have_the_right_shapes_dtypes_and_masks(train_set):
    ((x, y),) = batches(train_set, 1, seed=1)
    assert x.shape == (3, 64, 96, 3) and x.dtype == np.float32
    assert x.min() >= -0.5 and x.max() < 0.5  # pixel / 256 - 0.5
    assert set(y) == set(OUTPUTS)
    for name in OUTPUTS:
        channels = 20 if name.endswith("heatmaps") else 39
        assert y[name].shape == (3, 8, 12, channels) and y[name].dtype == np.float32
    np.testing.assert_array_equal(y["heatmaps"], y["det_heatmaps"])  # same targets per output
    np.testing.assert_array_equal(y["pafs"][..., -1], y["heatmaps"][..., -1])  # one W(p)
    mask = y["heatmaps"][..., -1]
    assert set(np.unique(mask)) <= {0.0, 1.0}
    hm = y["heatmaps"][..., :19]
    np.testing.assert_allclose(hm[..., 18], 1 - hm[..., :18].max(-1), atol=1e-6)
    assert np.abs(y["pafs"][..., :38]).max() <= 1.0 + 1e-6


def test_crowd_and_unlabelled_people_are_masked_out(train_set):
    plain = DataConfig(input_hw=(368, 368), augment=None)
    crowd = next(i for i, r in enumerate(train_set.records) if any(a["iscrowd"] for a in r.masked))
    clean = next(i for i, r in enumerate(train_set.records) if not r.masked)
    order = list(train_set._order(0, 0))
    _, hm, pf = train_set.sample(order.index(crowd), 0, plain)
    assert 0 < hm[..., -1].sum() < hm[..., -1].size  # part of the image is ignored
    _, hm, _ = train_set.sample(order.index(clean), 0, plain)
    assert hm[..., -1].min() == 1.0
    record = train_set.records[crowd]
    ign = ignore_mask(record.masked, record.image_hw)
    assert ign.shape == record.image_hw and ign.dtype == bool and ign.any()


def test_flip_moves_a_left_wrist_onto_the_right_wrist_channel(train_set):
    lw, rw = sk.PARTS.index("l_wrist"), sk.PARTS.index("r_wrist")
    index = next(
        i
        for i, r in enumerate(train_set.records)
        if len(r.keypoints) == 1 and r.keypoints[0, lw, 2] > 0 and r.keypoints[0, rw, 2] == 0
    )
    record = train_set.records[index]
    image, _ = train_set.load(record)
    hw = (128, 128)
    straight = Params(0, 0.0, 1.0, (0.0, 0.0), False)
    mirrored = Params(0, 0.0, 1.0, (0.0, 0.0), True)
    augment = AugmentConfig()
    crop, kp, _ = augment_sample(image, record, straight, hw, augment, None)
    crop_f, kp_f, _ = augment_sample(image, record, mirrored, hw, augment, None)
    np.testing.assert_array_equal(crop_f, crop[:, ::-1])
    assert kp_f[0, rw, 2] > 0 and kp_f[0, lw, 2] == 0
    assert kp_f[0, rw, 0] == pytest.approx(hw[1] - 1 - kp[0, lw, 0], abs=1e-4)
    t = render_targets(kp, hw)
    t_f = render_targets(kp_f, hw)
    assert t.heatmaps[..., lw].max() > 0.5 and t.heatmaps[..., rw].max() == 0
    assert t_f.heatmaps[..., rw].max() > 0.5 and t_f.heatmaps[..., lw].max() == 0
    # The flipped sample's targets are exactly the mirrored targets (PAF x negated).
    hm, pf = sk.flip_maps(t.heatmaps, t.pafs)
    np.testing.assert_allclose(t_f.heatmaps, hm, atol=1e-5)
    np.testing.assert_allclose(t_f.pafs, pf, atol=1e-5)


def test_a_fixed_seed_gives_identical_batches_and_resume_keeps_the_order(train_set):
    a = batches(train_set, 3, seed=7, workers=2)
    b = batches(train_set, 3, seed=7, workers=1)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya["pafs"], yb["pafs"])
    c = batches(train_set, 1, seed=8)
    assert not np.array_equal(a[0][0], c[0][0])
    resumed = batches(train_set, 2, seed=7, start_step=1)
    np.testing.assert_array_equal(resumed[0][0], a[1][0])
    np.testing.assert_array_equal(resumed[1][1]["heatmaps"], a[2][1]["heatmaps"])
    # Two input pipelines (workers) each get their half of every step, in order.
    halves = [batches(train_set, 1, seed=7, batch_size=4, num_shards=2, shard_index=i)[0][0] for i in range(2)]
    whole = batches(train_set, 1, seed=7, batch_size=4)[0][0]
    np.testing.assert_array_equal(np.concatenate(halves), whole)


def test_bad_records_are_skipped_and_reported(tmp_path, data_dir, caplog):
    src = TRAIN_DIR
    coco = json.loads((src / "person_keypoints.json").read_text())
    images = coco["images"][:5]
    for info in images:
        shutil.copy(src / info["file_name"], tmp_path / info["file_name"])
    corrupt, missing, outside = images[0], images[1], images[2]
    (tmp_path / corrupt["file_name"]).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / missing["file_name"]).unlink()
    ids = {i["id"] for i in images}
    anns = [dict(a) for a in coco["annotations"] if a["image_id"] in ids]
    bad_ann = next(a for a in anns if a["image_id"] == outside["id"])
    bad_ann["bbox"] = [outside["width"] + 50.0, 10.0, 30.0, 40.0]
    (tmp_path / "ann.json").write_text(json.dumps({**coco, "images": images, "annotations": anns}))

    with caplog.at_level(logging.WARNING, logger="mln_tf.data"):
        source = CocoKeypoints(tmp_path / "ann.json", tmp_path)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert missing["file_name"] in text and "not found" in text
    assert outside["file_name"] in text and "outside" in text
    assert len(source) == 3 and len(source.bad) == 2

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mln_tf.data"):
        out = batches(source, 4, batch_size=2)  # 8 samples: every record is drawn
    assert len(out) == 4 and all(x.shape == (2, 64, 96, 3) for x, _ in out)
    messages = [r.getMessage() for r in caplog.records if "bad training record" in r.getMessage()]
    assert len(messages) == 1 and corrupt["file_name"] in messages[0]
    assert len(source.bad) == 3 and "corrupt" in source.bad[str(tmp_path / corrupt["file_name"])]


def test_unusable_inputs_are_clear_errors(tmp_path, data_dir):
    with pytest.raises(ValueError, match="image folder not found"):
        CocoKeypoints(TRAIN_DIR / "person_keypoints.json", tmp_path / "nope")
    (tmp_path / "empty.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(ValueError, match="no images"):
        CocoKeypoints(tmp_path / "empty.json", tmp_path)
    with pytest.raises(ValueError, match="multiples"):
        DataConfig(input_hw=(60, 64))
    with pytest.raises(ValueError, match="scale_range"):
        AugmentConfig(scale_range=(1.2, 0.5))
