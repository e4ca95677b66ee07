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


# `make test` runs the suite on two pytest-xdist workers. Tests that share an expensive session
# fixture or write the same file of the checkout run in one worker; the others go by file.
# (A scheduler of our own: xdist's --dist loadgroup no longer groups on pytest 9.2,
# pytest-dev/pytest-xdist#1386.)
XDIST_GROUPS = {
    "tests/export/test_gates.py": "quantized",  # the session fixture `quantized` (tests/export/exported.py)
    "tests/export/test_quantization.py": "quantized",
    "tests/ports/test_web_demo.py": "web",  # web_demo/models/ (make_model.py) and the served page
    "tests/cli/test_readme_commands.py::test_the_other_readme_commands_run": "web",  # make web-demo
    "tests/ports/test_android": "android",  # android_demo/build and the APK's model asset
}


def xdist_scope(nodeid: str) -> str:
    """The unit of work a test belongs to: its group in XDIST_GROUPS, else its file."""
    for prefix, group in XDIST_GROUPS.items():
        if nodeid.startswith(prefix):
            return group
    return nodeid.split("::", 1)[0]


def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduler, with the scopes of :func:`xdist_scope` (called by xdist only)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return GroupScheduling(config, log)
