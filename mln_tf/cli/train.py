"""``mln-pose train``: train MLN or the OpenPose baseline on COCO keypoints with Keras ``fit``.

Paper 3.2 defaults: SGD, learning rate 6e-5, momentum 0.9, weight decay 5e-4, batch 28,
the masked sum-of-squares losses (eq. 3-4) on every output, rotation/scale/flip
augmentation (``mln_tf.data``). Weight decay is Caffe's: ``wd * w`` is added to the
gradient of every conv kernel (biases are not decayed) and goes through the momentum, as
in the paper's Caffe training; it is an L2 penalty ``wd/2 * |w|^2`` on the kernels, so it
is included in the logged ``loss``.

Runs are measured in steps (one step = one global batch). The data stream is a pure
function of (seed, step), so ``--resume`` continues from the last checkpoint with exactly
the batches an uninterrupted run would have seen; checkpoints are written atomically every
``--checkpoint-every`` steps and when the process gets SIGTERM (or Ctrl-C), so a killed
run loses at most the steps since its last checkpoint.

Artifacts in ``--out``: ``checkpoints/ckpt-<step>.keras`` (model + optimizer state) and
``checkpoints/checkpoint.json`` (the latest), ``model.keras`` (final weights, float32, no
optimizer), ``best.keras`` (best validation AP), ``evals.json``, ``train_config.json``,
``summary.json`` and TensorBoard logs in ``logs/``.

This module is the command line; the run is built from ``mln_tf.train.config`` (TrainConfig),
``mln_tf.train.setup`` (model, optimizer, strategy), ``mln_tf.train.callbacks`` (checkpoints,
evaluation, TensorBoard), ``mln_tf.train.loop`` (``train``) and ``mln_tf.train.report`` (summary).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import signal
from pathlib import Path

from mln_tf.cli import flags, tool
from mln_tf.errors import EXIT_FAILED, EXIT_OK, UsageError
from mln_tf.train.config import EXIT_SIGNALLED, TrainConfig

HELP = "train a network on COCO keypoints with Keras fit"
PROG = "mln-pose train"

DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The flags of a run; every default is :class:`TrainConfig`'s (or :class:`AugmentConfig`'s)."""
    from mln_tf.data import AugmentConfig

    d0 = DEFAULTS
    p = tool.Parser(
        prog=prog,
        description="Train MLN (or another registered network: the OpenPose baseline, tf-pose's "
        "mobilenet_thin) on COCO person keypoints with Keras fit. "
        "Defaults are the paper's (section 3.2).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = p.add_argument_group("data")
    d.add_argument(
        "--coco",
        metavar="DIR",
        help="COCO 2017 root (annotations/person_keypoints_{train,val}2017.json, train2017/, "
        "val2017/); sets the four paths below unless they are given",
    )
    d.add_argument("--train-json", help="COCO-format person keypoint annotations to train on")
    d.add_argument("--train-images", help="folder holding the training images")
    d.add_argument("--val-json", help="annotations for the periodic COCO evaluation (optional)")
    d.add_argument("--val-images", help="folder holding the validation images")
    flags.add_input(d, default=d0["input_hw"], what="training crop (the paper's 368x368)")
    d.add_argument(
        "--workers",
        type=flags.positive_int,
        default=d0["workers"],
        help="parallel data-loading calls (default: tf.data autotune)",
    )
    d.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=d0["deterministic"],
        help="assemble batches in order (reproducible); --no-deterministic can be faster",
    )
    d.add_argument("--skip-empty", action="store_true", help="drop images without any person with labelled keypoints")
    d.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rotation/scale/flip augmentation (paper 3.2)",
    )
    a = AugmentConfig()
    d.add_argument("--max-rotation", type=float, default=a.max_rotation, help="degrees, uniform in +-this")
    d.add_argument("--scale-min", type=float, default=a.scale_range[0], help="smallest scale multiplier")
    d.add_argument("--scale-max", type=float, default=a.scale_range[1], help="largest scale multiplier")
    d.add_argument(
        "--flip-probability", type=float, default=a.flip_probability, help="probability of a horizontal flip"
    )

    m = p.add_argument_group("model")
    flags.add_arch_arguments(m, "to train", default_arch=d0["arch"], default_width=d0["width"])
    m.add_argument(
        "--init-pretrained",
        metavar="NAME|PATH",
        help="start from a trained network of the same --arch/--width: a shipped one "
        "(tfpose_mobilenet_thin, with --arch mobilenet_thin) or a .keras file (fine-tuning)",
    )
    m.add_argument(
        "--init-vgg19",
        metavar="PATH",
        help="local ImageNet VGG-19 weights (.h5/.keras/.npz) for the trunk (mln_tf.pretrained)",
    )

    o = p.add_argument_group("optimisation")
    o.add_argument(
        "--batch-size", type=flags.positive_int, default=d0["batch_size"], help="global batch (all replicas)"
    )
    o.add_argument("--steps", type=flags.positive_int, default=d0["steps"], help="total training steps")
    o.add_argument(
        "--steps-per-epoch",
        type=flags.positive_int,
        default=d0["steps_per_epoch"],
        help="steps per Keras epoch (progress bar and epoch logs)",
    )
    o.add_argument("--optimizer", choices=("sgd", "adam"), default=d0["optimizer"], help="paper: SGD with momentum")
    o.add_argument("--lr", type=float, default=d0["learning_rate"], help="initial learning rate")
    o.add_argument("--momentum", type=float, default=d0["momentum"], help="SGD momentum")
    o.add_argument(
        "--weight-decay",
        type=float,
        default=d0["weight_decay"],
        help="Caffe-style weight decay on conv kernels (0 disables)",
    )
    o.add_argument(
        "--lr-schedule",
        choices=("constant", "step", "cosine"),
        default=d0["lr_schedule"],
        help="step: x --lr-gamma every --lr-step steps (CMU's solver); cosine: to 0 at --steps",
    )
    o.add_argument(
        "--lr-step", type=flags.positive_int, default=d0["lr_step"], help="steps between learning-rate drops"
    )
    o.add_argument("--lr-gamma", type=float, default=d0["lr_gamma"], help="learning-rate drop factor")
    o.add_argument("--seed", type=int, default=d0["seed"], help="seed of the data order, augmentation and init")
    o.add_argument(
        "--mixed-precision",
        action=argparse.BooleanOptionalAction,
        default=d0["mixed_precision"],
        help="mixed_float16 compute (default: on when a GPU is present)",
    )
    o.add_argument(
        "--strategy",
        choices=("auto", "default", "mirrored", "multiworker"),
        default=d0["strategy"],
        help="tf.distribute: auto = MirroredStrategy on several GPUs; multiworker = "
        "MultiWorkerMirroredStrategy configured by TF_CONFIG (docs/training.md)",
    )
    o.add_argument(
        "--cluster-timeout",
        type=float,
        default=d0["cluster_timeout"],
        metavar="SECONDS",
        help="multiworker: how long to wait for every worker listed in TF_CONFIG to start before "
        "failing with the names of those missing (default %(default)s)",
    )

    r = p.add_argument_group("checkpoints, evaluation, output")
    flags.add_out(r, default=d0["out_dir"], what="run folder (checkpoints, logs, models)")
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint, with the same data order",
    )
    flags.add_overwrite(r, "a previous run in --out (deleted before training starts)")
    r.add_argument(
        "--checkpoint-every", type=flags.positive_int, default=d0["checkpoint_every"], help="steps between checkpoints"
    )
    r.add_argument(
        "--keep-checkpoints", type=flags.positive_int, default=d0["keep_checkpoints"], help="checkpoints kept on disk"
    )
    r.add_argument(
        "--eval-every", type=flags.positive_int, default=d0["eval_every"], help="steps between COCO evaluations"
    )
    flags.add_input_height(r, default=d0["eval_input_height"], what="evaluation")
    r.add_argument(
        "--eval-limit",
        type=flags.positive_int,
        default=d0["eval_images"],
        metavar="N",
        help="evaluate on the first N validation images only (default: all)",
    )
    r.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard logs")
    r.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=d0["verbose"],
        help="Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch",
    )
    r.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or notes (same as --verbose 0); warnings, errors and the summary only",
    )
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Flags -> TrainConfig (fills the COCO 2017 layout from --coco)."""
    from mln_tf.data import AugmentConfig

    paths = {
        "train_json": args.train_json,
        "train_images": args.train_images,
        "val_json": args.val_json,
        "val_images": args.val_images,
    }
    if args.coco:
        root = Path(args.coco)
        layout = {
            "train_json": root / "annotations" / "person_keypoints_train2017.json",
            "train_images": root / "train2017",
            "val_json": root / "annotations" / "person_keypoints_val2017.json",
            "val_images": root / "val2017",
        }
        paths = {k: v if v is not None else str(layout[k]) for k, v in paths.items()}
    if not paths["train_json"] or not paths["train_images"]:
        raise UsageError("give --coco DIR or both --train-json and --train-images")
    augment = (
        AugmentConfig(
            max_rotation=args.max_rotation,
            scale_range=(args.scale_min, args.scale_max),
            flip_probability=args.flip_probability,
        )
        if args.augment
        else None
    )
    return TrainConfig(
        **paths,
        out_dir=args.out,
        arch=args.arch,
        width=args.width,
        input_hw=args.input,
        batch_size=args.batch_size,
        steps=args.steps,
        steps_per_epoch=args.steps_per_epoch,
        optimizer=args.optimizer,
        learning_rate=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        lr_schedule=args.lr_schedule,
        lr_step=args.lr_step,
        lr_gamma=args.lr_gamma,
        seed=args.seed,
        workers=args.workers,
        deterministic=args.deterministic,
        mixed_precision=args.mixed_precision,
        strategy=args.strategy,
        cluster_timeout=args.cluster_timeout,
        init_vgg19=args.init_vgg19,
        init_pretrained=args.init_pretrained,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        eval_every=args.eval_every,
        eval_input_height=args.input_height,
        eval_images=args.eval_limit,
        resume=args.resume,
        skip_empty=args.skip_empty,
        augment=augment,
        tensorboard=not args.no_tensorboard,
        verbose=0 if args.quiet else args.verbose,
    )


def check_paths(config: TrainConfig) -> None:
    """A one-line UsageError for a missing data path, before TensorFlow is loaded."""
    for key in ("train_json", "train_images", "val_json", "val_images"):
        value = getattr(config, key)
        if value is not None and not Path(value).exists():
            raise UsageError(f"--{key.replace('_', '-')}: not found: {value}")


def _error_text(exc: BaseException) -> str:
    """The useful line of an error, also when it surfaced through tf.data (numpy_function)."""
    text = str(exc)
    for marker in ("ValueError: ", "FileNotFoundError: ", "OSError: "):
        if marker in text:
            return text.split(marker, 1)[1].splitlines()[0]
    return text.splitlines()[0] if text else type(exc).__name__


def _cluster_error(exc: BaseException, config: TrainConfig) -> str | None:
    """One line for a multi-worker run whose peer died or cannot be reached (else None)."""
    import tensorflow as tf

    lost = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError)
    if config.strategy != "multiworker" or not isinstance(exc, lost):
        return None
    text = str(exc)
    peer = re.search(r"/job:(\w+)/replica:\d+/task:(\d+)", text)
    who = f"{peer.group(1)} {peer.group(2)}" if peer else "another worker"
    detail = re.search(r"(Connection [\w ]+|Socket closed|failed to connect[^\n]*|UNAVAILABLE|DEADLINE_EXCEEDED)", text)
    return (
        f"{who} of the cluster stopped or cannot be reached ({detail.group(1) if detail else type(exc).__name__}): "
        f"training stopped on this worker too; restart every worker with --resume to continue from the "
        f"chief's last checkpoint in {Path(config.out_dir) / 'checkpoints'}"
    )


def run(args: argparse.Namespace) -> int:
    """Flags -> config, paths checked (and --overwrite applied), train, print the summary."""
    from mln_tf.train.loop import train
    from mln_tf.train.report import summary_table

    config = config_from_args(args)
    check_paths(config)
    _replace_previous_run(Path(config.out_dir), args.overwrite, args.resume)
    try:
        result = train(config)
    except ValueError as exc:
        raise UsageError(_error_text(exc)) from None
    except Exception as exc:  # noqa: BLE001 - TF wraps data errors; report them plainly
        import tensorflow as tf

        if isinstance(exc, tf.errors.OpError):
            tool.error(PROG, _cluster_error(exc, config) or _error_text(exc))
            return EXIT_FAILED
        raise
    print(summary_table(result, config))
    if result.stopped_by:
        print(f"stopped by {result.stopped_by} at step {result.step}; continue with the same command plus --resume")
        return EXIT_SIGNALLED.get(getattr(signal, result.stopped_by), 1)
    return EXIT_OK


def _replace_previous_run(out: Path, overwrite: bool, resume: bool) -> None:
    """--out checked before any work (a file there, a previous run without --resume/--overwrite, a folder
    that cannot be written); --overwrite deletes the previous run (only a training run's folder)."""
    import shutil

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    tool.check_writable(out)
    if not out.exists():
        return
    run_files = [out / "train_config.json", out / "checkpoints"]
    previous = any(f.exists() for f in run_files)
    if previous and not (overwrite or resume):
        raise UsageError(
            f"{out} holds a previous run: pass --resume to continue it or --overwrite to start again, "
            "or choose another --out"
        )
    if not overwrite or resume:
        return
    if not previous:
        if any(out.iterdir()):
            raise UsageError(f"--overwrite: {out} is not a training run's folder; choose another --out")
        return
    shutil.rmtree(out)


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
