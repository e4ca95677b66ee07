"""One vocabulary: every tool's --help works without TensorFlow, shared flags agree, bad input is one line."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from mln_tf import flags
from mln_tf.model import ARCHS, WIDTHS

ROOT = Path(__file__).resolve().parent.parent

# (name, module, how to get its parser): every command-line tool of the repository.
TOOLS = {
    "mln-pose infer": ("mln_tf.cli", "infer"),
    "mln-pose eval": ("mln_tf.cli", "eval"),
    "mln-pose summary": ("mln_tf.cli", "summary"),
    "train": ("training.train", None),
    "demo": ("training.quickstart", None),
    "convert_tfpose": ("mln_tf.convert_tfpose", None),
    "export tflite": ("export.tflite", None),
    "export savedmodel": ("export.saved_model", None),
    "check tflite": ("export.check_tflite", None),
    "check gpu": ("export.gpu_check", None),
}
# Defaults that differ on purpose: the paper's training crop, the CPU demo's small sizes.
DEFAULT_EXCEPTIONS = {
    ("train", "--input"): (368, 368),
    ("demo", "--input"): (160, 160),
    ("demo", "--input-height"): 224,
    ("convert_tfpose", "--input"): (184, 216),  # a random probe image, not a network input to choose
    ("export savedmodel", "--input"): None,  # a SavedModel takes any multiple of 8 unless fixed
}
SHARED = {  # flag -> what every tool that has it must agree on
    "--input": dict(type=flags.hw, default=flags.DEFAULT_INPUT_HW, metavar="HxW"),
    "--input-height": dict(type=flags.input_height, default=368),
    "--arch": dict(choices=ARCHS),
    "--width": dict(choices=WIDTHS),
    "--images": dict(action=argparse._AppendAction),
    "--annotations": dict(default=None),
    "--limit": dict(type=flags.positive_int, default=None),
    "--overwrite": dict(action=argparse._StoreTrueAction),
    "--quiet": dict(action=argparse._StoreTrueAction),
}
OLD_NAMES = (
    "--config",
    "--eval-input-height",
    "--tflite-input",
    "--pretrained-input",
    "--max-images",
    "--results",
    "--eval-images",
)


def parser_of(tool: str) -> argparse.ArgumentParser:
    import importlib

    module, sub = TOOLS[tool]
    parser = importlib.import_module(module).build_parser()
    if sub:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[sub]
    return parser


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {opt: a for a in parser._actions for opt in a.option_strings}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_shared_flags_have_one_name_type_and_default(tool):
    opts = options(parser_of(tool))
    for flag, want in SHARED.items():
        action = opts.get(flag)
        if action is None:
            continue
        assert action.option_strings[0] == flag, f"{tool}: {flag} is an alias of {action.option_strings[0]}"
        for key, value in want.items():
            if key == "action":
                assert isinstance(action, value), f"{tool} {flag}: {type(action).__name__}"
                continue
            if key == "default":
                value = DEFAULT_EXCEPTIONS.get((tool, flag), value)
            got = getattr(action, key)
            assert (tuple(got) if key == "choices" else got) == (tuple(value) if key == "choices" else value), (
                f"{tool} {flag}: {key} is {got!r}, the shared one is {value!r}"
            )
    for old in OLD_NAMES:  # kept only as hidden aliases of the new names
        if old in opts:
            action = opts[old]
            assert action.option_strings[0] != old or action.help == argparse.SUPPRESS, f"{tool} {old}"


def test_old_spellings_still_parse():
    from mln_tf.cli import build_parser

    args = build_parser().parse_args(
        [
            "eval",
            "--model",
            "m.keras",
            "--config",
            "tiny",
            "--annotations",
            "a.json",
            "--images",
            "i",
            "--results",
            "r.json",
        ]
    )
    assert args.width == "tiny" and args.out == "r.json"
    from training.train import build_parser as train_parser

    args = train_parser().parse_args(["--coco", "c", "--eval-input-height", "256", "--eval-images", "3"])
    assert args.input_height == 256 and args.eval_limit == 3


HELP_COMMANDS = [
    ["-m", "mln_tf.cli", "--help"],
    ["-m", "mln_tf.cli", "infer", "--help"],
    ["-m", "mln_tf.cli", "eval", "--help"],
    ["-m", "mln_tf.cli", "summary", "--help"],
    ["-m", "mln_tf.cli", "train", "--help"],
    ["-m", "mln_tf.cli", "demo", "--help"],
    ["-m", "mln_tf.cli", "export", "--help"],
    ["-m", "mln_tf.cli", "check", "--help"],
    ["-m", "training.train", "--help"],
    ["-m", "training.quickstart", "--help"],
    ["-m", "mln_tf.convert_tfpose", "--help"],
    ["-m", "mln_tf.cli", "export", "tflite", "--help"],
    ["-m", "mln_tf.cli", "check", "tflite", "--help"],
    ["-m", "export.tflite", "--help"],
    ["-m", "export.saved_model", "--help"],
    ["-m", "export.check_tflite", "--help"],
    ["-m", "export.gpu_check", "--help"],
]
NO_TF = (
    "import runpy, sys\nsys.argv = sys.argv[1:]\n"
    "try:\n    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
    "except SystemExit as e:\n    code = e.code or 0\nelse:\n    code = 0\n"
    "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\nsys.exit(code)\n"
)


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=[" ".join(c[1:]) for c in HELP_COMMANDS])
def test_help_works_without_importing_tensorflow(command):
    proc = subprocess.run(
        [sys.executable, "-c", NO_TF, *command[1:]], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and not proc.stderr
    if command[1] == "mln_tf.cli" and command[2] in ("train", "demo"):  # the usage names the subcommand
        assert f"usage: mln-pose {command[2]}" in proc.stdout


BAD_INPUT = [  # (argv of mln-pose, words the one error line must contain)
    (["infer", "--model", "m.keras", "nope.jpg", "--out", "{tmp}/o"], "input not found"),
    (["infer", "--model", "m.keras", "{tmp}/empty", "--out", "{tmp}/o"], "no images or videos in folder"),
    (["infer", "--model", "m.keras", "{tmp}/notes.txt", "--out", "{tmp}/o"], "notes.txt is not one of"),
    (["infer", "--model", "{tmp}/nope.keras", "{val}", "--out", "{tmp}/o"], "model not found"),
    (["infer", "--model", "{tmp}/notes.txt", "{val}", "--out", "{tmp}/o"], "unsupported model file"),
    (["infer", "--model", "m.keras", "--camera", "99", "--out", "{tmp}/o"], "cannot open camera"),
    (["infer", "--model", "m.keras", "--out", "{tmp}/o"], "give images"),
    (["infer", "--model", "m.keras", "{val}", "--input-height", "100", "--out", "{tmp}/o"], "multiple of 8"),
    (
        ["eval", "--model", "m.keras", "--annotations", "{tmp}/none.json", "--images", "{val}"],
        "annotation file not found",
    ),
    (
        ["eval", "--model", "m.keras", "--annotations", "{val}/person_keypoints.json", "--images", "{tmp}/x"],
        "image folder not found",
    ),
    (["summary", "--input", "167x200", "--runs", "0"], "multiples of 8"),
    (["train", "--train-json", "{tmp}/none.json", "--train-images", "{tmp}"], "not found"),
    (["train", "--coco", "c", "--input", "368"], "HEIGHTxWIDTH"),
    (["demo", "--input", "167", "--out", "{tmp}/demo"], "HEIGHTxWIDTH"),
    (["export", "onnx"], "choose one of"),
    (["export", "tflite", "{tmp}/none.keras", "{tmp}/x.tflite"], "model not found"),
    (["export", "tflite", "{tmp}/notes.txt", "{tmp}/x.tflite"], "unsupported model file"),
    (["export", "tflite", "pretrained:tfpose_mobilenet_thin", "{tmp}/o", "--input", "100x100"], "multiples of 8"),
    (
        ["export", "tflite", "pretrained:tfpose_mobilenet_thin", "{tmp}/x.tflite", "--mode", "int8"],
        "needs --calibration",
    ),
    (["export", "savedmodel", "{tmp}/none.keras", "{tmp}/o"], "model not found"),
    (
        ["check", "tflite", "{tmp}/none.tflite", "--reference", "{tmp}/none.keras", "--images", "{val}"],
        "model not found",
    ),
    (["check", "tflite", "{tmp}/notes.txt", "--reference", "x.keras", "--images", "{val}"], "not a .tflite"),
    (["check", "gpu", "{tmp}/notes.txt"], "cannot read"),
]


@pytest.mark.parametrize("argv,words", BAD_INPUT, ids=[" ".join(a[:3]) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_nothing_written(argv, words, tmp_path):
    from helpers import VAL

    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not an image")
    argv = [a.format(tmp=tmp_path, val=VAL) for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", "mln_tf.cli", *argv], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "demo").exists()
