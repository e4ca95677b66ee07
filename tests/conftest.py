"""Shared fixtures; keeps TensorFlow quiet and deterministic on CPU."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU only, as in CI

from pathlib import Path

import pytest

import mln_tf  # noqa: E402,F401  (filters TensorFlow's start-up noise in the test run)

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The repo's bundled real data (licenses: mln_tf/bundled/README.md, data/README.md)."""
    return DATA
