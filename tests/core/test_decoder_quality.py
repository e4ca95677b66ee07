"""benchmarks/decoder_quality.py: the real-map quality table and its command line (no timing)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    from benchmarks import decoder_quality

    return decoder_quality


def test_table_has_both_sets_ours_and_tf_pose(bench, capsys):
    assert bench.main(["--runs", "0", "--set", "smooth_sigma=0", "--set", "refine_peaks=false"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    default = {r[0]: r for r in rows if len(r) > 2 and r[1] == "default"}
    variant = {r[0]: r for r in rows if len(r) > 2 and r[1] == "smooth_sigma=0.0,refine_peaks=False"}
    assert set(default) == set(variant) == {"val", "train"}
    assert float(default["val"][2]) >= 0.62 and float(default["train"][2]) >= 0.242  # AP column
    assert float(variant["train"][2]) < float(default["train"][2])  # no smoothing, no fit: worse
    assert any(r[:3] == ["train", "tf-pose", "C++"] and r[3] == "0.236" for r in rows)


def test_bad_settings_are_usage_errors(bench, capsys):
    for bad in (
        ["--set", "nonsense=1"],
        ["--set", "smooth_sigma=abc"],
        ["--set", "samples=1"],
        ["--set", "smooth_sigma"],
        ["--runs", "-1"],
    ):
        with pytest.raises(SystemExit) as exc:
            bench.main(["--runs", "0", *bad])
        assert exc.value.code == 2, bad
    assert "unknown decoder setting 'nonsense'" in capsys.readouterr().err
