"""Does an export give the same people as its float model? The one comparison every check uses.

``mln-pose check tflite`` (:func:`compare`: a .tflite and its server model over real images),
the int8/QAT export gate (:func:`agreement` on the calibration images, judged by
``Thresholds.export_gate``), the benchmarks and the web/GPU checks all measure with the
functions here: :func:`map_difference`, :func:`heatmap_error`, :func:`match_people` (on the
one OKS of ``mln_tf.evaluate``) and :class:`Report` with its :meth:`Report.verdict`.

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


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits of the check; ``max_map_error`` None = reported, not checked."""

    max_map_error: float | None
    min_agreement: float
    min_oks: float
    max_ap_drop: float
    min_people_ratio: float = 0.5  # fewer people than this share of the reference's fails (and none always)
    min_soft_agreement: float = 0.0  # OKS-weighted agreement (Report.soft)

    @classmethod
    def export_gate(cls, floor: float) -> "Thresholds":
        """The int8/QAT export gate: both find people, and the OKS-weighted agreement is >= ``floor``.

        Only a collapsed model fails it: a CPU kind's rounding moves soft agreement by hundredths.
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

        Quantized models are judged by their people, not by their worst map pixel (one
        saturated activation can move a single pixel a lot without changing anyone).
        """
        return {
            "fp32": cls(max_map_error=1e-3, min_agreement=0.99, min_oks=0.99, max_ap_drop=0.005),
            "fp16": cls(max_map_error=2e-2, min_agreement=0.95, min_oks=0.95, max_ap_drop=0.01),
            "dynamic": cls(max_map_error=None, min_agreement=0.85, min_oks=0.85, max_ap_drop=0.03),
            "int8": cls(max_map_error=None, min_agreement=0.8, min_oks=0.8, max_ap_drop=0.05),
        }[precision]


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
    """(reference people, other people) OKS matrix: ``mln_tf.evaluate.oks_terms`` on the COCO-17 keypoints,
    the reference person being the ground truth and its keypoint box area the object scale."""
    from mln_tf.evaluate import coco_sigmas, oks_terms
    from mln_tf.outputs import coco_results

    refs = [np.asarray(p["keypoints"], np.float64).reshape(17, 3) for p in coco_results(1, reference)]
    others = [np.asarray(p["keypoints"], np.float64).reshape(17, 3) for p in coco_results(1, other)]
    oks = np.zeros((len(refs), len(others)))
    for i, gt in enumerate(refs):
        xy = gt[gt[:, 2] > 0, :2]
        w, h = (xy.max(0) - xy.min(0)) if len(xy) else (0.0, 0.0)
        area = max(float(w * h), 1.0)
        for j, det in enumerate(others):
            oks[i, j] = oks_terms(det, gt, area, coco_sigmas())[0]
    return oks


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
    result = ImageResult(name, len(people_r), len(people), len(pairs), [p[2] for p in pairs], worst, mean, *ms)
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


def compare(
    tflite,
    reference,
    images: Sequence[Path],
    annotations: Any = None,
    postprocess_config=None,
    progress: bool = True,
    tflite_name: str = "tflite",
    reference_name: str = "reference",
) -> Report:
    """Run both runners over ``images`` through the shared preprocess/postprocess; see module doc."""
    from tqdm import tqdm

    from mln_tf.evaluate import evaluate_coco, load_coco
    from mln_tf.export.tflite_ops import precision, read_ops
    from mln_tf.inference import preprocess, read_image
    from mln_tf.outputs import coco_results

    if getattr(tflite, "kind", None) != "tflite" or tflite.input_hw is None:
        raise ValueError(f"{tflite_name} is not a .tflite runner (mln_tf.runners.load_runner('x.tflite'))")
    report = Report(str(tflite_name), str(reference_name), precision(read_ops(tflite.path)), tuple(tflite.input_hw))
    gt = load_coco(annotations) if annotations is not None else None
    ids_by_name = {im["file_name"]: im["id"] for im in gt.dataset["images"]} if gt is not None else {}
    results = {"reference": [], "tflite": []}
    evaluated: list[int] = []
    warm = np.zeros((1, *tflite.input_hw, 3), np.float32)
    tflite(warm)
    reference(warm)
    for path in tqdm(list(images), desc="checking", unit="img", disable=not progress):
        try:
            image = read_image(path)
        except ValueError as exc:
            report.failures.append(str(exc))
            continue
        x, transform = preprocess(image, input_hw=tflite.input_hw)
        start = time.perf_counter()
        maps_t = tflite(x[None])
        ms_t = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        maps_r = reference(x[None])
        ms_r = (time.perf_counter() - start) * 1e3
        result, poses_r, poses_t = image_result(
            Path(path).name, maps_r, maps_t, transform, postprocess_config, (ms_t, ms_r)
        )
        report.images.append(result)
        image_id = ids_by_name.get(Path(path).name)
        if image_id is not None:
            evaluated.append(image_id)
            results["tflite"].extend(coco_results(image_id, poses_t))
            results["reference"].extend(coco_results(image_id, poses_r))
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
                f"{r.ms_tflite:.1f}",
                f"{r.ms_reference:.1f}",
            )
            for r in report.images
        ]
        out.append(
            format_table(
                ["image", "people ref", "people tflite", "matched", "mean OKS", "max map err", "tflite ms", "ref ms"],
                rows,
            )
        )
    failed = set(report.verdict(limits))

    def status(ok: bool) -> str:
        return "ok" if ok else "FAIL"

    rows = [
        (
            "max map error",
            f"{report.max_map_error:.3e}",
            f"<= {limits.max_map_error:.3g}" if limits.max_map_error is not None else "",
            status(limits.max_map_error is None or not report.max_map_error > limits.max_map_error),
        ),
        ("mean map error", f"{report.mean_map_error:.3e}", "", ""),
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
