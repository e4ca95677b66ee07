"""A quiet console: what each command prints besides its results, counted (issue: no line twice, no
converter/LiteRT/XNNPACK/absl lines, progress bars only on long work)."""

import re
import subprocess
import sys

import pytest

from helpers import ROOT, VAL

# What no command may print unless asked (-v / TF_CPP_MIN_LOG_LEVEL=0): TensorFlow, absl, the converter,
# LiteRT and XNNPACK, Python warnings, and our own log lines printed a second time by the root logger.
NOISE = re.compile(
    r"XNNPACK|fully_quantize|Estimated count of arithmetic ops|absl|cpu_feature_guard|oneDNN|cuInit|"
    r"UserWarning|DeprecationWarning|^(INFO|WARNING|DEBUG):[\w.]+:|^[IWE]\d{4} |tensorflow/|Traceback"
)
PROGRESS = re.compile(r"\d+/\d+ \[|\d+it \[|it/s\]|s/it\]")  # tqdm bars (one per long loop)


def _console(tmp_path, *argv: str) -> tuple[list[str], str]:
    """The stderr lines of ``mln-pose ARGV`` that are not progress bars, and its stdout."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(
        [sys.executable, "-m", "mln_tf.cli", *argv], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line.split("\r")[-1].strip() for line in proc.stderr.splitlines()]
    return [line for line in lines if line and not PROGRESS.search(line)], proc.stdout


def _quiet(lines: list[str], most: int, command: str) -> None:
    noisy = [line for line in lines if NOISE.search(line)]
    assert not noisy, f"{command}: noise lines {noisy}"
    twice = sorted({line for line in lines if lines.count(line) > 1})
    assert not twice, f"{command}: printed twice {twice}"
    assert len(lines) <= most, f"{command}: {len(lines)} non-result lines (at most {most}): {lines}"


@pytest.mark.slow
def test_every_command_prints_results_not_noise(tmp_path):
    model = "pretrained:tfpose_mobilenet_thin"
    image = str(sorted(VAL.glob("*.jpg"))[0])
    counts = {}
    runs = {
        "infer": (["infer", "--model", model, image, "--out", "poses"], 0),
        "eval": (
            ["eval", "--model", model, "--images", str(VAL), "--annotations", str(VAL / "person_keypoints.json")],
            0,
        ),
        "export fp32": (["export", "tflite", model, "fp32.tflite", "--input", "128x160"], 0),
        "export int8": (
            [
                "export",
                "tflite",
                model,
                "int8.tflite",
                "--mode",
                "int8",
                "--input",
                "128x160",
                "--calibration",
                str(VAL),
            ],
            10,  # the float-layer choice and bias correction say what they decide: 9 lines
        ),
        "check": (["check", "tflite", "fp32.tflite", "--reference", model, "--images", str(VAL)], 0),
        # the README's `mln-pose demo --overwrite` (tests/cli/test_readme_commands.py leaves it to this test)
        "demo": (["demo", "--overwrite", "--steps", "2", "--out", "demo"], 2),
    }
    for command, (argv, most) in runs.items():
        lines, stdout = _console(tmp_path, *argv)
        counts[command] = len(lines)
        assert stdout.strip(), f"{command} printed no result"
        assert "RESULT: FAIL" not in stdout and "OVER" not in stdout, f"{command}: {stdout[-1500:]}"
        _quiet(lines, most, command)
    print("non-result lines per command:", counts)


def test_library_log_lines_are_printed_once(capfd):
    import logging

    from mln_tf.console import setup_logging

    logging.basicConfig()  # a root handler, as absl and some notebooks install
    setup_logging()
    logging.getLogger("mln_tf.export.int8").info("int8 with 20 float layers")
    err = capfd.readouterr().err
    assert err.count("int8 with 20 float layers") == 1, err
    assert ROOT.is_dir()
