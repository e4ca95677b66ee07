"""Training examples from the bundled val images for the export tests (the briefly trained
tiny model, and a QAT dataset through mln_tf.export.qat's ``--qat-data`` interface)."""

from __future__ import annotations

import numpy as np

from helpers import VAL, coco, gt_people
from mln_tf.inference import preprocess, read_image
from mln_tf.losses import pack_targets
from mln_tf.targets import render_targets


def val_examples(input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x (4, H, W, 3), packed heatmaps (4, h, w, 20), packed PAFs (4, h, w, 39)) of the val images."""
    gt = coco(VAL)
    xs, hms, pfs = [], [], []
    for image_id in sorted(gt.getImgIds()):
        x, t = preprocess(read_image(VAL / gt.imgs[image_id]["file_name"]), input_hw=input_hw)
        kp = gt_people(gt, image_id).copy()
        kp[..., :2] = t.image_to_input(kp[..., :2])
        target = render_targets(kp, input_hw)
        xs.append(x)
        hms.append(pack_targets(target.heatmaps, target.mask))
        pfs.append(pack_targets(target.pafs, target.mask))
    return np.stack(xs), np.stack(hms), np.stack(pfs)


def qat_batches(qat, input_hw, output_names):
    """mln_tf.export.qat dataset contract: (x, {output: packed targets}) batches, repeated."""
    import tensorflow as tf

    x, hm, pf = val_examples(input_hw)
    targets = {name: hm if name.endswith("heatmaps") else pf for name in output_names}
    return tf.data.Dataset.from_tensor_slices((x, targets)).repeat().batch(qat.batch_size, drop_remainder=True)
