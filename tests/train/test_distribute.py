"""The loss normalises by the global batch: one step under MirroredStrategy on two
(logical) CPU devices updates the weights exactly like one step on a single device."""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np, tensorflow as tf, keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from mln_tf import model as m
    from mln_tf.losses import pack_targets, pose_losses

    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (4, 32, 32, 3)).astype(np.float32)
    mask = (rng.random((4, 4, 4)) > 0.3).astype(np.float32)
    y = {}
    for name, ch in (("det_heatmaps", 19), ("heatmaps", 19), ("det_pafs", 38), ("pafs", 38)):
        y[name] = pack_targets(rng.random((4, 4, 4, ch)).astype(np.float32), mask)

    def step(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            net = m.build_mln(m.MLNConfig.tiny())
            net.compile(optimizer=keras.optimizers.SGD(1e-3), loss=pose_losses(y))
        loss = net.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"][0]
        return loss, [w.numpy() for w in net.weights]

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 2, devices
    loss1, w1 = step(tf.distribute.OneDeviceStrategy(devices[0]))
    loss2, w2 = step(tf.distribute.MirroredStrategy(devices))
    worst = max(float(np.abs(a - b).max()) for a, b in zip(w1, w2))
    print("losses", loss1, loss2, "max weight difference", worst)
    assert abs(loss1 - loss2) <= 1e-4 * abs(loss1), (loss1, loss2)
    assert worst < 1e-5, worst
""")


@pytest.mark.slow
def test_mirrored_strategy_matches_single_device():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
