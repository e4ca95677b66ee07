"""A bounded run of every fuzz target (benchmarks/fuzz.py, atheris): seconds each, libFuzzer seed 1,
the script's fixed seed corpus, so the same inputs every time. The long runs (10^5 inputs per
target) are ``python benchmarks/fuzz.py``; what they found is tests/core/test_fuzz_regressions.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris (requirements.txt) is not installed")

ROOT = Path(__file__).resolve().parents[2]
# inputs per target: a few seconds each on a shared 2-core machine
RUNS = {"decode_image": 3000, "tf_config": 3000, "coco": 1500, "postprocess": 1000, "tflite": 2000, "tracker": 300}


def test_every_target_is_in_the_bounded_run():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import fuzz
    finally:
        sys.path.pop(0)
    assert set(RUNS) == set(fuzz.TARGETS)


def test_a_native_crash_in_the_tflite_helper_is_recorded_and_the_helper_restarted(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import fuzz
    finally:
        sys.path.pop(0)
    workdir = tmp_path / "tflite-scratch"
    workdir.mkdir()
    crash = "import ctypes, sys; sys.stdin.buffer.read(4); ctypes.string_at(0)"  # SIGSEGV at the first file
    helper = fuzz.TfliteHelper(workdir, timeout_s=30, command=[sys.executable, "-c", crash])
    data = fuzz.TINY_TFLITE.read_bytes()
    assert helper.load(data) == "native: signal 11"
    assert helper.load(data) == "native: signal 11"  # restarted
    found = sorted(p.name for p in tmp_path.glob("tflite-native-crash-*"))
    assert len(found) == 2 and found[1].endswith(".before1")  # the input, and the one before it


@pytest.mark.parametrize("target", list(RUNS))
def test_fuzz_target_keeps_its_contract(target, tmp_path):
    out = tmp_path / "results.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "fuzz.py"), target, "--runs", str(RUNS[target]), "--seed", "1"]
    cmd += ["--artifacts", str(tmp_path), "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    log = tmp_path / f"{target}.log"
    detail = done.stdout[-3000:] + (log.read_text(errors="replace")[-3000:] if log.exists() else "")
    assert done.returncode == 0, detail
    (result,) = json.loads(out.read_text())
    assert result["findings"] == [], detail
    assert result["runs"] == RUNS[target], detail
