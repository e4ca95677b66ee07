"""Every command against every kind of bad output and input: one line, the right exit status, in time.

The matrix is commands (``mln_tf.cli.main.COMMANDS``) x cases. Output cases (a missing parent,
a folder that cannot be made under /proc, a file where a folder goes and the reverse, results
already there without --overwrite, a read-only folder for a user who is not root) must be
refused with exit 2 **before any model is loaded**: the loaders are replaced by a tripwire that
fails the cell if it is reached. Input cases (missing, empty, a text file with an image or
model suffix, truncated JPEG/PNG/video, a zero-byte .tflite, a .keras that is a zip of something
else, JSON that is not COCO, a malformed TF_CONFIG) run for real: exit 2 (found while checking)
or 1 (found while running), one error line naming the file, no traceback, and no half-written
file left in the output folder. Every writing command is in the output table and every command
that reads a file is in the input table (``test_every_command_is_in_the_matrix``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from mln_tf.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
VAL = ROOT / "mln_tf/bundled/coco_val2017_mini"
TRAIN = ROOT / "mln_tf/bundled/coco_train2017_mini"
MODEL = "pretrained:tfpose_mobilenet_thin"
PHOTO = VAL / "000000000785.jpg"


class ModelLoaded(Exception):
    """Raised by the tripwire: an output problem was not found before the model was loaded."""


TRIPWIRES = (  # (module, name): everything that loads a model or starts the work
    ("mln_tf.runners", "load_runner"),
    ("mln_tf.runners", "load_keras_model"),
    ("mln_tf.export.models", "load_pose_model"),
    ("mln_tf.pretrained", "load_pretrained"),
    ("mln_tf.train.loop", "train"),
    ("mln_tf.cli.convert", "read_graph_def"),
)

TRAIN_ARGS = ["train", "--train-json", f"{TRAIN}/person_keypoints.json", "--train-images", str(TRAIN)]
TRAIN_ARGS += ["--out", "{out}", "--steps", "1"]
# command words -> arguments around the output, which {out} names; {m} a valid model, {t} a .tflite
WRITERS = {
    "infer": (["infer", "--model", MODEL, str(PHOTO), "--out", "{out}"], "folder"),
    "eval": (
        [
            "eval",
            "--model",
            MODEL,
            "--annotations",
            f"{VAL}/person_keypoints.json",
            "--images",
            str(VAL),
            "--out",
            "{out}.json",
        ],
        "file",
    ),
    "export tflite": (["export", "tflite", MODEL, "{out}.tflite", "--input", "64x64"], "file"),
    "export savedmodel": (["export", "savedmodel", MODEL, "{out}"], "folder"),
    "check tflite": (
        ["check", "tflite", "{t}", "--reference", MODEL, "--images", str(VAL), "--out", "{out}.json"],
        "file",
    ),
    "train": (TRAIN_ARGS, "folder"),
    "demo": (["demo", "--out", "{out}"], "folder"),
    "convert tfpose": (
        ["convert", "tfpose", str(ROOT / "data/peers/tfpose_mobilenet_thin/graph_opt.pb"), "{out}.keras"],
        "file",
    ),
}
OUTPUT_CASES = {  # case -> (output path, words of the one line for a folder / a file output); {tmp}: the cell's
    "missing parent": ("{tmp}/missing/deeper/x", None, "does not exist"),  # folders are made with their parents
    "under /proc": ("/proc/mln-nope/x", "/proc/", "/proc/"),
    "a file on the way": ("{tmp}/afile/x", "is a file", "is a file"),
    "the wrong kind there": ("{tmp}/wrong", "not a folder", "is a folder"),
    "exists, no --overwrite": ("{tmp}/done", "--overwrite", "--overwrite"),
}


def _cell_dir(tmp: Path) -> Path:
    """A fresh folder with the files the cases name."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "afile").write_text("a file")
    (tmp / "wrong").write_text("a file where the output folder goes")
    done = tmp / "done"
    for suffix in (".json", ".tflite", ".keras"):  # a previous result of every kind, and folders named as files
        Path(f"{done}{suffix}").write_text("kept")
        Path(f"{tmp / 'wrong'}{suffix}").mkdir()
    done.mkdir()
    (done / f"{PHOTO.stem}_keypoints.json").write_text("kept")  # infer's result
    (done / "train_config.json").write_text("{}")  # a train run
    (done / "poses").mkdir()  # a demo run
    (done / "saved_model.pb").write_text("kept")  # a SavedModel
    return tmp


