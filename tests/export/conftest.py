"""The export tests' shared session fixtures (tests/export/exported.py)."""

from exported import calibration, pretrained, quantized  # noqa: F401
