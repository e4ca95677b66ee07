import keras
import numpy as np
import pytest

from mln_tf import model as m
from mln_tf.losses import MaskedSumSquares, pack_targets, pose_losses
from mln_tf.targets import render_targets


def test_zero_on_perfect_predictions_and_value_on_errors():
    rng = np.random.default_rng(0)
    target = rng.random((2, 4, 5, 19)).astype(np.float32)
    mask = np.ones((2, 4, 5), np.float32)
    loss = MaskedSumSquares()
    assert float(loss(pack_targets(target, mask), target)) == 0.0
    pred = target + 0.1
    # Caffe scale 1/2, summed over 4*5*19 values per image, mean over the batch.
    assert float(loss(pack_targets(target, mask), pred)) == pytest.approx(0.5 * 380 * 0.01, rel=1e-5)
    assert float(MaskedSumSquares(scale=1.0)(target, pred)) == pytest.approx(380 * 0.01, rel=1e-5)


def test_masked_pixels_are_ignored():
    target = np.zeros((1, 4, 4, 38), np.float32)
    pred = np.zeros_like(target)
    pred[0, 1, 2] = 5.0  # a big error ...
    mask = np.ones((1, 4, 4), np.float32)
    mask[0, 1, 2] = 0.0  # ... on an unannotated person's pixel
    assert float(MaskedSumSquares()(pack_targets(target, mask), pred)) == 0.0
    mask[0, 1, 2] = 1.0
    assert float(MaskedSumSquares()(pack_targets(target, mask), pred)) > 0


def test_wrong_target_channels_is_a_clear_error():
    with pytest.raises(ValueError, match="channels"):
        MaskedSumSquares()(np.zeros((1, 2, 2, 5), np.float32), np.zeros((1, 2, 2, 19), np.float32))


@pytest.mark.slow
def test_a_few_training_steps_reduce_the_loss():
    keras.utils.set_random_seed(0)
    net = m.build_mln(m.MLNConfig.tiny())
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (4, 32, 32, 3)).astype(np.float32)
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, :, :2] = rng.uniform(4, 28, (18, 2))
    kp[0, :, 2] = 2
    t = render_targets(kp, (32, 32))
    mask = np.ones((4, 4, 4), np.float32)
    hm = pack_targets(np.repeat(t.heatmaps[None], 4, 0), mask)
    pf = pack_targets(np.repeat(t.pafs[None], 4, 0), mask)
    y = {"det_heatmaps": hm, "heatmaps": hm, "det_pafs": pf, "pafs": pf}
    net.compile(optimizer=keras.optimizers.Adam(3e-3), loss=pose_losses(y))
    history = net.fit(x, y, epochs=30, batch_size=4, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
