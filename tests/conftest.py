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


# Seconds each long unit took in one `make test` on the 2-core Intel Xeon (AVX-512) of December 2026:
# the scheduler hands out the longest first (the others by their number of tests), so that no
# worker starts a long unit near the end while the other one idles.
LONG_UNITS = {
    "quantized": 400,
    "tests/export/test_export.py": 180,
    "tests/cli/test_console.py": 110,
    "tests/cli/test_readme_commands.py": 80,
    "tests/cli/test_beam_engines.py": 85,
    "tests/train/test_multiworker.py": 70,
    "tests/train/test_train.py": 55,
    "tests/core/test_operating_points.py": 40,
    "tests/ports/test_android_apk.py": 30,
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
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

        def _assign_work_unit(self, node) -> None:
            if not self.ordered:  # longest first (the queue is complete before the first unit goes out)
                units = sorted(self.workqueue.items(), key=lambda unit: -LONG_UNITS.get(unit[0], len(unit[1])))
                self.workqueue.clear()
                self.workqueue.update(units)
                self.ordered = True
            super()._assign_work_unit(node)

    return GroupScheduling(config, log)
