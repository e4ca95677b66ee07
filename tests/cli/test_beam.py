"""mln-pose infer --beam: an Apache Beam pipeline (DirectRunner, 2 worker processes) gives exactly the poses of
mln-pose infer, keeps going past unreadable images (named in failed.txt), and refuses to overwrite results."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from mln_tf.bundled import TRAIN_DIR, VAL_DIR
from mln_tf.cli.main import main

pytest.importorskip("apache_beam", reason="apache-beam is the [beam] extra; make test installs it")


@pytest.fixture(scope="module")
def tflite(tmp_path_factory):
    """The shipped network as an fp32 .tflite at a small fixed input (fast on 2 cores)."""
    path = tmp_path_factory.mktemp("model") / "pose.tflite"
    assert (
        main(["export", "tflite", "pretrained:tfpose_mobilenet_thin", str(path), "--input", "184x216", "--quiet"]) == 0
    )
    return path


@pytest.mark.slow
def test_beam_gives_exactly_the_poses_of_infer_on_the_40_bundled_images(tflite, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for folder in (VAL_DIR, TRAIN_DIR):
        for jpg in folder.glob("*.jpg"):
            shutil.copy(jpg, images)
    (images / "broken.jpg").write_bytes(b"not a jpeg")  # among the good ones
    (images / "notes.txt").write_text("not an image")  # not matched at all
    ref, out = tmp_path / "ref", tmp_path / "beam"
    assert main(["infer", "--model", str(tflite), str(VAL_DIR), str(TRAIN_DIR), "--out", str(ref), "--no-overlay",
                 "--quiet"]) == 0  # fmt: skip
    code = main(["infer", "--beam", "--beam-workers", "2", "--model", str(tflite), str(images), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1  # one image failed: the job says so, and keeps the others
    assert "broken.jpg" in captured.err and "1 image(s) could not be read" in captured.err
    failed = (out / "failed.txt").read_text().splitlines()
    assert len(failed) == 1 and failed[0].split("\t")[0].endswith("broken.jpg") and "corrupt" in failed[0]
    want = sorted(p.name for p in ref.glob("*_keypoints.json"))
    assert len(want) == 40 and sorted(p.name for p in out.glob("*_keypoints.json")) == want
    for name in want:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    coco = json.loads((out / "coco_results.json").read_text())
    people = sum(len(json.loads((ref / n).read_text())["people"]) for n in want)
    assert len(coco) == people > 40 and {r["image_id"] for r in coco} <= {int(n.split("_")[0]) for n in want}
    assert not list(out.glob(".beam-*")), "shards left behind"
    # results already there: refused before any work
    again = main(["infer", "--beam", "--model", str(tflite), str(images), "--out", str(out)])
    assert again == 2 and "pass --overwrite" in capsys.readouterr().err


def test_without_apache_beam_beam_says_how_to_get_it(tmp_path):
    """A fresh interpreter where apache_beam cannot be imported: one line naming the extra, exit 2."""
    code = (
        "import sys; sys.modules['apache_beam'] = None\n"
        "from mln_tf.cli.main import main\n"
        f"sys.exit(main(['infer', '--beam', '--model', 'pretrained:tfpose_mobilenet_thin', {str(VAL_DIR)!r}, "
        f"'--out', {str(tmp_path / 'o')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'mln_tf[beam]'" in lines[0], done.stderr


@pytest.mark.slow
def test_beam_honours_every_setting_and_names_same_named_images_as_infer(tflite, tmp_path, capsys):
    """a/x.jpg and b/x.jpg give x and x_2 on both paths; --limit and --decoder reach the job; the settings are kept."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    photos = sorted(VAL_DIR.glob("*.jpg"))
    shutil.copy(photos[0], a / "x.jpg")
    shutil.copy(photos[1], b / "x.jpg")  # another photo under the same name
    shutil.copy(photos[2], b / "y.jpg")
    ref, out = tmp_path / "ref", tmp_path / "beam"
    decoder = ["--decoder", "min_parts=5"]
    assert main(["infer", "--model", str(tflite), str(a), str(b), "--out", str(ref), "--no-overlay", "--quiet",
                 "--limit", "2", *decoder]) == 0  # fmt: skip
    assert main(["infer", "--beam", "--beam-workers", "1", "--model", str(tflite), str(a), str(b), "--out", str(out),
                 "--quiet", "--limit", "2", *decoder]) == 0  # fmt: skip
    names = sorted(p.name for p in ref.glob("*_keypoints.json"))
    assert names == ["x_2_keypoints.json", "x_keypoints.json"]  # --limit 2: y.jpg is not read
    assert sorted(p.name for p in out.glob("*_keypoints.json")) == names
    for name in names:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    assert json.loads((ref / "x_keypoints.json").read_text()) != json.loads((ref / "x_2_keypoints.json").read_text())
    for folder in (ref, out):
        run = json.loads((folder / "run.json").read_text())
        assert run["decoder"]["grouping"]["min_parts"] == 5, folder


def test_beam_refuses_what_a_fixed_size_model_cannot_run_before_any_work(tflite, tmp_path, capsys):
    for flag in (["--accurate"], ["--scales", "1,1.5"]):
        code = main(["infer", "--beam", "--model", str(tflite), str(VAL_DIR), "--out", str(tmp_path / "o"), *flag])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and "runs at one scale" in err[0], err
    assert not (tmp_path / "o").exists()
    code = main(["infer", "--beam", "--model", str(tflite), str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2 and "no images in" in capsys.readouterr().err
    code = main(
        ["infer", "--beam", "--model", str(tflite), str(VAL_DIR), "--out", str(tmp_path / "o"), "--speed", "fast"]
    )
    assert code == 2 and "ends at the stage it was exported with" in capsys.readouterr().err
    code = main(["infer", "--model", str(tflite), str(VAL_DIR), "--out", str(tmp_path / "o"), "--decoder", "x=1"])
    assert code == 2 and "unknown decoder setting 'x'" in capsys.readouterr().err


def test_importing_the_pipeline_changes_no_logging_state():
    code = (
        "import logging; root = logging.getLogger(); before = (list(root.filters), root.level, "
        "logging.getLogger('apache_beam').level); import mln_tf.beam; "
        "after = (list(root.filters), root.level, logging.getLogger('apache_beam').level); "
        "print(before == after)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
