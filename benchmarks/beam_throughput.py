"""Batch inference throughput: ``mln-pose infer`` in one process against the Beam pipeline (DirectRunner).

    .venv/bin/python benchmarks/beam_throughput.py                 # 40 bundled photos x 3, fp32 .tflite 368x432
    .venv/bin/python benchmarks/beam_throughput.py --copies 5 --workers 2 --threads 1

Both run the same .tflite (exported here from the shipped network) on the same images and
write the same per-image JSON. Printed: images/s of each, their ratio (one run, this machine),
what loading the model costs a fresh worker process (imports and ``load_runner``; the Keras
model beside it), and how
many images a worker must process for the load to stay under 10% of its time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mln_tf.bundled import TRAIN_DIR, VAL_DIR  # noqa: E402
from mln_tf.tables import format_table  # noqa: E402
from mln_tf.timing import cpu_description  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--copies", type=int, default=3, help="each bundled photo this many times (default 3)")
    p.add_argument("--workers", type=int, default=2, help="Beam DirectRunner worker processes (default 2)")
    p.add_argument("--threads", type=int, default=1, help="LiteRT threads per process (default 1)")
    args = p.parse_args(argv)

    from mln_tf.beam import BeamJob, run_job
    from mln_tf.cli.main import main as mln_pose

    work = Path(tempfile.mkdtemp(prefix="beam-bench-"))
    try:
        model = work / "pose.tflite"
        assert mln_pose(["export", "tflite", "pretrained:tfpose_mobilenet_thin", str(model), "--quiet"]) == 0
        images = work / "images"
        images.mkdir()
        for k in range(args.copies):
            for folder in (VAL_DIR, TRAIN_DIR):
                for jpg in folder.glob("*.jpg"):
                    shutil.copy(jpg, images / f"{jpg.stem}{k:02d}.jpg")
        n = len(list(images.glob("*.jpg")))

        start = time.perf_counter()
        flags = ["--model", str(model), "--threads", str(args.threads), "--no-overlay", "--quiet"]
        assert mln_pose(["infer", str(images), "--out", str(work / "infer"), *flags]) == 0
        plain = time.perf_counter() - start

        summary = run_job(
            BeamJob(model=str(model), inputs=(str(images),), out=str(work / "beam"), workers=args.workers,
                    threads=args.threads)
        )  # fmt: skip
        beam_s = summary.seconds
        assert summary.images == n and not summary.failed

        loads = {}  # in a fresh process, as a worker starts: imports (TensorFlow for Keras) included
        for name in (str(model), "pretrained:tfpose_mobilenet_thin"):
            code = (
                "import time; t = time.perf_counter(); from mln_tf.runners import load_runner; "
                f"load_runner({name!r}, threads={args.threads}); print(time.perf_counter() - t)"
            )
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            loads[name] = float(done.stdout.strip().splitlines()[-1])
        per_image = plain / n  # one process: decode + network + decoder + JSON
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"CPU: {cpu_description()}; {n} images, LiteRT {args.threads} thread(s) per process")
    rows = [
        ("mln-pose infer (1 process)", n, plain, n / plain, 1.0),
        (f"Beam DirectRunner ({args.workers} workers)", n, beam_s, n / beam_s, plain / beam_s),
    ]
    print(format_table(["run", "images", "s", "images/s", "vs infer"], rows, align="lrrrr"))
    for name, seconds in loads.items():
        bundle = 10 * seconds / per_image
        print(
            f"model load per worker, {Path(name).name}: {seconds:.2f} s = {seconds / per_image:.1f} images' work; "
            f"a worker needs >= {bundle:.0f} images for the load to stay under 10% of its time"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
