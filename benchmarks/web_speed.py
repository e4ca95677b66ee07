"""Per-stage latency of the web demo in headless Chromium next to native LiteRT, in one run.

    .venv/bin/python benchmarks/web_speed.py [--model pretrained|small] [--runs 8] [--webgpu-runs 2]

The page (web_demo/, served with COOP/COEP headers on 127.0.0.1) runs one bundled image
``--runs`` times per backend: LiteRT.js WASM with 1 and 2 threads, and WebGPU where headless
Chromium offers an adapter (here: SwiftShader, a software GPU, so it is slow; a phone's GPU is
the point of that path). Stages as the page measures them: preprocess (canvas readback +
cv2-exact resize + normalise, JavaScript), network, decode (postprocess + grouping, JavaScript),
draw. Native: the same .tflite with ai_edge_litert (XNNPACK, 1 and 2 threads), preprocess and
postprocess from mln_tf (NumPy/OpenCV). Medians after one warm-up run; ratios to native 2 threads.
The machine may be shared: compare rows of one run, not across runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import mln_tf  # noqa: E402,F401  (filters TensorFlow's start-up noise before anything imports it)

STAGES = ("preprocess", "network", "decode", "draw", "total")


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"web_tools_{name}", ROOT / "web_demo" / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def browser_rows(webcheck, url: str, image: str, runs: int, webgpu_runs: int, tmp: Path) -> list[tuple]:
    """(name, medians per stage) for each browser backend."""
    configs = [
        ("LiteRT.js WASM 1 thread", "backend=wasm&threads=1", False, runs),
        ("LiteRT.js WASM 2 threads", "backend=wasm&threads=2", False, runs),
    ]
    if webgpu_runs > 0:
        configs.append(("LiteRT.js WebGPU", "backend=webgpu", True, webgpu_runs))
    rows = []
    for name, query, gpu, n in configs:
        out = webcheck.run_browser(
            url, tmp / "speed.json", query=query, images=[image], repeat=n + 1, pixels=False, webgpu=gpu, timeout=900.0
        )
        backend = out["state"]["backend"]
        if gpu and not backend.startswith("WebGPU"):
            print(f"{name}: no WebGPU adapter in this Chromium ({backend}); row left out")
            continue
        timed = out["images"][1:]  # the first run warms up
        rows.append((f"{name} [{backend}]", {s: float(np.median([r["ms"][s] for r in timed])) for s in STAGES}))
    return rows


def native_rows(model: Path, image_path: Path, runs: int) -> list[tuple]:
    """(name, medians per stage) for ai_edge_litert with 1 and 2 threads and mln_tf pre/postprocess."""
    from mln_tf.inference import postprocess, preprocess, read_image
    from mln_tf.runners import load_runner
    from mln_tf.timing import median_ms

    rgb = read_image(image_path)
    rows = []
    for threads in (1, 2):
        runner = load_runner(model, threads=threads)
        x, t = preprocess(rgb, input_hw=runner.input_hw)
        hm, pf = runner(x[None])
        stages = {
            "preprocess": median_ms(lambda: preprocess(rgb, input_hw=runner.input_hw), runs, 1),
            "network": median_ms(lambda: runner(x[None]), runs, 1),
            "decode": median_ms(lambda: postprocess(hm[0], pf[0], t), runs, 1),
            "draw": float("nan"),
        }
        stages["total"] = stages["preprocess"] + stages["network"] + stages["decode"]
        rows.append((f"native LiteRT {threads} thread{'s' if threads > 1 else ''} + mln_tf", stages))
    return rows


def main() -> int:
    make_model = _tool("make_model")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        choices=make_model.MODEL_CHOICES,
        default=None,
        help=f"network (default: {make_model.default_model()} in this checkout)",
    )
    parser.add_argument("--runs", type=int, default=8, help="timed runs per backend (default 8)")
    parser.add_argument("--image", default="000000000785.jpg", help="bundled val image (default 000000000785.jpg)")
    parser.add_argument(
        "--webgpu-runs",
        type=int,
        default=2,
        help="timed runs on WebGPU (default 2: SwiftShader takes seconds a run; 0 skips the row)",
    )
    parser.add_argument(
        "--speed",
        choices=make_model.speeds(),
        default=None,
        help="pretrained: an operating point (default: the camera's, as make web-demo exports)",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    webcheck = _tool("webcheck")
    missing = webcheck.missing_tools()
    if missing:
        print(f"cannot run the web benchmark: {missing}", file=sys.stderr)
        return 1
    from mln_tf.tables import format_table
    from mln_tf.timing import cpu_description

    kind = args.model or make_model.default_model()
    hw, stage = make_model.default_setting(kind, args.speed)  # default: the camera's point (make web-demo's)
    model = make_model.make_model(kind, hw, stage=stage)
    make_model.write_default(model, kind, hw, stage)
    image_path = ROOT / "mln_tf" / "bundled" / "coco_val2017_mini" / args.image
    if not image_path.is_file():
        parser.error(f"no bundled image {args.image} in mln_tf/bundled/coco_val2017_mini")
    with tempfile.TemporaryDirectory() as tmp, webcheck.serve() as url:
        rows = browser_rows(webcheck, url, args.image, args.runs, args.webgpu_runs, Path(tmp))
    rows += native_rows(model, image_path, args.runs)
    base = rows[-1][1]["network"]
    # frames per second from the total per frame (preprocess to drawn overlay, as the page's counter)
    table = [(name, *[s[k] for k in STAGES], s["network"] / base, 1000 / s["total"]) for name, s in rows]
    print(
        format_table(
            ["runner", *[f"{k} ms" for k in STAGES], "network / native 2 thr", "FPS"],
            table,
            title=f"{model.name} ({hw[0]}x{hw[1]}), {args.image}, median of {args.runs} runs; {cpu_description()}",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
