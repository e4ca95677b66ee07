"""The steps of ``mln-pose demo``, each a function of the shipped network and an output folder.

Kept apart from the command (``mln_tf.cli.demo``: flags, order, timing, summary) so that each
step is one job: people on the bundled photos, a tracked video, the phone model, the
SavedModel, a fine-tune that keeps finding people, and the from-scratch MLN run. Each returns
``Output`` rows: what was made, where, and the figure that says it worked.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mln_tf.bundled import TRAIN_DIR as TRAIN
from mln_tf.bundled import VAL_DIR as VAL

PRETRAINED = "tfpose_mobilenet_thin"
PRETRAINED_HEIGHT = 368  # the shared default --input-height
VIDEO_PHOTO = VAL / "000000197388.jpg"  # five people
VIDEO_FRAMES, VIDEO_FPS, VIDEO_HW = 36, 12.0, (360, 480)
VIDEO_HEIGHT = 256  # the tracked video runs at a small input height: a CPU demo in minutes
ANNOTATIONS = "person_keypoints.json"


@dataclass(frozen=True)
class Output:
    """One line of the demo's summary: what, where, and what it showed."""

    what: str
    path: str
    result: str = ""


def poses_on_photos(estimator, out: Path, quiet: bool) -> tuple[list[Output], dict[str, dict]]:
    """People on the 4 val and 36 train photos: one network pass each for COCO AP and the overlays."""
    from mln_tf.draw import draw_poses, write_image
    from mln_tf.evaluate import evaluate_model, format_table

    rows, stats = [], {}
    for name, folder in (("val", VAL), ("train", TRAIN)):
        overlays = out / "overlays" / name

        def draw(path, rgb, poses, overlays=overlays):
            write_image(overlays / f"{path.stem}.jpg", draw_poses(rgb, poses))

        stats[name] = evaluate_model(
            estimator, folder / ANNOTATIONS, folder, progress=not quiet, verbose=False, each=draw
        )
        done, bad, results = stats[name]["images"], stats[name]["failures"], stats[name]["results"]
        print(format_table(stats[name], done) + f"   ({folder.name}, height {estimator.config.input_height})")
        rows.append(
            Output(
                f"poses on the {name} photos",
                str(overlays),
                f"{len(results)} people on {done} photos, COCO AP {stats[name]['AP']:.3f} / AP50 "
                f"{stats[name]['AP50']:.3f}" + (f"; {len(bad)} unreadable" if bad else ""),
            )
        )
    return rows, stats


