"""Every ``mln-pose`` command the READMEs show is run, or its arguments are parsed where it cannot run.

The fenced ``bash`` blocks of README.md, web_demo/README.md and android_demo/README.md are read
here; each ``mln-pose`` command in them must be in ``COMMANDS`` (a new or changed command fails
``test_every_readme_command_is_known`` until it is listed). ``Run`` commands go through
``mln_tf.cli.main`` as written, in a temporary folder (repository paths made absolute), with the
listed substitutions for files a reader has and this machine has not, and the listed extra flags
that keep the long ones short (small inputs, few images); a non-zero exit status or a FAIL
verdict fails the test. ``NotRunnable`` commands (GPUs, cameras, clusters, cloud, minutes of
QAT) say why, and their arguments must still parse with the command's own parser.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mln_tf.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
READMES = ("android_demo/README.md", "README.md", "web_demo/README.md")  # android first: it makes thin_fp16.tflite
TRAIN = "mln_tf/bundled/coco_train2017_mini"
VAL = "mln_tf/bundled/coco_val2017_mini"
SMALL = "160x192"  # the long exports run at this input instead of the README's
PRETRAINED = "pretrained:tfpose_mobilenet_thin"


@dataclass(frozen=True)
class Run:
    """Run the command; ``subs`` replace whole arguments (a value may be several), ``extra`` is appended."""

    subs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotRunnable:
    """Cannot run in a test (``reason``); its arguments (after ``subs``) must parse."""

    reason: str
    subs: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _int8_small(images: int) -> tuple[str, ...]:
    return ("--calibration-images", str(images), "--quiet")


# The key is the command as the README writes it (continuations joined, comment and .venv/bin/ dropped).
COMMANDS: dict[str, Run | NotRunnable] = {
    # android_demo/README.md
    "mln-pose export tflite --help": Run(),
    f"mln-pose export tflite {PRETRAINED} thin_fp16.tflite --mode fp16 --input 256x320": Run(extra=("--quiet",)),
    f"mln-pose export tflite {PRETRAINED} thin_int8.tflite --mode int8 --input 256x320 --calibration {TRAIN}": Run(
        subs={"256x320": (SMALL,)}, extra=_int8_small(8)
    ),
    f"mln-pose export tflite {PRETRAINED} thin_qat.tflite --mode qat --input 256x320 --calibration {TRAIN} "
    "--qat-steps 240 --qat-batch 4": NotRunnable(
        "minutes even at 2 steps (post-training int8 first, then tfmot in a tf_keras child process); "
        "tests/export/test_quantization.py runs that path at 224x288"
    ),
    # README.md
    f"mln-pose infer --model {PRETRAINED} {VAL} --out poses/": Run(extra=("--quiet",)),
    f"mln-pose infer --model {PRETRAINED} --camera 0 --out poses/": NotRunnable("no camera on a test machine"),
    f"mln-pose eval --model {PRETRAINED} --annotations {VAL}/person_keypoints.json --images {VAL}": Run(
        extra=("--quiet",)
    ),
    "mln-pose summary --arch mln --runs 0": Run(),
    "mln-pose train --coco /data/coco --out runs/mln": NotRunnable(
        "the paper's training: COCO train2017 in /data/coco and GPUs for days (docs/training.md)"
    ),
    "TF_CONFIG=... mln-pose train --strategy multiworker ...": NotRunnable(
        "several machines with TF_CONFIG (tests/train runs two local workers)", subs={"...": ("--coco", "/data/coco")}
    ),
    "mln-pose export savedmodel runs/mln/model.keras serving/mln/1": Run(
        subs={"runs/mln/model.keras": ("tiny.keras",)}
    ),
    "mln-pose export tflite runs/mln/model.keras mln_int8.tflite --mode int8 --calibration train2017/": Run(
        subs={"runs/mln/model.keras": (PRETRAINED,), "train2017/": (TRAIN,)}, extra=("--input", SMALL, *_int8_small(8))
    ),
    "mln-pose check tflite mln_int8.tflite --reference runs/mln/model.keras --images val2017/": Run(
        subs={"runs/mln/model.keras": (PRETRAINED,), "val2017/": (VAL,)}, extra=("--quiet",)
    ),
    "mln-pose check gpu mln_fp16.tflite": Run(subs={"mln_fp16.tflite": ("thin_fp16.tflite",)}),
    "mln-pose convert tfpose graph_opt.pb out.keras": Run(
        subs={"graph_opt.pb": ("data/peers/tfpose_mobilenet_thin/graph_opt.pb",)}
    ),
    "mln-pose infer --beam --model pose.tflite gs://bucket/*.jpg --out gs://bucket/poses --runner DataflowRunner": (
        NotRunnable("Google Cloud Dataflow and gs:// buckets; tests/cli/test_beam.py runs the pipeline locally")
    ),
    "mln-pose demo --overwrite": Run(extra=("--steps", "2", "--input", "64x64", "--input-height", "64", "--quiet")),
}


def readme_commands(path: Path) -> list[str]:
    """The ``mln-pose`` commands of the fenced bash blocks of ``path``, one string each (see COMMANDS' keys)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", path.read_text(), flags=re.M | re.S)
    found = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if any(w.endswith("mln-pose") for w in words):
                found.append(" ".join(w.removeprefix(".venv/bin/") for w in words))
    return found


def _argv(text: str, subs: dict[str, tuple[str, ...]], extra: tuple[str, ...] = ()) -> list[str]:
    """The arguments after ``mln-pose``, substituted, repository paths made absolute."""
    words = text.split()
    words = words[words.index("mln-pose") + 1 :]
    argv = [v for w in words for v in subs.get(w, (w,))] + list(extra)
    return [str(ROOT / a) if not a.startswith("-") and "/" in a and (ROOT / a).exists() else a for a in argv]


def _all() -> list[tuple[str, str]]:
    return [(readme, text) for readme in READMES for text in readme_commands(ROOT / readme)]


def test_every_readme_command_is_known():
    found = _all()
    assert len(found) >= 15, found  # the READMEs were read
    unknown = [f"{readme}: {text}" for readme, text in found if text not in COMMANDS]
    assert not unknown, "README commands this test does not know (add them to COMMANDS):\n" + "\n".join(unknown)
    stale = set(COMMANDS) - {text for _, text in found}
    assert not stale, f"COMMANDS lists commands no README shows: {sorted(stale)}"


@pytest.mark.parametrize("text", [t for t, how in COMMANDS.items() if isinstance(how, NotRunnable)])
def test_commands_that_cannot_run_here_parse(text):
    how = COMMANDS[text]
    prog, module, rest = cli.command(_argv(text, how.subs))
    assert module is not None, text
    args = module.build_parser(prog).parse_args(rest)  # a flag the command lacks: SystemExit
    assert args is not None and how.reason


@pytest.mark.slow
def test_readme_commands_run_and_pass(tmp_path, monkeypatch):
    """Every Run command, in README order, in one folder (later commands use earlier outputs)."""
    import keras

    from mln_tf import model as m

    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    m.build_mln(m.MLNConfig.tiny()).save(tmp_path / "tiny.keras")  # a stand-in for a trained runs/mln/model.keras
    failed = []
    for readme, text in _all():
        how = COMMANDS[text]
        if not isinstance(how, Run):
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                code = cli.main(_argv(text, how.subs, how.extra))
            except SystemExit as exc:  # --help
                code = exc.code
        printed = out.getvalue()
        if code != 0 or "RESULT: FAIL" in printed or "OVER" in printed:
            failed.append(f"{readme}: {text} -> exit {code}\n{printed[-1500:]}")
    assert not failed, "\n\n".join(failed)
