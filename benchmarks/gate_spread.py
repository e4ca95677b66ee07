"""How much each checked statistic of ``mln-pose check tflite`` moves with the CPU's float kernels.

    .venv/bin/python benchmarks/gate_spread.py [--input 256x320 368x432] [--modes fp32 fp16 dynamic int8]
        [--isa DEFAULT AVX2] [--limit N] [--threads 2] [--out runs/gate_spread]

The shipped network (``pretrained:tfpose_mobilenet_thin``) is exported by the README's commands
(``mln-pose export tflite ... --mode MODE --input HxW``; int8 calibrated on the bundled train
images), once: the files do not depend on the CPU (int8 is the same bytes on every kind). Each
file is then compared with its Keras reference by ``mln_tf.export.compare.compare`` on the
bundled val and train images (``--limit`` per set), once per ``--isa``: a child process with
``ONEDNN_MAX_CPU_ISA`` set, which moves the Keras reference's float32 kernels (TensorFlow/oneDNN)
and nothing else: LiteRT's XNNPACK picks its kernels itself, so the .tflite side always runs on
this CPU's best ISA. The table gives, per precision and statistic, each run's worst value over
both sets and both sizes, the worst over all runs, the default limit (``Thresholds.for_precision``)
and its margin (limit / worst; for floors, worst - floor), and the CPU and ISA it ran on.
Results also go to ``--out``/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # mln_tf from this checkout when run as a script

BUNDLED = ROOT / "mln_tf" / "bundled"
SETS = {"val": BUNDLED / "coco_val2017_mini", "train": BUNDLED / "coco_train2017_mini"}
MODEL = "pretrained:tfpose_mobilenet_thin"
# (statistic, Report attribute or None, Thresholds field, larger is worse)
STATS = (
    ("max map error (reported only)", "max_map_error", "max_map_error", True),
    ("p99.9 map error / range", "p999_map_error", "max_p999_error", True),
    ("heatmap error", "heatmap_error", "max_heatmap_error", True),
    ("people agreement", "agreement", "min_agreement", False),
    ("mean OKS", "mean_oks", "min_oks", False),
    ("people ratio (tflite / reference)", "people_ratio", "min_people_ratio", False),
    ("COCO AP drop", "ap_drop", "max_ap_drop", True),
    ("check gpu: max |GPU - CPU| (reported only)", "gpu_max", None, True),
    ("check gpu: p99.9 |GPU - CPU| / range", "gpu_p999", "gpu", True),
)


def export(mode: str, hw: str, out: Path) -> Path:
    """The README's export command for one mode and size (reused when the file exists)."""
    path = out / f"thin_{mode}_{hw}.tflite"
    if not path.is_file():
        cmd = [sys.executable, "-m", "mln_tf.cli", "export", "tflite", MODEL, str(path), "--mode", mode]
        cmd += ["--input", hw, "--quiet"] + (["--calibration", str(SETS["train"])] if mode == "int8" else [])
        subprocess.run(cmd, check=True, cwd=ROOT)
    return path


def measure(files: dict, limit: int | None, threads: int | None, gpu: str) -> dict:
    """{mode: {hw: {set: {statistic: value}}}} of every file against the Keras reference (this process's
    ISA), and with ``gpu`` ('also', 'only') ``mln-pose check gpu``'s statistics under the set name 'gpu'."""
    from mln_tf.estimator import Estimator
    from mln_tf.export.compare import collect_images, compare
    from mln_tf.export.gpu_check import try_gpu
    from mln_tf.export.tflite_ops import precision, read_ops
    from mln_tf.runners import load_runner

    reference = load_runner(MODEL)
    results: dict = {}
    for mode, by_size in files.items():
        for hw, path in by_size.items():
            runner = load_runner(path, threads=threads)
            if gpu != "no" and mode != "dynamic":
                run = try_gpu(path)
                if not run.ran:
                    raise RuntimeError(f"{path} did not run on LiteRT's GPU accelerator: {run.detail}")
                values = {"gpu_p999": run.p999_error, "gpu_max": run.max_error, "precision": precision(read_ops(path))}
                results.setdefault(mode, {}).setdefault(hw, {})["gpu"] = values
            for name, folder in SETS.items() if gpu != "only" else ():
                images = collect_images([str(folder)], limit)
                report = compare(Estimator(runner), reference, images, folder / "person_keypoints.json", progress=False)
                ref, got = report.people
                values = {attr: getattr(report, attr) for _, attr, _, _ in STATS if hasattr(report, attr)}
                values["people_ratio"] = got / ref if ref else float("nan")
                values["ap_drop"] = report.ap_reference["AP"] - report.ap_tflite["AP"]
                values["precision"] = precision(read_ops(path))
                results.setdefault(mode, {}).setdefault(hw, {})[name] = values
    return results


