import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from helpers import VAL
from mln_tf import model as m
from mln_tf.cli import main


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    m.build_mln(m.MLNConfig.tiny()).save(path)
    return path


def test_infer_writes_json_and_overlays_and_reports_a_corrupt_image(tmp_path, tiny_model, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for f in sorted(VAL.glob("*.jpg"))[:2]:
        shutil.copy(f, images / f.name)
    (images / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["infer", "--model", str(tiny_model), "--input-height", "128", str(images), "--out", str(out)])
    assert code == 1  # one input failed, the others were written
    written = sorted(p.name for p in out.iterdir())
    assert written == ["000000000785_keypoints.json", "000000000785_pose.jpg",
                       "000000040083_keypoints.json", "000000040083_pose.jpg"]
    assert json.loads((out / "000000000785_keypoints.json").read_text())["people"] == []
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err and "people" in captured.out


def test_infer_on_a_video(tmp_path, tiny_model):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5, (96, 64))
    for i in range(3):
        writer.write(np.full((64, 96, 3), 40 * i, np.uint8))
    writer.release()
    out = tmp_path / "out"
    assert main(["infer", "--model", str(tiny_model), "--input-height", "64", str(video), "--out", str(out)]) == 0
    assert len(list((out / "clip").glob("clip_*_keypoints.json"))) == 3
    assert (out / "clip_pose.mp4").stat().st_size > 0


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    code = main(["infer", "--model", str(tmp_path / "nope.keras"), str(VAL), "--out", str(tmp_path)])
    assert code == 2 and "model not found" in capsys.readouterr().err


def test_eval_prints_the_coco_table(tmp_path, tiny_model, capsys):
    results = tmp_path / "res.json"
    code = main(["eval", "--model", str(tiny_model), "--input-height", "128", "--annotations",
                 str(VAL / "person_keypoints.json"), "--images", str(VAL), "--results", str(results)])
    assert code == 0
    out = capsys.readouterr().out
    assert "AP50" in out and "L/R-conf" in out
    assert isinstance(json.loads(results.read_text()), list)


def test_summary_reports_paper_counts():
    proc = subprocess.run([sys.executable, "-m", "mln_tf.cli", "summary", "--arch", "mln", "--runs", "0"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "21,278,912" in proc.stdout and "82.52e9" in proc.stdout


def test_help_explains_every_flag():
    proc = subprocess.run([sys.executable, "-m", "mln_tf.cli", "infer", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for flag in ("--model", "--out", "--flip", "--scales", "--threads", "--no-overlay"):
        assert flag in proc.stdout


def test_infer_with_the_shipped_pretrained_network_finds_people(tmp_path):
    out = tmp_path / "out"
    image = VAL / "000000196141.jpg"
    assert main(["infer", "--model", "pretrained:tfpose_mobilenet_thin", str(image), "--out", str(out),
                 "--no-overlay"]) == 0
    people = json.loads((out / "000000196141_keypoints.json").read_text())["people"]
    assert len(people) >= 2  # the batter and the catcher at least


def test_summary_counts_mobilenet_thin_and_width_is_checked(capsys):
    assert main(["summary", "--arch", "mobilenet_thin", "--runs", "0"]) == 0
    out = capsys.readouterr().out
    assert "1,924,122 [1,924,122]" in out and "1,930,872" in out and "4.97e9" in out
    with pytest.raises(SystemExit):
        main(["infer", "--model", "m.weights.h5", "--width", "huge", str(VAL), "--out", "x"])


def test_accurate_is_the_documented_multiscale_setting(capsys):
    from mln_tf.cli import ACCURATE_SCALES, build_parser

    args = build_parser().parse_args(["eval", "--model", "x.keras", "--annotations", "a.json",
                                      "--images", "i", "--accurate"])
    assert args.scales == ACCURATE_SCALES == (1.0, 1.25)
    assert main(["eval", "--model", "pretrained:tfpose_mobilenet_thin", "--accurate", "--annotations",
                 str(VAL / "person_keypoints.json"), "--images", str(VAL)]) == 0
    table = capsys.readouterr().out.split("L/R-conf")[-1].split()
    assert float(table[0]) >= 0.66  # AP; 0.684 measured (0.648 single scale)