def _run_in_process(argv: list[str], tripwire: bool) -> tuple[int, list[str]]:
    """``mln-pose ARGV`` in this process -> (exit status, stderr lines that are not progress bars)."""
    err = io.StringIO()
    with contextlib.ExitStack() as stack:
        if tripwire:
            import importlib

            for module, name in TRIPWIRES:
                mod = importlib.import_module(module)

                def trip(*args, _name=name, **kwargs):
                    raise ModelLoaded(f"{_name} was called")

                stack.enter_context(pytest.MonkeyPatch.context()).setattr(mod, name, trip)
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        try:
            code = cli.main(argv)
        except ModelLoaded as exc:
            return -1, [f"tripwire: {exc}"]
        except SystemExit as exc:
            code = exc.code
    lines = [line.split("\r")[-1].strip() for line in err.getvalue().splitlines()]
    return code, [line for line in lines if line and "it/s]" not in line and "%|" not in line]


def _one_line(lines: list[str], words: str) -> str | None:
    """None when ``lines`` is one error line with ``words``, else what is wrong."""
    errors = [line for line in lines if any(w in line for w in ("error", "failed", "Traceback", "tripwire"))]
    if len(errors) != 1 or words not in errors[0] or any("Traceback" in line for line in lines):
        return f"expected one error line with {words!r}, got {lines}"
    return None


def _output_cells(tmp_root: Path) -> list[tuple[str, str, list[str], str]]:
    cells = []
    tflite = tmp_root / "model.tflite"
    tflite.parent.mkdir(parents=True, exist_ok=True)
    tflite.write_bytes(b"only its name matters: the output is refused first")
    for command, (template, kind) in WRITERS.items():
        for case, (out, folder_words, file_words) in OUTPUT_CASES.items():
            words = folder_words if kind == "folder" else file_words
            if words is None:
                continue
            tmp = _cell_dir(tmp_root / f"{command.replace(' ', '_')}-{case.replace(' ', '_').replace('/', '')}")
            argv = [a.format(out=out.format(tmp=tmp), t=tflite) for a in template]
            cells.append((command, case, argv, words))
    return cells


def test_every_command_is_in_the_matrix():
    names = {f"{k} {sub}" for k, v in cli.COMMANDS.items() if isinstance(v, dict) for sub in v}
    names |= {k for k, v in cli.COMMANDS.items() if not isinstance(v, dict)}
    readers = {c for c, _ in INPUT_CASES} | set(WRITERS)
    assert names - {"summary"} <= readers, names - readers  # summary reads and writes no file
    assert set(WRITERS) == {n for n in names if n not in ("summary", "check gpu")}  # check gpu writes nothing


def test_output_problems_are_one_line_exit_2_before_any_model_loads(tmp_path):
    failed = []
    cells = _output_cells(tmp_path)
    for command, case, argv, words in cells:
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        code, lines = _run_in_process(argv, tripwire=True)
        wrong = _one_line(lines, words) if code == 2 else f"exit {code}: {lines}"
        after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        if not wrong and after != before:
            wrong = f"wrote {sorted(set(after) - set(before))}"
        if wrong:
            failed.append(f"{command} / {case}: {wrong}")
    assert len(cells) >= 28
    assert not failed, "\n".join(failed)
    print(f"{len(cells)} output cells: exit 2, one line, nothing loaded or written")


