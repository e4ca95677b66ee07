"""One vocabulary: every tool's --help works without TensorFlow, shared flags agree, bad input is one line."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from mln_tf.cli import flags
from mln_tf.model import ARCHS, DEFAULT_INPUT_HW, WIDTHS

ROOT = Path(__file__).resolve().parents[2]

from mln_tf.cli.main import COMMANDS  # noqa: E402

# Every command line of the package: "infer", "export tflite", ... -> its module.
TOOLS = {
    (f"{name} {sub}" if sub else name): module
    for name, entry in COMMANDS.items()
    for sub, module in (entry.items() if isinstance(entry, dict) else [("", entry)])
}
# Defaults that differ on purpose: the paper's training crop, the CPU demo's small sizes.
DEFAULT_EXCEPTIONS = {
    ("train", "--input"): (368, 368),
    ("demo", "--input"): (160, 160),
    ("demo", "--input-height"): 224,
    ("convert tfpose", "--input"): (184, 216),  # a random probe image, not a network input to choose
    ("export savedmodel", "--input"): None,  # a SavedModel takes any multiple of 8 unless fixed
    ("infer", "--input"): None,  # none: --input-height (a fixed-size .tflite brings its own)
    ("eval", "--input"): None,
    ("export tflite", "--input"): None,  # None: 368x432, or the input of --speed
}
SHARED = {  # flag -> what every tool that has it must agree on
    "--input": dict(type=flags.hw, default=DEFAULT_INPUT_HW, metavar="HxW"),
    "--input-height": dict(type=flags.input_height, default=368),
    "--arch": dict(choices=ARCHS),
    "--width": dict(choices=WIDTHS),
    "--images": dict(action=argparse._AppendAction),
    "--annotations": dict(default=None),
    "--limit": dict(type=flags.positive_int, default=None),
    "--overwrite": dict(action=argparse._StoreTrueAction),
    "--quiet": dict(action=argparse._StoreTrueAction),
    "--speed": dict(choices=("fast", "balanced", "accurate"), default=None),
    "--stage": dict(type=flags.positive_int, default=None, metavar="K"),
}
OLD_NAMES = (  # gone in 0.2 (README changelog): no user of 0.1 to protect
    "--config",
    "--eval-input-height",
    "--tflite-input",
    "--pretrained-input",
    "--max-images",
    "--results",
    "--eval-images",
    "--json",
    "--no-progress",
)
WRITERS = ("infer", "eval", "export tflite", "export savedmodel", "check tflite", "train", "demo", "convert tfpose")


def parser_of(tool: str) -> argparse.ArgumentParser:
    return TOOLS[tool].build_parser()


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
    for old in OLD_NAMES:
        assert old not in opts, f"{tool} still takes {old}"
    if tool in WRITERS:
        assert "--overwrite" in opts, f"{tool} writes files but has no --overwrite"


def test_every_command_has_help_and_a_parser_named_for_it():
    for tool, module in TOOLS.items():
        assert module.HELP and module.build_parser().prog == f"mln-pose {tool}"


HELP_COMMANDS = (
    [["-m", "mln_tf.cli", "--help"]]
    + [["-m", "mln_tf.cli", *tool.split(), "--help"] for tool in sorted(TOOLS)]
    + [["-m", "mln_tf.cli", "export", "--help"], ["-m", "mln_tf.cli", "check", "--help"]]
)
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
    assert ("usage:" in proc.stdout or "mln-pose infer" in proc.stdout) and not proc.stderr
    tool = " ".join(command[2:-1])
    if tool in TOOLS:  # the usage names the subcommand
        assert f"usage: mln-pose {tool}" in proc.stdout


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
    (["export", "savedmodel", "pretrained:tfpose_mobilenet_thin", "{tmp}/notes.txt/mln/1"], "notes.txt is a file"),
    (
        ["check", "tflite", "{tmp}/none.tflite", "--reference", "{tmp}/none.keras", "--images", "{val}"],
        "model not found",
    ),
    (["check", "tflite", "{tmp}/notes.txt", "--reference", "x.keras", "--images", "{val}"], "not a .tflite"),
    (["check", "gpu", "{tmp}/notes.txt"], "cannot read"),
    # outputs that are there already: refused before any model is loaded, unless --overwrite
    (["infer", "--model", "pretrained:tfpose_mobilenet_thin", "{val}", "--out", "{tmp}/done"], "already in"),
    (["export", "tflite", "pretrained:tfpose_mobilenet_thin", "{tmp}/old.tflite"], "already exists"),
    (["export", "savedmodel", "pretrained:tfpose_mobilenet_thin", "{tmp}/empty"], "already exists"),
    (
        ["eval", "--model", "m.keras", "--annotations", "{val}/person_keypoints.json", "--images", "{val}"]
        + ["--out", "{tmp}/old.json"],
        "already exists",
    ),
    (
        ["check", "tflite", "{tmp}/old.tflite", "--reference", "pretrained:tfpose_mobilenet_thin"]
        + ["--images", "{val}", "--out", "{tmp}/old.json"],
        "already exists",
    ),
    (["convert", "tfpose", "{tmp}/notes.txt", "{tmp}/old.keras"], "already exists"),
    (["demo", "--out", "{tmp}"], "previous demo run"),
    (["export", "tflite", "pretrained:tfpose_mobilenet_thin", "{tmp}/missing/x.tflite"], "does not exist"),
]


@pytest.mark.parametrize("argv,words", BAD_INPUT, ids=[" ".join(a[:3]) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_nothing_written(argv, words, tmp_path):
    from helpers import VAL

    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "000000000785_keypoints.json").write_text("{}")
    (tmp_path / "poses").mkdir()  # a previous demo's
    for old in ("old.tflite", "old.json", "old.keras"):
        (tmp_path / old).write_text("kept")
    argv = [a.format(tmp=tmp_path, val=VAL) for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", "mln_tf.cli", *argv], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # one line, with the hint to --help
    assert not (tmp_path / "o").exists() and not (tmp_path / "demo").exists()
    assert all((tmp_path / old).read_text() == "kept" for old in ("old.tflite", "old.json", "old.keras"))