def moving_clip(rgb: np.ndarray, frames: int = VIDEO_FRAMES, hw: tuple[int, int] = VIDEO_HW) -> list[np.ndarray]:
    """A camera panning and zooming slowly across a photo: ``frames`` RGB frames of size ``hw``."""
    import cv2

    h, w = rgb.shape[:2]
    out = []
    for k in range(frames):
        t = k / max(1, frames - 1)
        zoom = 1.0 + 0.25 * np.sin(np.pi * t)  # in and out again
        scale = max(hw[0] / h, hw[1] / w) * zoom
        cx = w / 2 + 0.12 * w * np.cos(2 * np.pi * t)  # a slow sweep around the centre
        cy = h / 2 + 0.05 * h * np.sin(2 * np.pi * t)
        m = np.array([[scale, 0, hw[1] / 2 - scale * cx], [0, scale, hw[0] / 2 - scale * cy]], np.float64)
        out.append(cv2.warpAffine(rgb, m, (hw[1], hw[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """RGB frames as an .mp4 (written beside, then renamed)."""
    import cv2

    from mln_tf.files import write_file_atomic

    def write(tmp: Path) -> None:
        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
        writer.release()

    return write_file_atomic(path, write)


def tracked_video(estimator, out: Path, quiet: bool) -> list[Output]:
    """A clip made from a bundled photo, through the stream with tracking: IDs and smoothed people per frame."""
    from mln_tf.inference import read_image
    from mln_tf.stream import PoseStream, ResultWriter, frames_from
    from mln_tf.tracking import TrackerConfig

    clip = write_video(out / "clip.mp4", moving_clip(read_image(VIDEO_PHOTO)), VIDEO_FPS)
    stream = PoseStream(estimator.replace(input_height=VIDEO_HEIGHT), tracking=TrackerConfig())
    writer = ResultWriter(out / "tracked")
    people, ids = [], set()
    try:
        for frame, poses in stream.run(frames_from([clip]), pipelined=True):
            writer.write(frame, poses)
            people.append(len(poses))
            ids.update(int(i) for i in poses.ids if i >= 0)
    finally:
        writer.close()
    print(
        f"video: {len(people)} frames of {clip.name} (a camera moving over {VIDEO_PHOTO.name}), "
        f"{np.mean(people):.1f} people per frame, {len(ids)} track IDs, {stream.median_ms():.0f} ms/frame"
    )
    return [
        Output("a clip made from a bundled photo", str(clip), f"{len(people)} frames at {VIDEO_FPS:g} fps"),
        Output(
            "the clip tracked (IDs, smoothing)",
            str(out / "tracked" / "clip_pose.mp4"),
            f"{np.mean(people):.1f} people per frame kept {len(ids)} IDs; per-frame JSON in {out / 'tracked' / 'clip'}",
        ),
    ]


def phone_model(model, out: Path, quiet: bool) -> list[Output]:
    """The Android app's model (fp16 at the camera's operating point, as ``make android-model``), checked
    against the Keras network cut at the same stage on the val photos."""
    from mln_tf.estimator import Estimator
    from mln_tf.export.compare import Thresholds, compare
    from mln_tf.export.models import at_stage
    from mln_tf.export.tflite import export_tflite
    from mln_tf.files import collect_files
    from mln_tf.operating_points import camera_default
    from mln_tf.runners import keras_runner

    point = camera_default()
    cut = at_stage(model, point.stage)
    tflite = export_tflite(cut, out / "mln_fp16.tflite", "fp16", point.input_hw, progress=not quiet)
    report = compare(
        Estimator.load(tflite.path),
        keras_runner(cut),
        collect_files(VAL),
        VAL / ANNOTATIONS,
        progress=not quiet,
        tflite_name=tflite.path.name,
        reference_name="Keras",
    )
    failed = report.verdict(Thresholds.for_precision(report.precision))
    verdict = "PASS" if not failed else "FAIL: " + "; ".join(failed)
    print(f"phone model: {report.summary()}; check: {verdict}")
    h, w = point.input_hw
    stage = f", stage {point.stage}" if point.stage else ""
    return [
        Output(
            "phone model (fp16 .tflite)",
            str(tflite.path),
            f"{tflite.size_bytes / 1e6:.1f} MB, {h}x{w}{stage} (--speed {point.name}); against Keras on the val "
            "photos: "
            f"people matched {report.matched}, agreement {report.agreement:.2f}, mean OKS {report.mean_oks:.3f}: "
            f"{verdict} (copy it to android_demo/app/src/main/assets/mln.tflite, or `make android-model`)",
        )
    ]


def saved_model(model, out: Path) -> list[Output]:
    """The serving SavedModel (uint8 RGB in, maps out)."""
    from mln_tf.export.saved_model import export_saved_model

    path = export_saved_model(model, out / "saved_model", overwrite=True)
    return [Output("SavedModel (TF Serving)", str(path), "uint8 RGB in, heatmaps and PAFs out (docs/export.md)")]


def fine_tune(out: Path, steps: int, ap_before: float, seed: int, quiet: bool) -> list[Output]:
    """Keras fit from the shipped weights on the train photos, stopped halfway and resumed; AP on the val photos."""
    from mln_tf.train.config import TrainConfig
    from mln_tf.train.loop import train

    half = max(1, steps // 2)

    def config(total: int, resume: bool) -> TrainConfig:
        return _on_the_train_photos(
            out,
            seed,
            val=VAL,  # evaluated on photos it never trains on
            arch="mobilenet_thin",
            width="paper",
            init_pretrained=PRETRAINED,
            input_hw=(184, 184),
            batch_size=4,
            steps=total,
            steps_per_epoch=half,
            checkpoint_every=half,
            eval_every=steps,
            eval_input_height=PRETRAINED_HEIGHT,
            # small steps from a trained network: it must keep finding people (AP on the val photos
            # 0.648 -> 0.607 after 60 steps at 2e-6, -> 0.573 at 5e-6; measured with the paper's augmentation)
            learning_rate=2e-6,
            lr_schedule="constant",
            resume=resume,
        )

    first = train(config(half, resume=False))
    print(f"fine-tune: {first.step} steps, checkpoint in {out / 'checkpoints'}; resuming to {steps}")
    result = train(config(steps, resume=True))
    if not result.completed:
        raise RuntimeError(f"the fine-tune stopped by {result.stopped_by}")
    ap_after = result.last_eval["AP"] if result.last_eval else float("nan")
    print(
        f"fine-tune: steps {first.first_step} -> {first.step}, resumed {result.first_step} -> {result.step}; "
        f"val AP {ap_before:.3f} before, {ap_after:.3f} after"
    )
    return [
        Output(
            "fine-tuned network (Keras fit)",
            result.artifacts["model"],
            f"{steps} steps of 4 from the shipped weights (paper's augmentation; resumed from the step-{half} "
            f"checkpoint); COCO AP on the 4 val photos {ap_before:.3f} before, {ap_after:.3f} after",
        ),
        Output("its checkpoints, evaluations, TensorBoard", str(out), f"tensorboard --logdir {out / 'logs'}"),
    ]


def _on_the_train_photos(out: Path, seed: int, val: Path, **fields):
    """A TrainConfig on the 36 bundled train photos, evaluated on ``val``'s, with Adam and no weight decay."""
    from mln_tf.train.config import TrainConfig

    return TrainConfig(
        train_json=str(TRAIN / ANNOTATIONS),
        train_images=str(TRAIN),
        val_json=str(val / ANNOTATIONS),
        val_images=str(val),
        out_dir=str(out),
        optimizer="adam",
        weight_decay=0.0,
        seed=seed,
        verbose=0,
        **fields,
    )


def from_scratch(out: Path, steps: int, input_hw: tuple[int, int], input_height: int, seed: int) -> list[Output]:
    """A reduced-width MLN trained from scratch on 36 photos: the pipeline end to end, not a pose model."""
    from mln_tf.estimator import Estimator, EstimatorConfig
    from mln_tf.evaluate import evaluate_model, format_table
    from mln_tf.runners import load_runner
    from mln_tf.train.loop import train

    config = _on_the_train_photos(
        out,
        seed,
        val=TRAIN,
        width="small",
        input_hw=input_hw,
        batch_size=8,
        steps=steps,
        steps_per_epoch=max(1, steps // 10),
        checkpoint_every=max(1, steps // 3),
        eval_every=steps,
        eval_input_height=input_height,
        # Adam at 1e-3 (not the paper's SGD at 6e-5) so that a few minutes from scratch move.
        learning_rate=1e-3,
        lr_schedule="cosine",
        mixed_precision=False,
    )
    result = train(config)
    if not result.completed:
        raise RuntimeError(f"the from-scratch run stopped by {result.stopped_by}")
    estimator = Estimator(load_runner(result.artifacts["model"]), EstimatorConfig(input_height=input_height))
    held_out = evaluate_model(estimator, VAL / ANNOTATIONS, VAL, progress=False, verbose=False)
    print(format_table(held_out, held_out["images"]) + "   (from scratch, held-out val)")
    return [
        Output(
            "MLN trained from scratch (small width)",
            result.artifacts["model"],
            f"{steps} steps on 36 photos: AP {held_out['AP']:.3f} on the val photos. It proves the pipeline "
            "(data, augmentation, targets, losses, fit, checkpoints, COCOeval), not MLN's accuracy, which "
            "needs COCO train2017 and GPUs (docs/training.md)",
        )
    ]


def write_summary(path: Path, outputs: list[Output], seconds: dict[str, float]) -> None:
    """The summary as JSON beside the outputs (atomically)."""
    from mln_tf.files import write_json_atomic

    write_json_atomic(
        path,
        {
            "outputs": [o.__dict__ for o in outputs],
            "seconds": {k: round(v, 1) for k, v in seconds.items()},
        },
    )


def remove_previous(out: Path, parts: list[Path]) -> None:
    """A previous demo's parts (each a file or a folder), before this one writes them."""
    for part in parts:
        if part.is_dir():
            shutil.rmtree(part)
        elif part.exists():
            part.unlink()