def test_a_read_only_folder_is_refused_for_a_user_who_is_not_root(tmp_path):
    """Root writes anywhere, so the cells run as nobody (setpriv) on a folder only root can write."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody (CI and these machines run as root)")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o755)  # root's: nobody reads, cannot write
    tmp_path.chmod(0o755)
    for parent in tmp_path.parents:  # nobody must reach it
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o005)
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"x")
    tflite.chmod(0o644)
    cells = [(c, [a.format(out=f"{ro}/x", t=tflite) for a in t]) for c, (t, _) in WRITERS.items()]
    script = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}, {str(ROOT / 'tests/cli')!r}]\n"
        "from test_bad_input_matrix import _run_in_process\n"
        f"cells = {cells!r}\n"
        "print(json.dumps([(c, *_run_in_process(argv, tripwire=True)) for c, argv in cells]))\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "MPLCONFIGDIR": str(tmp_path), "KERAS_HOME": str(tmp_path)}
    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    failed = [
        f"{c}: exit {code} {lines}" for c, code, lines in results if code != 2 or _one_line(lines, "permission denied")
    ]
    assert not failed, "\n".join(failed)
    assert list(ro.iterdir()) == []


# ---- inputs --------------------------------------------------------------------------------


def _bad_files(folder: Path) -> dict[str, Path]:
    """One file of each bad kind."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "missing.jpg": folder / "missing.jpg",
        "empty.jpg": folder / "empty.jpg",
        "text.jpg": folder / "text.jpg",
        "truncated.jpg": folder / "truncated.jpg",
        "truncated.png": folder / "truncated.png",
        "truncated.mp4": folder / "truncated.mp4",
        "zero.tflite": folder / "zero.tflite",
        "text.tflite": folder / "text.tflite",
        "zip.keras": folder / "zip.keras",
        "notcoco.json": folder / "notcoco.json",
        "empty.json": folder / "empty.json",
        "text.pb": folder / "text.pb",
    }
    files["empty.jpg"].write_bytes(b"")
    files["text.jpg"].write_text("not an image")
    files["truncated.jpg"].write_bytes(PHOTO.read_bytes()[:300])
    png = cv2.imencode(".png", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    files["truncated.png"].write_bytes(png[: len(png) // 2])
    video = folder / "full.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64))
    for k in range(10):
        writer.write(np.full((64, 64, 3), 20 * k, np.uint8))
    writer.release()
    files["truncated.mp4"].write_bytes(video.read_bytes()[:600])
    video.unlink()
    files["zero.tflite"].write_bytes(b"")
    files["text.tflite"].write_text("not a model")
    with zipfile.ZipFile(files["zip.keras"], "w") as z:
        z.writestr("notes.txt", "a zip of something else")
    files["notcoco.json"].write_text(json.dumps({"hello": "world", "images": "not a list"}))
    files["empty.json"].write_text("")
    files["text.pb"].write_text("not a graph")
    return files


# (command, case) -> (argv with {f[NAME]} files and {out}, expected exit status, words of the one line)
INPUT_CASES = {
    ("infer", "missing image"): (["infer", "--model", MODEL, "{f[missing.jpg]}", "--out", "{out}"], 2, "not found"),
    ("infer", "missing model"): (
        ["infer", "--model", "{f[missing.jpg]}.keras", str(PHOTO), "--out", "{out}"],
        2,
        "not found",
    ),
    ("infer", "empty image"): (["infer", "--model", MODEL, "{f[empty.jpg]}", "--out", "{out}"], 1, "empty.jpg"),
    ("infer", "text with .jpg"): (["infer", "--model", MODEL, "{f[text.jpg]}", "--out", "{out}"], 1, "text.jpg"),
    ("infer", "truncated JPEG"): (
        ["infer", "--model", MODEL, "{f[truncated.jpg]}", "--out", "{out}"],
        1,
        "truncated.jpg",
    ),
    ("infer", "truncated PNG"): (
        ["infer", "--model", MODEL, "{f[truncated.png]}", "--out", "{out}"],
        1,
        "truncated.png",
    ),
    ("infer", "truncated video"): (
        ["infer", "--model", MODEL, "{f[truncated.mp4]}", "--out", "{out}"],
        2,
        "truncated.mp4",
    ),
    ("infer", "zero-byte .tflite"): (
        ["infer", "--model", "{f[zero.tflite]}", str(PHOTO), "--out", "{out}"],
        2,
        "zero.tflite",
    ),
    ("infer", "text .tflite"): (
        ["infer", "--model", "{f[text.tflite]}", str(PHOTO), "--out", "{out}"],
        1,
        "text.tflite",
    ),
    ("infer", ".keras that is another zip"): (
        ["infer", "--model", "{f[zip.keras]}", str(PHOTO), "--out", "{out}"],
        1,
        "zip.keras",
    ),
    ("eval", "annotations not COCO"): (
        ["eval", "--model", MODEL, "--annotations", "{f[notcoco.json]}", "--images", str(VAL)],
        2,
        "notcoco.json",
    ),
    ("eval", "empty annotations"): (
        ["eval", "--model", MODEL, "--annotations", "{f[empty.json]}", "--images", str(VAL)],
        2,
        "empty.json",
    ),
    ("eval", "zero-byte .tflite"): (
        ["eval", "--model", "{f[zero.tflite]}", "--annotations", f"{VAL}/person_keypoints.json", "--images", str(VAL)],
        2,
        "zero.tflite",
    ),
    ("export tflite", ".keras that is another zip"): (
        ["export", "tflite", "{f[zip.keras]}", "{out}.tflite"],
        1,
        "zip.keras",
    ),
    ("export tflite", "calibration of text files"): (
        ["export", "tflite", MODEL, "{out}.tflite", "--mode", "int8", "--input", "64x64", "--calibration", "{bad}"],
        2,
        "calibration",
    ),
    ("export savedmodel", ".keras that is another zip"): (
        ["export", "savedmodel", "{f[zip.keras]}", "{out}"],
        1,
        "zip.keras",
    ),
    ("check tflite", "zero-byte .tflite"): (
        ["check", "tflite", "{f[zero.tflite]}", "--reference", MODEL, "--images", str(VAL)],
        2,
        "zero.tflite",
    ),
    ("check tflite", "annotations not COCO"): (
        ["check", "tflite", "{good}", "--reference", MODEL, "--images", str(VAL), "--annotations", "{f[notcoco.json]}"],
        2,
        "notcoco.json",
    ),
    ("check tflite", "images all unreadable"): (
        ["check", "tflite", "{good}", "--reference", MODEL, "--images", "{f[text.jpg]}"],
        1,
        "text.jpg",
    ),
    ("check tflite", "text .tflite"): (
        ["check", "tflite", "{f[text.tflite]}", "--reference", MODEL, "--images", str(VAL)],
        1,
        "text.tflite",
    ),
    ("check gpu", "zero-byte .tflite"): (["check", "gpu", "{f[zero.tflite]}"], 2, "zero.tflite"),
    ("check gpu", "text .tflite"): (["check", "gpu", "{f[text.tflite]}"], 2, "text.tflite"),
    ("train", "annotations not COCO"): (
        ["train", "--train-json", "{f[notcoco.json]}", "--train-images", str(TRAIN), "--out", "{out}", "--steps", "1"],
        2,
        "notcoco.json",
    ),
    ("train", "malformed TF_CONFIG"): (
        [*TRAIN_ARGS, "--strategy", "multiworker"],
        2,
        "TF_CONFIG",
    ),
    ("convert tfpose", "text .pb"): (["convert", "tfpose", "{f[text.pb]}", "{out}.keras"], 1, "text.pb"),
    ("demo", "output is a file"): (["demo", "--out", "{f[text.jpg]}"], 2, "not a folder"),
}


def test_input_problems_are_one_line_and_leave_nothing_half_written(tmp_path, monkeypatch):
    files = _bad_files(tmp_path / "files")
    good = tmp_path / "good.tflite"  # a real small model, where the cell is about another input
    assert cli.main(["export", "tflite", MODEL, str(good), "--input", "64x64", "--quiet"]) == 0
    bad_folder = tmp_path / "bad_photos"
    bad_folder.mkdir()
    for name in ("text.jpg", "empty.jpg"):
        shutil.copy(files[name], bad_folder / name)
    failed = []
    for (command, case), (template, code, words) in INPUT_CASES.items():
        out = tmp_path / "out" / f"{command.replace(' ', '_')}-{case.replace(' ', '_')}"
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = [a.format(f={k: str(v) for k, v in files.items()}, out=out, bad=bad_folder, good=good) for a in template]
        if case == "malformed TF_CONFIG":
            monkeypatch.setenv("TF_CONFIG", "{not json")
        got, lines = _run_in_process(argv, tripwire=False)
        monkeypatch.delenv("TF_CONFIG", raising=False)
        wrong = _one_line(lines, words) if got == code else f"exit {got} (want {code}): {lines[-3:]}"
        leftovers = [p.name for p in out.parent.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
        if not wrong and leftovers:
            wrong = f"half-written files left: {leftovers}"
        if wrong:
            failed.append(f"{command} / {case}: {wrong}")
    assert not failed, "\n".join(failed)
    print(f"{len(INPUT_CASES)} input cells: the right exit status, one line naming the file, nothing half-written")
