"""Batch inference throughput: ``mln-pose infer`` in one process against the Beam pipeline on each engine.

    .venv/bin/python benchmarks/beam_throughput.py                 # 40 bundled photos x 3, fp32 .tflite 368x432
    .venv/bin/python benchmarks/beam_throughput.py --copies 5 --workers 2 --threads 1
    .venv/bin/python benchmarks/beam_throughput.py --engines direct,flink   # a subset

Every run uses the same .tflite (exported here from the shipped network) on the same images and
writes the same per-image JSON. Engines: the DirectRunner (``--workers`` processes), an
embedded Flink (``[local]``, parallelism 1) and a local Spark (``local[2]``), both through
Beam's job server (``mln_tf.beam_engines``: jars fetched by mvn once; skipped without java/mvn)
with the SDK harness in this process (LOOPBACK). Printed, one run each on this machine: seconds,
images/s and the ratio to plain infer; from the times the per-image files were written, the
start-up (start to the first file), the steady rate (first to last file) and the end (last file
to done: merge and shut-down); the model loads the runner reported (RunInference's metrics);
from how many images the engine beats plain infer (where its steady rate is higher) and from
how many its start-up and end are under 10% of the job; and what loading the model costs a
fresh worker process (imports and ``load_runner``; the Keras model beside it).
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

ENGINES = ("direct", "flink", "spark")


def _phases(out: Path, start: float, end: float) -> tuple[float, float, float]:
    """(start-up s, steady images/s, end s) of a run, from when its per-image files were written."""
    times = sorted(p.stat().st_mtime for p in out.glob("*_keypoints.json"))
    steady = (len(times) - 1) / max(times[-1] - times[0], 1e-9)
    return times[0] - start, steady, end - times[-1]


def _pays_from(fixed: float, rate: float, plain_fixed: float, plain_rate: float) -> str:
    """Images from which the engine's whole job is faster than plain infer's ('never' at a lower steady rate)."""
    gain = 1 / plain_rate - 1 / rate
    if gain <= 0:
        return "never"
    return f"{max(0.0, fixed - plain_fixed) / gain:.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--copies", type=int, default=3, help="each bundled photo this many times (default 3)")
    p.add_argument("--workers", type=int, default=2, help="Beam DirectRunner worker processes (default 2)")
    p.add_argument("--threads", type=int, default=1, help="LiteRT threads per process (default 1)")
    p.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of {', '.join(ENGINES)}")
    args = p.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    if unknown := set(engines) - set(ENGINES):
        p.error(f"--engines: unknown {', '.join(sorted(unknown))}")

    from mln_tf import beam_engines
    from mln_tf.beam import BeamJob, run_job
    from mln_tf.cli.main import main as mln_pose

    missing = beam_engines.missing_tools()
    if missing and {"flink", "spark"} & set(engines):
        print(f"SKIPPED flink, spark: {missing}", file=sys.stderr)
        engines = [e for e in engines if e == "direct"]
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

        flags = ["--model", str(model), "--threads", str(args.threads), "--no-overlay", "--quiet"]
        start = time.time()
        assert mln_pose(["infer", str(images), "--out", str(work / "infer"), *flags]) == 0
        plain = (time.time() - start, *_phases(work / "infer", start, time.time()))

        runs = {}  # label -> (seconds, start-up, steady rate, end, BeamSummary)
        for engine in engines:
            if engine == "direct":
                runner, options, label = "DirectRunner", {}, f"Beam DirectRunner ({args.workers} worker processes)"
            else:
                spec = beam_engines.ENGINES[engine]
                runner, options = spec.runner, beam_engines.local_options(engine, beam_engines.fetch(engine))
                where = "[local], parallelism 1" if engine == "flink" else options["spark_master_url"]
                label = f"Beam {runner}: {spec.name.title()} {spec.version} {where}, LOOPBACK"
            start = time.time()
            summary = run_job(
                BeamJob(model=str(model), inputs=(str(images),), out=str(work / engine), runner=runner,
                        workers=args.workers, threads=args.threads, options=options)
            )  # fmt: skip
            runs[label] = (time.time() - start, *_phases(work / engine, start, time.time()), summary)
            assert summary.images == n and not summary.failed, (engine, summary)

        loads = {}  # in a fresh process, as a worker starts: imports (TensorFlow for Keras) included
        for name in (str(model), "pretrained:tfpose_mobilenet_thin"):
            code = (
                "import time; t = time.perf_counter(); from mln_tf.runners import load_runner; "
                f"load_runner({name!r}, threads={args.threads}); print(time.perf_counter() - t)"
            )
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            loads[name] = float(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"CPU: {cpu_description()}; {n} images, LiteRT {args.threads} thread(s) per process")
    seconds, startup, rate, end = plain
    rows = [("mln-pose infer (1 process)", seconds, n / seconds, 1.0, startup, rate, end, "-", "-", "-")]
    for label, (s, up, r, e, summary) in runs.items():
        reported = f"{summary.model_loads} x {summary.model_load_s:.2f} s" if summary.model_loads else "not reported"
        rows.append(
            (label, s, n / s, seconds / s, up, r, e, reported, _pays_from(up + e, r, startup + end, rate),
             f"{9 * (up + e) * r:.0f}")
        )  # fmt: skip
    print(
        format_table(
            ["run", "s", "images/s", "vs infer", "start-up s", "steady images/s", "end s", "model loads",
             "beats infer from", "start+end < 10% from"],
            rows,
            align="lrrrrrrrrr",
        )
    )  # fmt: skip
    per_image = seconds / n  # one process: decode + network + decoder + JSON
    for name, seconds in loads.items():
        bundle = 10 * seconds / per_image
        print(
            f"model load per fresh worker process, {Path(name).name}: {seconds:.2f} s = {seconds / per_image:.1f} "
            f"images' work; a worker needs >= {bundle:.0f} images for the load to stay under 10% of its time"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