def child(isa: str, files: dict, args: argparse.Namespace, out: Path) -> dict:
    """``measure`` in a child process with ONEDNN_MAX_CPU_ISA=isa (DEFAULT: unset)."""
    env = dict(os.environ)
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if isa != "DEFAULT":
        env["ONEDNN_MAX_CPU_ISA"] = isa
        if isa == "AVX2":
            env["LP_NATIVE_VECTOR_WIDTH"] = "256"  # lavapipe (llvmpipe): AVX2's 256-bit vectors, not AVX-512's
    target = out / f"measured_{isa}.json"
    cmd = [
        sys.executable,
        __file__,
        "--child",
        json.dumps({k: {h: str(p) for h, p in v.items()} for k, v in files.items()}),
    ]
    cmd += ["--child-out", str(target), "--threads", str(args.threads)] + (
        ["--limit", str(args.limit)] if args.limit else []
    )
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return json.loads(target.read_text())


def margin(worst: float, bound: float | None, larger_is_worse: bool) -> str:
    """limit / worst for maxima ('inf' when the worst is 0); worst - floor for floors."""
    if bound is None:
        return "-"
    if not larger_is_worse:
        return f"{worst - bound:+.3f}"
    return f"{bound / worst:.1f}x" if worst > 0 else "inf"


def table(measured: dict) -> str:
    """Markdown rows: precision, statistic, worst per ISA run, worst, limit, margin."""
    from mln_tf.export.compare import Thresholds
    from mln_tf.export.gpu_check import DEFAULT_MAX_P999

    nan = float("nan")
    isas = list(measured)
    modes = [m for m in ("fp32", "fp16", "dynamic", "int8", "qat") if m in measured[isas[0]]]
    lines = [
        "| precision | statistic | "
        + " | ".join(f"worst, reference on {i}" for i in isas)
        + " | worst | limit | margin |",
        "|---|---|" + "---|" * len(isas) + "---|---|---|",
    ]
    for mode in modes:
        limits = Thresholds.for_precision(
            measured[isas[0]][mode][next(iter(measured[isas[0]][mode]))]["val"]["precision"]
        )
        for label, attr, field, larger_is_worse in STATS:
            pick = max if larger_is_worse else min
            per_isa = []
            for isa in isas:
                values = [s.get(attr, nan) for by_set in measured[isa][mode].values() for s in by_set.values()]
                values = [v for v in values if v is not None and v == v]
                per_isa.append(pick(values) if values else nan)
            if all(v != v for v in per_isa):
                continue  # not measured (e.g. the GPU rows without --gpu, dynamic on the GPU)
            worst = pick(v for v in per_isa if v == v)
            bound = DEFAULT_MAX_P999 if field == "gpu" else getattr(limits, field) if field else None
            shown = "-" if bound is None else f"{'<=' if larger_is_worse else '>='} {bound:g}"
            cells = " | ".join("-" if v != v else f"{v:.3g}" for v in per_isa)
            lines.append(
                f"| {mode} | {label} | {cells} | {worst:.3g} | {shown} | {margin(worst, bound, larger_is_worse)} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", default=["256x320", "368x432"], help="fixed .tflite input sizes")
    parser.add_argument("--modes", nargs="+", default=["fp32", "fp16", "dynamic", "int8"])
    parser.add_argument("--isa", nargs="+", default=["DEFAULT", "AVX2"], help="ONEDNN_MAX_CPU_ISA of each run")
    parser.add_argument("--limit", type=int, help="images per set (default: all, 4 val + 36 train)")
    parser.add_argument("--threads", type=int, default=2, help="LiteRT CPU threads")
    parser.add_argument(
        "--gpu",
        choices=("no", "also", "only"),
        default="no",
        help="also (or only) measure `mln-pose check gpu` on LiteRT's GPU accelerator (needs a Vulkan driver)",
    )
    parser.add_argument("--reuse", help="add the runs measured before in this results.json (e.g. without --gpu)")
    parser.add_argument("--out", default="runs/gate_spread", help="folder for the .tflite files and results")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        results = measure(json.loads(args.child), args.limit, args.threads, args.gpu)
        Path(args.child_out).write_text(json.dumps(results, indent=1))
        return 0
    from mln_tf.timing import cpu_description

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {mode: {hw: export(mode, hw, out) for hw in args.input} for mode in args.modes}
    measured = {isa: child(isa, files, args, out) for isa in args.isa}
    if args.reuse:  # merge: the earlier runs' statistics stay, this run's are added
        for isa, by_mode in json.loads(Path(args.reuse).read_text())["measured"].items():
            for mode, by_size in by_mode.items():
                for hw, by_set in by_size.items():
                    mine = measured.setdefault(isa, {}).setdefault(mode, {}).setdefault(hw, {})
                    mine.update({k: v for k, v in by_set.items() if k not in mine})
    (out / "results.json").write_text(json.dumps({"cpu": cpu_description(), "measured": measured}, indent=1))
    print(f"CPU: {cpu_description()}; .tflite on LiteRT/XNNPACK with {args.threads} threads (its own ISA choice)")
    print(f"inputs {', '.join(args.input)}; images: {'all' if not args.limit else args.limit} per set of val, train\n")
    print(table(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
