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


# `make test` runs the suite on two pytest-xdist workers (--dist loadgroup). Tests that share an
# expensive session fixture or write the same file of the checkout run in one worker:
XDIST_GROUPS = {
    "tests/export/": "export",  # the pretrained network's exports (session fixtures), int8 and QAT
    "tests/ports/test_web_demo.py": "web",  # web_demo/models/ (make_model.py) and the served page
    "tests/cli/test_readme_commands.py::test_the_other_readme_commands_run": "web",  # make web-demo
    "tests/ports/test_android": "android",  # android_demo/build and the APK's model asset
}


def pytest_collection_modifyitems(config, items):
    """Put each test of XDIST_GROUPS in its group (a no-op without xdist)."""
    for item in items:
        for prefix, group in XDIST_GROUPS.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))
                break
