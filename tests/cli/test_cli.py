import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from helpers import VAL
from mln_tf import model as m
from mln_tf.cli.main import main
from mln_tf.estimator import Estimator, EstimatorConfig


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
    assert written == [
        "000000000785_keypoints.json",
        "000000000785_pose.jpg",
        "000000040083_keypoints.json",
        "000000040083_pose.jpg",
        "run.json",
    ]
    assert json.loads((out / "000000000785_keypoints.json").read_text())["people"] == []
    run = json.loads((out / "run.json").read_text())  # the settings used, with the counts
    assert run["input_height"] == 128 and run["scales"] == [1.0] and run["frames"] == 2
    assert run["decoder"]["grouping"]["min_parts"] == 3 and run["model"] == str(tiny_model)
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
    code = main(
        [
            "eval",
            "--model",
            str(tiny_model),
            "--input-height",
            "128",
            "--annotations",
            str(VAL / "person_keypoints.json"),
            "--images",
            str(VAL),
            "--out",
            str(results),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "AP50" in out and "L/R-conf" in out
    assert isinstance(json.loads(results.read_text()), list)


@pytest.mark.slow
def test_summary_reports_paper_counts():
    proc = subprocess.run(
        [sys.executable, "-m", "mln_tf.cli", "summary", "--arch", "mln", "--runs", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "21,278,912" in proc.stdout and "82.52e9" in proc.stdout


def test_help_explains_every_flag():
    proc = subprocess.run(
        [sys.executable, "-m", "mln_tf.cli", "infer", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    for flag in ("--model", "--out", "--flip", "--scales", "--threads", "--no-overlay"):
        assert flag in proc.stdout


def test_infer_with_the_shipped_pretrained_network_finds_people(tmp_path):
    out = tmp_path / "out"
    image = VAL / "000000196141.jpg"
    assert (
        main(["infer", "--model", "pretrained:tfpose_mobilenet_thin", str(image), "--out", str(out), "--no-overlay"])
        == 0
    )
    people = json.loads((out / "000000196141_keypoints.json").read_text())["people"]
    assert len(people) >= 2  # the batter and the catcher at least


def test_summary_counts_mobilenet_thin_and_width_is_checked(capsys):
    assert main(["summary", "--arch", "mobilenet_thin", "--runs", "0"]) == 0
    out = capsys.readouterr().out
    assert "1,924,122 [1,924,122]" in out and "1,930,872" in out and "4.97e9" in out
    with pytest.raises(SystemExit) as usage:
        main(["infer", "--model", "m.weights.h5", "--width", "huge", str(VAL), "--out", "x"])
    assert usage.value.code == 2


@pytest.mark.slow
def test_accurate_is_the_documented_multiscale_setting(capsys):
    from mln_tf.cli import evaluate
    from mln_tf.cli.flags import ACCURATE_SCALES

    args = evaluate.build_parser().parse_args(
        ["--model", "x.keras", "--annotations", "a.json", "--images", "i", "--accurate"]
    )
    assert args.scales == ACCURATE_SCALES == (1.0, 1.25)
    assert (
        main(
            [
                "eval",
                "--model",
                "pretrained:tfpose_mobilenet_thin",
                "--accurate",
                "--annotations",
                str(VAL / "person_keypoints.json"),
                "--images",
                str(VAL),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out.split("L/R-conf")[-1].split()
    assert float(table[0]) >= 0.66  # AP; 0.684 measured (0.648 single scale)


def _clip(path, frames=4):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (96, 64))
    for i in range(frames):
        writer.write(np.full((64, 96, 3), 40 * i, np.uint8))
    writer.release()
    return path


def test_camera_input_writes_per_frame_json_without_a_display(tmp_path, tiny_model, capsys, monkeypatch):
    # A stream URL or device path goes through the same OpenCV capture as a camera index.
    monkeypatch.delenv("DISPLAY", raising=False)
    clip = _clip(tmp_path / "cam.mp4")
    out = tmp_path / "out"
    code = main(
        [
            "infer",
            "--model",
            str(tiny_model),
            "--input-height",
            "64",
            "--camera",
            str(clip),
            "--limit",
            "3",
            "--out",
            str(out),
            "--no-pipeline",  # every frame: a file read as a camera comes faster than the network
        ]
    )
    assert code == 0
    assert len(list(out.rglob("*_keypoints.json"))) == 3  # --limit stops the stream
    assert len(list(out.glob("*_pose.mp4"))) == 1
    text = capsys.readouterr().out
    assert "camera" in text and "first call" in text and "0 people in 3 frame(s)" in text
    # pipelined (the default), frames the network cannot keep up with are dropped and counted, never queued
    piped = tmp_path / "piped"
    argv = ["infer", "--model", str(tiny_model), "--input-height", "64", "--camera", str(clip), "--limit", "3"]
    assert main([*argv, "--out", str(piped)]) == 0
    written = len(list(piped.rglob("*_keypoints.json")))
    text = capsys.readouterr().out
    dropped = int(text.split(" camera frame(s) dropped")[0].split()[-1]) if "dropped" in text else 0
    assert written >= 1 and written + dropped == 3, text


def test_show_without_a_display_is_a_usage_error(tmp_path, tiny_model, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(["infer", "--model", str(tiny_model), str(VAL), "--show", "--out", str(tmp_path / "o")])
    assert code == 2 and "no display" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_nothing_written_is_said_and_fails(tmp_path, tiny_model, capsys):
    (tmp_path / "fake.jpg").write_bytes(b"not an image")
    code = main(["infer", "--model", str(tiny_model), str(tmp_path / "fake.jpg"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "nothing written" in err and "fake.jpg" in err


def test_stream_library_frames_in_poses_out(tiny_model, tmp_path):
    from mln_tf.runners import load_runner
    from mln_tf.stream import PoseStream, frames_from

    clip = _clip(tmp_path / "c.mp4", frames=2)
    stream = PoseStream(Estimator(load_runner(tiny_model), EstimatorConfig(input_height=64)))
    got = [(f.kind, f.index, len(p)) for f, p in stream.run(frames_from([clip, VAL / "000000000785.jpg"]))]
    assert got == [("video", 0, 0), ("video", 1, 0), ("image", 0, 0)]
    assert stream.first_ms is not None and len(stream.frame_ms) == 2  # the first call is kept apart


def test_tflite_inference_never_imports_tensorflow(tmp_path, tiny_model):
    from mln_tf.export.tflite import export_tflite
    from mln_tf.runners import load_keras_model

    tflite = export_tflite(load_keras_model(tiny_model), tmp_path / "tiny.tflite", "fp32", (64, 64)).path
    code = (
        "import sys\nfrom mln_tf.cli.main import main\n"
        f"rc = main(['infer', '--model', {str(tflite)!r}, {str(VAL)!r}, '--out', {str(tmp_path / 'o')!r}])\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "o").glob("*_keypoints.json"))) == 4


def test_keras_model_records_its_architecture_and_width(tmp_path):
    from mln_tf.runners import load_keras_model, model_identity

    path = tmp_path / "m.keras"
    m.build("mobilenet_thin", "tiny").save(path)
    assert model_identity(load_keras_model(path)) == ("mobilenet_thin", "tiny")
    assert model_identity(load_keras_model("pretrained:tfpose_mobilenet_thin"), "pretrained:tfpose_mobilenet_thin") == (
        "mobilenet_thin",
        "paper",
    )


def test_eval_limit_and_quiet(tiny_model, capsys):
    code = main(
        [
            "eval",
            "--model",
            str(tiny_model),
            "--input-height",
            "64",
            "--annotations",
            str(VAL / "person_keypoints.json"),
            "--images",
            str(VAL),
            "--limit",
            "2",
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0 and "COCO keypoints (2 images)" in captured.out
    assert "0 people detected" in captured.err and "evaluating" not in captured.err  # no progress bar


def test_ctrl_c_in_a_folder_run_exits_130_and_says_what_was_done(tmp_path, tiny_model, capsys, monkeypatch):
    real = Estimator.maps
    calls = []

    def interrupted_at_the_second(self, rgb):  # the network of the pipelined loop's second frame
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, rgb)

    monkeypatch.setattr(Estimator, "maps", interrupted_at_the_second)
    out = tmp_path / "out"
    code = main(["infer", "--model", str(tiny_model), "--input-height", "64", str(VAL), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 130, err
    assert "stopped by Ctrl-C: 1 frames done, 3 left" in err
    assert (out / "000000000785_keypoints.json").is_file()  # what was done is kept


def test_a_truncated_video_says_how_many_frames_it_read(tmp_path, tiny_model, capsys):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (96, 64))
    rng = np.random.default_rng(0)
    for _ in range(12):
        writer.write(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
    writer.release()
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])  # the header still says 12 frames
    code = main(["infer", "--model", str(tiny_model), "--input-height", "64", str(video), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "of its 12 frames (truncated or damaged)" in err, err


def test_existing_results_need_overwrite(tmp_path, tiny_model, capsys):
    image = sorted(VAL.glob("*.jpg"))[0]
    out = tmp_path / "out"
    argv = ["infer", "--model", str(tiny_model), "--input-height", "64", str(image), "--out", str(out)]
    assert main(argv) == 0
    assert main(argv) == 2 and "pass --overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0


class _MovingOracle:
    """A 'network' that renders the val image's labelled people shifted by ``step`` pixels per call."""

    input_hw = None

    def __init__(self, image, people, step):
        from mln_tf.inference import preprocess

        self.people, self.step, self.calls = people, step, 0
        self.transform = preprocess(image, 184)[1]

    def __call__(self, batch):
        from mln_tf.targets import render_targets

        kp = self.people.copy()
        kp[..., 0] += self.step * self.calls
        kp[..., :2] = self.transform.image_to_input(kp[..., :2])
        self.calls += 1
        t = render_targets(kp, self.transform.input_hw)
        return t.heatmaps[None], t.pafs[None]


def test_videos_are_tracked_person_ids_in_json_and_untracked_with_no_track(tmp_path):
    """People of a real COCO image moving across a clip keep one ID each (JSON person_id); --no-track gives -1."""
    from helpers import coco, gt_people
    from mln_tf.cli.infer import build_parser, tracker_config
    from mln_tf.inference import read_image
    from mln_tf.stream import PoseStream, ResultWriter, frames_from

    image = read_image(VAL / "000000000785.jpg")[:, :400]
    people = gt_people(coco(), 785)
    clip = tmp_path / "walk.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (image.shape[1], image.shape[0]))
    for i in range(6):
        writer.write(np.ascontiguousarray(np.roll(image, 6 * i, axis=1)[:, :, ::-1]))
    writer.release()
    flags = ["x.jpg", "--model", "m.tflite", "--out", "o"]
    args = build_parser().parse_args(flags)
    stream = PoseStream(Estimator(_MovingOracle(image, people, 6), EstimatorConfig(184)), tracking=tracker_config(args))
    out = ResultWriter(tmp_path / "out")
    times, ids = [], []
    for frame, poses in stream.run(frames_from([clip])):
        out.write(frame, poses)
        times.append(frame.time_ms)
        ids.append(poses.ids.tolist())
    out.close()
    assert times == [0.0, 100.0, 200.0, 300.0, 400.0, 500.0]  # frame index / fps, never the wall clock
    assert ids == [[0]] * 6 and stream.tracks == {str(clip): 1}
    written = json.loads((tmp_path / "out" / "walk" / "walk_000005_keypoints.json").read_text())
    assert [p["person_id"] for p in written["people"]] == [[0]]
    assert tracker_config(build_parser().parse_args([*flags, "--no-track"])) is None
    assert tracker_config(build_parser().parse_args([*flags, "--no-smooth"])).smoothing is None
    stream = PoseStream(Estimator(_MovingOracle(image, people, 6), EstimatorConfig(184)), tracking=None)
    assert [p.ids for _, p in stream.run(frames_from([clip]))] == [None] * 6


def test_infer_pipelined_and_serial_write_the_same_bytes(tmp_path):
    """The default pipelined loop and --no-pipeline: identical per-frame JSON, IDs included."""
    from mln_tf.cli.demo_steps import moving_clip, write_video
    from mln_tf.inference import read_image

    clip = write_video(
        tmp_path / "clip.mp4", moving_clip(read_image(VAL / "000000197388.jpg"), frames=6, hw=(240, 320)), 12.0
    )
    outs = {}
    for name, extra in (("piped", []), ("serial", ["--no-pipeline"])):
        outs[name] = tmp_path / name
        argv = ["infer", "--model", "pretrained:tfpose_mobilenet_thin", "--input-height", "128", str(clip)]
        assert main([*argv, "--out", str(outs[name]), "--no-overlay", "--quiet", *extra]) == 0
    files = sorted(p.relative_to(outs["serial"]) for p in outs["serial"].rglob("*_keypoints.json"))
    assert len(files) == 6
    for rel in files:
        assert (outs["piped"] / rel).read_bytes() == (outs["serial"] / rel).read_bytes(), rel
    people = [json.loads((outs["piped"] / rel).read_text())["people"] for rel in files]
    assert sum(len(p) for p in people) >= 10 and all(q["person_id"][0] >= 0 for p in people for q in p)
