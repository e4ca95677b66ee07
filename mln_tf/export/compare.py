"""Does an export give the same people as its float model? The one comparison every check uses.

``mln-pose check tflite`` (:func:`compare`: a .tflite and its server model over real images),
the int8/QAT export gate (:func:`agreement` on the calibration images, judged by
``Thresholds.export_gate``; :func:`float_agreement` on other inputs), the export summary's map error
against the Keras model (:func:`map_error`), the benchmarks and the web/GPU checks all measure with the
functions here: :func:`map_difference`, :func:`heatmap_error`, :func:`match_people` (on the
one OKS of ``mln_tf.oks``) and :class:`Report` with its :meth:`Report.verdict`.

What ``mln-pose check tflite`` reports and how it judges it: see its ``--help``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

Maps = tuple[np.ndarray, np.ndarray]  # (heatmaps, pafs) with a batch axis of 1

MATCH_OKS = 0.5
MAP_PERCENTILE = 99.9  # the map error that is checked: this percentile of |difference|, over the reference's range


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits of the check; a limit of None is reported, not checked.

    The map statistics checked are stable by construction (a percentile, a sum of squares); a
    single pixel's maximum moves with the CPU's float kernels and is only checked when asked.
    """

    max_map_error: float | None  # one pixel's max |difference|: None by default (issue 32)
    min_agreement: float
    min_oks: float
    max_ap_drop: float
    min_people_ratio: float = 0.5  # fewer people than this share of the reference's fails (and none always)
    min_soft_agreement: float = 0.0  # OKS-weighted agreement (Report.soft)
    max_p999_error: float | None = None  # Report.p999_map_error: p99.9 |difference| / reference map range
    max_heatmap_error: float | None = None  # Report.heatmap_error (the int8 recipe's statistic)

    def __post_init__(self) -> None:
        for name in ("max_map_error", "max_p999_error", "max_heatmap_error"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value}")
        for name in ("min_agreement", "min_oks", "min_people_ratio", "min_soft_agreement"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    @classmethod
    def export_gate(cls, floor: float) -> "Thresholds":
        """The int8/QAT export gate: both find people, and the OKS-weighted agreement is >= ``floor``.

        Only a collapsed model fails it: a CPU kind's rounding moves soft agreement by hundredths
        (measured: docs/export.md, "Limits and their spread").
        """
        return cls(
            max_map_error=None,
            min_agreement=0.0,
            min_oks=0.0,
            max_ap_drop=1.0,
            min_people_ratio=0.0,
            min_soft_agreement=floor,
        )

    @classmethod
    def for_precision(cls, precision: str) -> "Thresholds":
        """Defaults for what the model computes in ('fp32', 'fp16', 'dynamic', 'int8').

        Each limit has a margin over the worst value measured on AVX-512 and AVX2 float kernels
        (``benchmarks/gate_spread.py``, table in docs/export.md); no single pixel's max is checked.
        """
        return PRECISION_LIMITS[precision]


# Set from benchmarks/gate_spread.py (docs/export.md, "Limits and their spread"): the shipped network at
# 256x320 and 368x432 on the 4 val + 36 train images, reference on AVX-512 and AVX2 kernels. Maxima
# have >= 2.5x the worst measured value; floors are >= 0.05 (several people) below the worst.
PRECISION_LIMITS: dict[str, Thresholds] = {
    "fp32": Thresholds(  # worst: p99.9 7.5e-6, heatmap error 3.4e-12, agreement and OKS 1.000, AP drop 0
        max_map_error=None,
        min_agreement=0.99,
        min_oks=0.99,
        max_ap_drop=0.005,
        max_p999_error=1e-4,
        max_heatmap_error=1e-8,
    ),
    # worst: p99.9 0.0118, heatmap error 1.9e-5, agreement 0.958, OKS 0.980; AP drop 0.004 on AMD EPYC, but
    # 0.025 on an Intel Xeon with AVX-512 FP16/AMX at 224x288 (11 people, OKS 0.984: AP50 crossings), so 0.06
    "fp16": Thresholds(
        max_map_error=None,
        min_agreement=0.9,
        min_oks=0.93,
        max_ap_drop=0.06,
        max_p999_error=0.03,
        max_heatmap_error=2e-4,
    ),
    "dynamic": Thresholds(  # worst: heatmap error 0.034, agreement 0.611, OKS 0.805, AP drop 0.091
        max_map_error=None,
        min_agreement=0.5,
        min_oks=0.75,
        max_ap_drop=0.15,
        max_heatmap_error=0.1,
    ),
    "int8": Thresholds(  # worst: heatmap error 0.010, agreement 0.716, OKS 0.803, AP drop 0.034
        max_map_error=None,
        min_agreement=0.6,
        min_oks=0.75,
        max_ap_drop=0.08,
        max_heatmap_error=0.03,
    ),
}


@dataclass
class ImageResult:
    """One image: people of each model, how they match, map error, latencies."""

    name: str
    people_reference: int
    people_tflite: int
    matched: int
    oks: list[float]
    max_map_error: float
    mean_map_error: float
    ms_tflite: float
    ms_reference: float
    p999_map_error: float = float("nan")  # see map_percentile()


@dataclass
class Report:
    """Everything the check measured, and its verdict."""

    tflite: str
    reference: str
    precision: str
    input_hw: tuple[int, int]
    images: list[ImageResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # unreadable images
    ap_reference: dict[str, float] | None = None
    ap_tflite: dict[str, float] | None = None
    heatmap_error: float | None = None  # see heatmap_error(); set where the maps are compared in input pixels

    @property
    def max_map_error(self) -> float:
        return max((r.max_map_error for r in self.images), default=float("nan"))

    @property
    def p999_map_error(self) -> float:
        """The worst image's p99.9 |difference| over the reference's map range (:func:`map_percentile`)."""
        return max((r.p999_map_error for r in self.images), default=float("nan"))

    @property
    def mean_map_error(self) -> float:
        return float(np.mean([r.mean_map_error for r in self.images])) if self.images else float("nan")

    @property
    def matched(self) -> int:
        return sum(r.matched for r in self.images)

    @property
    def agreement(self) -> float:
        """Matched people / max(people of either model), over all images (0.0 when neither finds any:
        two models that find nobody agree on nothing)."""
        total = sum(max(r.people_reference, r.people_tflite) for r in self.images)
        return self.matched / total if total else 0.0

    @property
    def soft(self) -> float:
        """Sum of the matched pairs' OKS / max(people of either), over all images: agreement weighted by OKS."""
        total = sum(max(r.people_reference, r.people_tflite) for r in self.images)
        return float(sum(sum(r.oks) for r in self.images)) / total if total else 0.0

    @property
    def people(self) -> tuple[int, int]:
        """(people found by the reference, by the .tflite) over all images."""
        return (sum(r.people_reference for r in self.images), sum(r.people_tflite for r in self.images))

    @property
    def mean_oks(self) -> float:
        oks = [v for r in self.images for v in r.oks]
        return float(np.mean(oks)) if oks else float("nan")

    def summary(self) -> str:
        """One line: the people of each side, matched, OKS-weighted agreement, mean OKS, heatmap error."""
        ref, got = self.people
        text = (
            f"people {self.reference} {ref} / {self.tflite} {got} / matched {self.matched}, "
            f"OKS-weighted agreement {self.soft:.3f}, mean OKS {self.mean_oks:.3f}"
        )
        return text + (f", heatmap error {self.heatmap_error:.4f}" if self.heatmap_error is not None else "")

    def median_ms(self, which: str) -> float:
        values = [getattr(r, f"ms_{which}") for r in self.images]
        return float(np.median(values)) if values else float("nan")

    def verdict(self, limits: Thresholds) -> list[str]:
        """The failed checks, as sentences (empty = pass)."""
        failed = []
        if not self.images:
            failed.append("no image could be checked")
        if self.failures:
            failed.append(f"{len(self.failures)} images could not be read")
        ref, got = self.people
        if self.images and ref == 0:
            failed.append(
                "the reference finds nobody on these images, so agreement proves nothing (check on photos with people)"
            )
        elif ref and (got == 0 or got < limits.min_people_ratio * ref):
            failed.append(f"the .tflite finds {got} people where the reference finds {ref}")
        if limits.max_map_error is not None and self.max_map_error > limits.max_map_error:
            failed.append(f"max map error {self.max_map_error:.3g} > {limits.max_map_error:.3g}")
        if limits.max_p999_error is not None and not self.p999_map_error <= limits.max_p999_error:
            failed.append(f"p99.9 map error {self.p999_map_error:.3g} > {limits.max_p999_error:.3g}")
        if (
            limits.max_heatmap_error is not None
            and self.heatmap_error is not None
            and not self.heatmap_error <= limits.max_heatmap_error
        ):
            failed.append(f"heatmap error {self.heatmap_error:.3g} > {limits.max_heatmap_error:.3g}")
        if self.agreement < limits.min_agreement:
            failed.append(f"people agreement {self.agreement:.3f} < {limits.min_agreement:.3f}")
        if self.mean_oks < limits.min_oks:  # NaN (no matched people) compares False: see agreement
            failed.append(f"mean OKS of matched people {self.mean_oks:.3f} < {limits.min_oks:.3f}")
        if self.images and self.soft < limits.min_soft_agreement:
            failed.append(f"OKS-weighted people agreement {self.soft:.2f} < {limits.min_soft_agreement:.2f}")
        if self.ap_reference is not None and self.ap_tflite is not None:
            drop = self.ap_reference["AP"] - self.ap_tflite["AP"]
            if drop > limits.max_ap_drop:
                failed.append(f"COCO AP drop {drop:.3f} > {limits.max_ap_drop:.3f}")
        return failed


def map_difference(reference: Maps, maps: Maps) -> tuple[float, float]:
    """(max, mean) |maps - reference| over heatmaps and PAFs together."""
    diff = np.concatenate([np.abs(np.subtract(m, r, dtype=np.float32)).ravel() for m, r in zip(maps, reference)])
    return float(diff.max()), float(diff.mean())


def map_percentile(reference: Maps, maps: Maps, q: float = MAP_PERCENTILE) -> float:
    """The ``q``-th percentile of |maps - reference| over heatmaps and PAFs together, divided by the
    reference's range (max - min of both maps; 1 where they are flat).

    A thousand pixels decide it, not one: a CPU kind's float kernels moving one pixel barely move it.
    """
    diff = np.concatenate([np.abs(np.subtract(m, r, dtype=np.float64)).ravel() for m, r in zip(maps, reference)])
    ref = np.concatenate([np.asarray(r, np.float64).ravel() for r in reference])
    span = float(ref.max() - ref.min()) if ref.size else 0.0
    return float(np.percentile(diff, q)) / (span if span > 0 else 1.0)


def heatmap_error(reference: Sequence[Maps], maps: Sequence[Maps]) -> float:
    """sum (heatmaps - reference heatmaps)^2 / sum (reference heatmaps - their mean)^2, in float64.

    Continuous in the maps, so a last-bit difference of the float kernels moves it by as little;
    0 for identical maps, 1 for an error as large as the heatmaps' own variation.
    """
    ref = np.concatenate([np.asarray(h, np.float64).ravel() for h, _ in reference])
    got = np.concatenate([np.asarray(h, np.float64).ravel() for h, _ in maps])
    spread = float(((ref - ref.mean()) ** 2).sum())
    return float(((got - ref) ** 2).sum()) / spread if spread > 0 else float(np.abs(got - ref).max() > 0)


def person_oks(reference, other) -> np.ndarray:
    """(reference people, other people) OKS matrix: ``mln_tf.oks.oks`` on the COCO-17 keypoints (COCOeval's
    sigmas), the reference person being the ground truth and its keypoint box area the object scale."""
    from mln_tf.evaluate import coco_sigmas
    from mln_tf.oks import oks
    from mln_tf.outputs import coco_results

    refs = [np.asarray(p["keypoints"], np.float64).reshape(17, 3) for p in coco_results(1, reference)]
    others = [np.asarray(p["keypoints"], np.float64).reshape(17, 3) for p in coco_results(1, other)]
    similarity = np.zeros((len(refs), len(others)))
    for i, gt in enumerate(refs):
        xy = gt[gt[:, 2] > 0, :2]
        w, h = (xy.max(0) - xy.min(0)) if len(xy) else (0.0, 0.0)
        if others:
            similarity[i] = oks(np.stack(others), gt, max(float(w * h), 1.0), coco_sigmas())[0]
    return similarity


def match_people(reference, other) -> list[tuple[int, int, float]]:
    """One-to-one pairs (reference index, other index, OKS) with OKS >= 0.5, maximising total OKS
    (Hungarian assignment on :func:`person_oks`)."""
    from scipy.optimize import linear_sum_assignment

    if not len(reference) or not len(other):
        return []
    oks = person_oks(reference, other)
    rows, cols = linear_sum_assignment(-oks)
    return sorted((int(r), int(c), float(oks[r, c])) for r, c in zip(rows, cols) if oks[r, c] >= MATCH_OKS)


def image_result(
    name: str, reference: Maps, maps: Maps, transform, config=None, ms: tuple[float, float] = (0.0, 0.0)
) -> tuple[ImageResult, Any, Any]:
    """One image compared: (its ImageResult, the reference's people, the other model's people), both
    decoded by the one ``postprocess`` with ``transform`` (maps with a batch axis of 1)."""
    from mln_tf.inference import postprocess

    worst, mean = map_difference(reference, maps)
    people_r = postprocess(reference[0][0], reference[1][0], transform, config)
    people = postprocess(maps[0][0], maps[1][0], transform, config)
    pairs = match_people(people_r, people)
    result = ImageResult(
        name,
        len(people_r),
        len(people),
        len(pairs),
        [p[2] for p in pairs],
        worst,
        mean,
        *ms,
        map_percentile(reference, maps),
    )
    return result, people_r, people


def agreement(reference: Sequence[Maps], maps: Sequence[Maps], input_hw: tuple[int, int], name: str = "int8") -> Report:
    """The maps of an export vs its float model's, image by image (batch of 1, in input pixels): the
    report the int8/QAT export gate judges (``Thresholds.export_gate``), with the heatmap error."""
    from mln_tf.inference import Transform

    transform = Transform.from_resize(input_hw, input_hw)
    report = Report(name, "float", name, tuple(input_hw), heatmap_error=heatmap_error(reference, maps))
    for i, (ref, got) in enumerate(zip(reference, maps)):
        report.images.append(image_result(f"calibration image {i}", ref, got, transform)[0])
    return report


def float_agreement(
    model: Any, data: bytes, inputs: Sequence[np.ndarray], input_hw: tuple[int, int], model64: Any = None
) -> Report:
    """The people of the .tflite ``data`` vs its float Keras ``model``'s on ``inputs`` ((1, H, W, 3) each;
    :func:`agreement`), the float maps computed in float64 (``mln_tf.export.int8.float64_maps``;
    ``model64``: the float64 copy of ``model`` at ``input_hw`` when made already)."""
    from mln_tf.export.int8 import float64_maps, tflite_maps
    from mln_tf.export.models import float32_model, with_input_size

    samples = [np.asarray(x, np.float32) for x in inputs]
    reference = float64_maps(with_input_size(float32_model(model), tuple(input_hw)), samples, model64)
    return agreement(reference, tflite_maps(data, samples), tuple(input_hw))


def map_error(model: Any, tflite_path: str | Path, x: np.ndarray) -> tuple[float, float]:
    """(max, mean) |maps difference| of the .tflite vs the Keras model on one preprocessed input."""
    from mln_tf.export.models import float32_model, with_input_size
    from mln_tf.runners import keras_runner, load_runner

    reference = keras_runner(with_input_size(float32_model(model), tuple(x.shape[1:3])))(x)
    return map_difference(reference, load_runner(tflite_path)(x))


def compare(
    tflite,
    reference,
    images: Sequence[Path],
    annotations: Any = None,
    progress: bool = True,
    tflite_name: str = "tflite",
    reference_name: str = "reference",
) -> Report:
    """Run both over ``images`` through the shared preprocess/postprocess; see module doc.

    ``tflite`` is the ``Estimator`` of the .tflite file (its decoder settings decode both);
    ``reference`` the runner of the float model it was exported from, fed the same input.
    """
    from mln_tf.console import progress as console_progress
    from mln_tf.evaluate import evaluate_coco, load_coco
    from mln_tf.export.tflite_ops import precision, read_ops
    from mln_tf.images import BadFiles, iter_images
    from mln_tf.inference import preprocess
    from mln_tf.outputs import coco_results

    runner = tflite.runner
    if getattr(runner, "kind", None) != "tflite" or runner.input_hw is None:
        raise ValueError(f"{tflite_name} is not a .tflite model (mln_tf.estimator.Estimator.load('x.tflite'))")
    if tflite.config.flip:
        raise ValueError("the check compares one network call per image: it runs without --flip")
    postprocess_config = tflite.config.postprocess
    report = Report(str(tflite_name), str(reference_name), precision(read_ops(runner.path)), tuple(runner.input_hw))
    gt = load_coco(annotations) if annotations is not None else None
    ids_by_name = {im["file_name"]: im["id"] for im in gt.dataset["images"]} if gt is not None else {}
    results = {"reference": [], "tflite": []}
    heatmaps: dict[str, list[Maps]] = {"reference": [], "tflite": []}  # for Report.heatmap_error
    evaluated: list[int] = []
    warm = np.zeros((1, *runner.input_hw, 3), np.float32)
    runner(warm)
    reference(warm)
    bad = BadFiles()
    images = list(images)
    checking = iter_images(images, bad)
    for path, image in console_progress(checking, total=len(images), desc="checking", unit="img", quiet=not progress):
        x, transform = preprocess(image, input_hw=runner.input_hw)
        start = time.perf_counter()
        maps_t = runner(x[None])
        ms_t = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        maps_r = reference(x[None])
        ms_r = (time.perf_counter() - start) * 1e3
        result, poses_r, poses_t = image_result(
            Path(path).name, maps_r, maps_t, transform, postprocess_config, (ms_t, ms_r)
        )
        report.images.append(result)
        heatmaps["reference"].append((maps_r[0], None))
        heatmaps["tflite"].append((maps_t[0], None))
        image_id = ids_by_name.get(Path(path).name)
        if image_id is not None:
            evaluated.append(image_id)
            results["tflite"].extend(coco_results(image_id, poses_t))
            results["reference"].extend(coco_results(image_id, poses_r))
    report.failures = bad.lines()
    if report.images:
        report.heatmap_error = heatmap_error(heatmaps["reference"], heatmaps["tflite"])
    if gt is not None:
        if not evaluated:
            raise ValueError("none of the checked images is listed in the annotations (matched by file name)")
        report.ap_reference = _ap(evaluate_coco(results["reference"], gt, evaluated, verbose=False))
        report.ap_tflite = _ap(evaluate_coco(results["tflite"], gt, evaluated, verbose=False))
    return report


def _ap(stats: dict) -> dict[str, float]:
    return {k: float(stats[k]) for k in ("AP", "AP50", "AP75", "AR")}


def collect_images(inputs: Sequence[str], limit: int | None = None) -> list[Path]:
    """Image files of ``inputs`` (folders expanded, sorted), at most ``limit`` (mln_tf.files.collect_files)."""
    from mln_tf.files import collect_files

    return collect_files(inputs)[:limit]


def format_report(report: Report, limits: Thresholds, per_image: bool = True) -> str:
    """Per-image rows and the summary table with each check's limit and verdict."""
    from mln_tf.tables import format_table

    out = []
    if per_image and report.images:
        rows = [
            (
                r.name,
                r.people_reference,
                r.people_tflite,
                r.matched,
                f"{np.mean(r.oks):.3f}" if r.oks else "-",
                f"{r.max_map_error:.2e}",
                f"{r.p999_map_error:.2e}",
                f"{r.ms_tflite:.1f}",
                f"{r.ms_reference:.1f}",
            )
            for r in report.images
        ]
        out.append(
            format_table(
                [
                    "image",
                    "people ref",
                    "people tflite",
                    "matched",
                    "mean OKS",
                    "max map err",
                    "p99.9 err / range",
                    "tflite ms",
                    "ref ms",
                ],
                rows,
            )
        )
    failed = set(report.verdict(limits))

    def status(ok: bool) -> str:
        return "ok" if ok else "FAIL"

    def limit(value: float | None, sign: str = "<=") -> str:
        return f"{sign} {value:.3g}" if value is not None else ""

    def at_most(value: float | None, bound: float | None) -> str:
        return status(bound is None or value is None or value <= bound)

    rows = [
        (
            "max map error (reported)",
            f"{report.max_map_error:.3e}",
            limit(limits.max_map_error),
            at_most(report.max_map_error, limits.max_map_error),
        ),
        ("mean map error", f"{report.mean_map_error:.3e}", "", ""),
        (
            f"p{MAP_PERCENTILE:g} map error / map range",
            f"{report.p999_map_error:.3e}",
            limit(limits.max_p999_error),
            at_most(report.p999_map_error, limits.max_p999_error),
        ),
        (
            "heatmap error",
            f"{report.heatmap_error:.3e}" if report.heatmap_error is not None else "-",
            limit(limits.max_heatmap_error),
            at_most(report.heatmap_error, limits.max_heatmap_error),
        ),
        (
            "people (reference / tflite / matched)",
            f"{sum(r.people_reference for r in report.images)} / {sum(r.people_tflite for r in report.images)}"
            f" / {report.matched}",
            "",
            "",
        ),
        (
            "people agreement",
            f"{report.agreement:.3f}" if report.matched or report.people[1] else "- (nobody found)",
            f">= {limits.min_agreement:.3g}",
            status(report.agreement >= limits.min_agreement),
        ),
        (
            "mean OKS of matched people",
            f"{report.mean_oks:.3f}" if report.matched else "-",
            f">= {limits.min_oks:.3g}",
            status(not report.mean_oks < limits.min_oks),
        ),
    ]
    if report.ap_reference is not None:
        drop = report.ap_reference["AP"] - report.ap_tflite["AP"]
        rows += [
            ("COCO AP reference / tflite", f"{report.ap_reference['AP']:.3f} / {report.ap_tflite['AP']:.3f}", "", ""),
            (
                "COCO AP50 reference / tflite",
                f"{report.ap_reference['AP50']:.3f} / {report.ap_tflite['AP50']:.3f}",
                "",
                "",
            ),
            ("COCO AP drop", f"{drop:.3f}", f"<= {limits.max_ap_drop:.3g}", status(drop <= limits.max_ap_drop)),
        ]
    rows += [
        (
            "median latency tflite / reference (ms)",
            f"{report.median_ms('tflite'):.1f} / {report.median_ms('reference'):.1f}",
            "",
            "",
        ),
        (
            "images checked / unreadable",
            f"{len(report.images)} / {len(report.failures)}",
            "",
            status(not report.failures),
        ),
    ]
    out.append(
        format_table(
            ["check", "value", "limit", ""],
            rows,
            align="lrll",
            title=f"\n{report.tflite} ({report.precision}, input {report.input_hw[0]}x"
            f"{report.input_hw[1]}) vs {report.reference}",
        )
    )
    for failure in report.failures:
        out.append(f"unreadable: {failure}")
    out.append("\nRESULT: " + ("PASS" if not failed else "FAIL: " + "; ".join(report.verdict(limits))))
    return "\n".join(out)
