"""Tracking and smoothing on sequences with known answers: ours vs TF.js MoveNet's and Lightweight OpenPose's rules.

    .venv/bin/python benchmarks/tracking_quality.py                 # (A) synthetic, (B) end-to-end, clip
    .venv/bin/python benchmarks/tracking_quality.py --only A --seeds 3
    .venv/bin/python benchmarks/tracking_quality.py --set min_cutoff=0.5 --set beta=4   # try parameters
    .venv/bin/python benchmarks/tracking_quality.py --check         # exit 1 when a goal is missed

(A) synthetic, no network, the sequences of ``mln_tf.tracking_scenarios`` (shared with the
tracker ports' golden sequences): real COCO people of the bundled annotations (OpenPose-18,
scaled to a known size) walk along known paths at 30 fps on a 640x480 canvas - constant
velocity, acceleration, growing/shrinking (walking towards the camera), a 1 Hz sinusoid, limbs
swinging - with Gaussian keypoint noise of 0.02 person sizes, 1% outlier jumps of half a size,
10% of parts dropped, whole-person misses of 1-30 frames, pairs of people crossing (the one
behind is hidden while they overlap), and people leaving the frame and coming back. Labels:
the true IDs and noise-free keypoints.

(B) end-to-end: "videos" of the bundled COCO photos moved by a per-frame affine (shift, zoom,
small rotation) with JPEG re-encoding, run through the pretrained network and the decoder;
labels are the COCO annotations moved by the same affine (people with fewer than
``MIN_LABELLED`` labelled parts are ignored, and outputs on them are not counted).

Clip: OpenCV's vtest.avi (pedestrians, Debian's opencv-doc) where it is installed: tracks
started per person-second and the jitter of people standing still, raw vs smoothed.

Metrics (``mln_tf.tracking_metrics``): MOTA, IDF1, ID switches per 1,000 labelled person-frames
(distance 1 - OKS, match at OKS >= 0.5), position and acceleration error against the true
paths in person sizes (smoothed / raw), and the lag on the sinusoid. The baselines are
re-implemented here from their published rules (see ``GreedyTracker`` and ``OneFrameTracker``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mln_tf import skeleton  # noqa: E402
from mln_tf import tracking_scenarios as scenarios  # noqa: E402
from mln_tf.bundled import ANNOTATIONS, TRAIN_DIR, VAL_DIR  # noqa: E402
from mln_tf.oks import oks_terms  # noqa: E402
from mln_tf.tables import format_table  # noqa: E402
from mln_tf.tracking import PoseTracker, SmoothingConfig, TrackerConfig, box_area, smoothing_alpha  # noqa: E402
from mln_tf.tracking_metrics import Frame, frame_matches, mot_metrics, motion_errors  # noqa: E402
from mln_tf.tracking_scenarios import CANVAS, FPS, KINDS  # noqa: E402

MIN_LABELLED = 8  # (B): people with fewer labelled parts are ignored
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
OVERLAY_FRAMES = (100, 130, 160)  # clip frames drawn side by side by --overlay
GOALS = {"idf1_A": 0.95, "switches_per_1000_A": 1.0, "acc_ratio": 0.3, "pos_ratio": 1.0, "idf1_B": 0.9}


# ------------------------------------------------------------------ the sequences


def synthetic(kind: str, seed: int, templates, frames: int = 150):
    """``mln_tf.tracking_scenarios.synthetic`` with its labels as ``tracking_metrics.Frame``."""
    times, labels, observed = scenarios.synthetic(kind, seed, templates, frames)
    return times, [Frame(*lab) for lab in labels], observed


# ------------------------------------------------------------------ the peers' rules


class OneEuro:
    """Textbook One Euro filter on arrays (Casiez et al. 2012), for the baselines."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x = self.dx = None

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x
        dx = (x - self.x) / dt
        self.dx = self.dx + smoothing_alpha(self.d_cutoff, dt) * (dx - self.dx)
        a = smoothing_alpha(self.min_cutoff + self.beta * np.abs(self.dx), dt)
        self.x = self.x + a * (x - self.x)
        return self.x


class GreedyTracker:
    """TF.js pose-detection's tracker (MoveNet MultiPose) as published: for each person in score
    order, the most similar free track (box IoU >= 0.15, or keypoint OKS >= 0.2 over >= 4 parts),
    tracks kept 1000 ms, at most 18; One Euro per track on coordinates in [0, 1]
    (min_cutoff 2.5, beta 300, d_cutoff 2.5). The parts threshold is ours (score > 0)."""

    def __init__(self, similarity: str = "iou") -> None:
        self.similarity = similarity
        self.min_sim = 0.15 if similarity == "iou" else 0.2
        self.tracks: list[dict] = []
        self.next_id = 0

    def update(self, keypoints: np.ndarray, t: float):
        h, w = CANVAS
        scale = np.array([w, h], np.float64)
        self.tracks = [tr for tr in self.tracks if t - tr["last"] <= 1000.0]
        ids = np.full(len(keypoints), -1, np.int64)
        out = keypoints.copy()
        taken = set()
        for i, kp in enumerate(keypoints):
            present = kp[:, 2] > 0
            best, best_sim = None, self.min_sim
            for k, tr in enumerate(self.tracks):
                if k in taken:
                    continue
                sim = self._sim(kp, present, tr)
                if sim >= best_sim:
                    best, best_sim = k, sim
            if best is None:
                tr = {"id": self.next_id, "filter": OneEuro(2.5, 300.0, 2.5)}
                self.next_id += 1
                self.tracks.append(tr)
                best = len(self.tracks) - 1
            tr = self.tracks[best]
            taken.add(best)
            dt = max((t - tr.get("last", t)) / 1000.0, 1e-3)
            tr.update(kp=kp.copy(), present=present, last=t)
            ids[i] = tr["id"]
            smoothed = tr["filter"](np.where(present[:, None], kp[:, :2] / scale, 0.0), dt) * scale
            out[:, :, :2][i] = np.where(present[:, None], smoothed, kp[:, :2])
        if len(self.tracks) > 18:
            self.tracks = sorted(self.tracks, key=lambda tr: -tr["last"])[:18]
        return ids, out

    def _sim(self, kp, present, tr) -> float:
        if self.similarity == "iou":
            a, b = _box(kp[:, :2], present), _box(tr["kp"][:, :2], tr["present"])
            if a is None or b is None:
                return 0.0
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = iw * ih
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            return inter / union if union > 0 else 0.0
        both = present & tr["present"]
        if both.sum() < 4:
            return 0.0
        area = max(float(box_area(tr["kp"][:, :2], tr["present"])), 1e-9)
        return float(oks_terms(kp, tr["kp"], area)[both].mean())


def _box(xy, present):
    if not present.any():
        return None
    p = xy[present]
    return (*p.min(0), *p.max(0))


class OneFrameTracker:
    """Lightweight OpenPose's ``track_poses`` as published: people in score order take the free
    person of the previous frame only with the most parts at per-part OKS > 0.5 (area: the larger
    box), if >= 3, else a new ID; One Euro at a fixed 15 Hz (min_cutoff 1, beta 0.05, d_cutoff 1,
    pixels), a missing part skipped; output in whole pixels."""

    def __init__(self) -> None:
        self.previous: list[dict] = []
        self.next_id = 0

    def update(self, keypoints: np.ndarray, t: float):
        ids = np.full(len(keypoints), -1, np.int64)
        out = keypoints.copy()
        current, taken = [], set()
        for i, kp in enumerate(keypoints):
            present = kp[:, 2] > 0
            best, best_count = None, 0
            for k, prev in enumerate(self.previous):
                if k in taken:
                    continue
                both = present & prev["present"]
                area = max(float(box_area(kp[:, :2], present)), float(box_area(prev["kp"][:, :2], prev["present"])))
                count = int((both & (oks_terms(kp, prev["kp"], max(area, 1e-9)) > 0.5)).sum())
                if count > best_count:
                    best, best_count = k, count
            if best is not None and best_count >= 3:
                taken.add(best)
                track = {"id": self.previous[best]["id"], "filters": self.previous[best]["filters"]}
            else:
                track = {"id": self.next_id, "filters": [OneEuro(1.0, 0.05, 1.0) for _ in range(18)]}
                self.next_id += 1
            for j in np.flatnonzero(present):
                out[i, j, :2] = np.floor(track["filters"][j](kp[j, :2].astype(np.float64), 1.0 / 15.0))
            current.append({**track, "kp": kp, "present": present})
            ids[i] = track["id"]
        self.previous = current
        return ids, out


class Ours:
    """``mln_tf.tracking.PoseTracker`` behind the baselines' interface."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.tracker = PoseTracker(config)

    def update(self, keypoints: np.ndarray, t: float):
        result = self.tracker.update(keypoints, t)
        return result.ids, result.keypoints


# ------------------------------------------------------------------ running and scoring


def run_tracker(make, times, observed) -> list[Frame]:
    """Output frames of a fresh tracker over one sequence."""
    tracker = make()
    frames = []
    for t, (kp, _) in zip(times, observed):
        ids, out = tracker.update(kp, t)
        frames.append(Frame(np.asarray(ids), np.asarray(out, np.float64)))
    return frames


def score(sequences, outputs, raw_outputs) -> dict:
    """MOT figures plus position/acceleration errors (and their ratio to the raw detections)."""
    mot = mot_metrics(list(zip(sequences, outputs)))
    pos, acc, raw_pos, raw_acc = [], [], [], []
    found = []  # (labels, outputs) cut to the pairs matched in each frame: identity given detection
    for labels, out, raw in zip(sequences, outputs, raw_outputs):
        for frames, p_list, a_list in ((out, pos, acc), (raw, raw_pos, raw_acc)):
            last, pairs = {}, []
            for lab, o in zip(labels, frames):
                fp, _ = frame_matches(lab, o, last)
                for gi, hi in fp:
                    last[int(lab.ids[gi])] = int(o.ids[hi])
                pairs.append(fp)
            p, a = motion_errors(labels, frames, pairs)
            p_list.append(p)
            a_list.append(a)
            if frames is out:
                found.append(
                    (
                        [_cut(lab, [g for g, _ in fp]) for lab, fp in zip(labels, pairs)],
                        [_cut(o, [h for _, h in fp]) for o, fp in zip(frames, pairs)],
                    )
                )
    pos_m, acc_m = float(np.nanmean(pos)), float(np.nanmean(acc))
    return {
        "MOTA": mot.mota,
        "det F1": 2.0 * mot.matches / max(mot.labelled + mot.output, 1),
        "IDF1": mot.idf1,
        "IDF1 found": mot_metrics(found).idf1,
        "switches/1000": mot.switches_per_1000(),
        "pos err": pos_m,
        "acc err": acc_m,
        "pos ratio": pos_m / float(np.nanmean(raw_pos)),
        "acc ratio": acc_m / float(np.nanmean(raw_acc)),
        "person-frames": mot.labelled,
    }


def _cut(frame: Frame, keep: list[int]) -> Frame:
    k = np.array(sorted(keep), int)
    return Frame(frame.ids[k], frame.keypoints[k], None if frame.areas is None else frame.areas[k])


def sinus_lag_ms(make, templates) -> float:
    """Lag (ms) of the smoothed wrist-free centre on a 1 Hz sinusoid: the shift that best fits the truth."""
    times, labels, observed = synthetic("sinus", 0, templates, frames=300)
    frames = run_tracker(make, times, observed)
    t = np.array(times) / 1000.0
    xs, ts = [], []
    for k, (lab, out) in enumerate(zip(labels, frames)):
        if len(out.ids) and len(lab.ids):
            core = [1, 2, 5, 8, 11]  # neck, shoulders, hips: not swinging
            kp = out.keypoints[0]
            keep = [j for j in core if kp[j, 2] > 0]
            if keep:
                offset = np.mean(kp[keep, 0] - lab.keypoints[0, keep, 0]) + np.mean(lab.keypoints[0, keep, 0])
                xs.append(offset)
                ts.append(t[k])
    xs, ts = np.array(xs[30:]), np.array(ts[30:])  # after the start
    walker_amp = 0.5 * 120.0
    base = np.mean(labels[0].keypoints[0, [1, 2, 5, 8, 11], 0]) - walker_amp * math.sin(0.0)
    shifts = np.arange(0, 400, 1.0)
    errs = [np.mean((xs - (base + walker_amp * np.sin(2 * math.pi * (ts - s / 1000.0)))) ** 2) for s in shifts]
    return float(shifts[int(np.argmin(errs))])


def synthetic_table(seeds: int, config: TrackerConfig, frames: int = 150, first_seed: int = 0) -> dict[str, dict]:
    """(A): every method's figures over ``seeds`` sequences of each kind."""
    templates = scenarios.person_templates()
    data = [synthetic(kind, first_seed + s, templates, frames) for kind in KINDS for s in range(seeds)]
    labels = [d[1] for d in data]
    raw = [run_tracker(lambda: Ours(dataclasses.replace(config, smoothing=None)), d[0], d[2]) for d in data]
    methods = {
        "mln_tf (ours)": lambda: Ours(config),
        "TF.js greedy IoU": lambda: GreedyTracker("iou"),
        "TF.js greedy OKS": lambda: GreedyTracker("oks"),
        "LW OpenPose 1-frame": OneFrameTracker,
    }
    table = {}
    for name, make in methods.items():
        outputs = [run_tracker(make, d[0], d[2]) for d in data]
        table[name] = score(labels, outputs, raw)
        table[name]["lag ms"] = sinus_lag_ms(make, templates)
    return table


# ------------------------------------------------------------------ (B) end-to-end


def affine_clip(image: np.ndarray, anns: list[dict], frames: int, rng: np.random.Generator):
    """A clip of ``image`` moved by a smooth per-frame affine (shift, zoom, small rotation), JPEG re-encoded.

    Returns (frames RGB, labels, ignored boxes): labels are the annotations with at least
    ``MIN_LABELLED`` labelled parts, moved with the image (parts leaving the frame dropped);
    ignored boxes are the other people's boxes, moved likewise.
    """
    import cv2

    h, w = image.shape[:2]
    shift = rng.uniform(-0.1, 0.1, 2) * (w, h)  # over the clip
    zoom = rng.uniform(0.9, 1.2)
    angle = rng.uniform(-4, 4)
    labelled = [a for a in anns if not a.get("iscrowd") and a["num_keypoints"] >= MIN_LABELLED]
    ignored = [a for a in anns if a not in labelled]
    rgb_frames, labels, boxes = [], [], []
    for f in range(frames):
        u = f / max(frames - 1, 1)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle * math.sin(math.pi * u), 1 + (zoom - 1) * u)
        m[:, 2] += shift * u
        warped = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(128, 128, 128))
        ok, jpeg = cv2.imencode(".jpg", warped[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
        rgb_frames.append(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1])
        scale = 1 + (zoom - 1) * u
        ids, kps, areas = [], [], []
        for a in labelled:
            kp = skeleton.coco17_to_openpose18(np.asarray(a["keypoints"], np.float32).reshape(17, 3)).astype(float)
            xy = kp[:, :2] @ m[:, :2].T + m[:, 2]
            inside = (kp[:, 2] > 0) & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
            if inside.sum() < 3:
                continue
            ids.append(a["id"])
            kps.append(np.concatenate([np.where(inside[:, None], xy, 0), inside[:, None]], 1))
            areas.append(a["area"] * scale * scale)
        labels.append(Frame(np.array(ids, np.int64), np.array(kps).reshape(-1, 18, 3), np.array(areas)))
        corners = []
        for a in ignored:
            x, y, bw, bh = a["bbox"]
            c = np.array([(x, y), (x + bw, y), (x, y + bh), (x + bw, y + bh)]) @ m[:, :2].T + m[:, 2]
            corners.append((*c.min(0), *c.max(0)))
        boxes.append(corners)
    return rgb_frames, labels, boxes


def drop_ignored(out: Frame, labels: Frame, boxes: list) -> Frame:
    """``out`` without people on an ignored (unlabelled, crowd or barely labelled) person: MOT's distractors."""
    from mln_tf.tracking_metrics import oks_similarity

    sim = oks_similarity(labels, out)
    keep = []
    for i, kp in enumerate(out.keypoints):
        p = kp[:, 2] > 0
        cx, cy = kp[p, :2].mean(0) if p.any() else (-1, -1)
        on_ignored = any(x0 <= cx <= x1 and y0 <= cy <= y1 for x0, y0, x1, y1 in boxes)
        keep.append(not on_ignored or (len(labels.ids) and sim[:, i].max() >= 0.5))
    keep = np.array(keep, bool).reshape(-1)
    return Frame(out.ids[keep], out.keypoints[keep])


def end_to_end(model: str, frames: int, images: int | None, input_height: int, config: TrackerConfig):
    """(B): every method's figures on affine clips of the bundled photos, through the network and decoder.

    Also returns the median ms per frame of network + decoder and of tracker + filter.
    """
    import cv2

    from mln_tf.estimator import Estimator, EstimatorConfig
    from mln_tf.runners import load_runner

    estimator = Estimator(load_runner(model), EstimatorConfig(input_height))
    clips = []
    files = []
    for folder in (VAL_DIR, TRAIN_DIR):
        data = json.loads((folder / ANNOTATIONS).read_text())
        for img in sorted(data["images"], key=lambda i: i["id"]):
            anns = [a for a in data["annotations"] if a["image_id"] == img["id"]]
            files.append((folder / img["file_name"], anns))
    rng = np.random.default_rng(0)
    detect_ms, track_ms = [], []
    for path, anns in files[:images]:
        image = cv2.imread(str(path))[:, :, ::-1]
        rgb, labels, boxes = affine_clip(image, anns, frames, rng)
        detections = []
        for k, frame in enumerate(rgb):
            start = time.perf_counter()
            detections.append(estimator.estimate(frame))
            if k:
                detect_ms.append((time.perf_counter() - start) * 1e3)
        clips.append((labels, boxes, detections))
    times = [1000.0 * k / FPS for k in range(frames)]
    methods = {
        "mln_tf (ours)": lambda: Ours(config),
        "TF.js greedy IoU": lambda: GreedyTracker("iou"),
        "TF.js greedy OKS": lambda: GreedyTracker("oks"),
        "LW OpenPose 1-frame": OneFrameTracker,
    }
    raw = []
    for labels, boxes, detections in clips:
        out = run_tracker(
            lambda: Ours(dataclasses.replace(config, smoothing=None)),
            times,
            [(d.keypoints.astype(np.float64), d.scores) for d in detections],
        )
        raw.append([drop_ignored(o, lab, b) for o, lab, b in zip(out, labels, boxes)])
    table = {}
    for name, make in methods.items():
        outputs = []
        for labels, boxes, detections in clips:
            tracker = make()
            out = []
            for t, d, lab, b in zip(times, detections, labels, boxes):
                start = time.perf_counter()
                ids, kp = tracker.update(d.keypoints.astype(np.float64), t)
                if name == "mln_tf (ours)":
                    track_ms.append((time.perf_counter() - start) * 1e3)
                out.append(drop_ignored(Frame(np.asarray(ids), np.asarray(kp, np.float64)), lab, b))
            outputs.append(out)
        table[name] = score([c[0] for c in clips], outputs, raw)
    return table, float(np.median(detect_ms)), float(np.median(track_ms))


# ------------------------------------------------------------------ a real clip without labels


def clip_figures(
    path: Path, input_height: int, model: str, limit: int | None = None, overlay: Path | None = None
) -> dict:
    """On a real video without labels: tracks started per person-second, and the jitter (frame-to-frame
    acceleration, in person sizes) of people standing nearly still, raw vs smoothed."""
    from mln_tf.estimator import Estimator, EstimatorConfig
    from mln_tf.runners import load_runner
    from mln_tf.stream import PoseStream, frames_from, video_info

    stream = PoseStream(
        Estimator(load_runner(model), EstimatorConfig(input_height)), tracking=TrackerConfig(smoothing=None)
    )
    smooth = PoseTracker()
    fps = video_info(path)[1]
    history: dict[int, list] = {}
    person_frames = frames = 0
    shots = []
    for frame, raw in stream.run(frames_from([path], limit)):
        smoothed = smooth.update(raw, frame.time_ms)  # same IDs: smoothing does not change the matching
        if overlay is not None and frame.index in OVERLAY_FRAMES:
            from mln_tf.draw import draw_poses

            shots.append(draw_poses(frame.rgb, smoothed))
        frames += 1
        person_frames += len(raw)
        for i, track in enumerate(raw.ids):
            if track >= 0:
                history.setdefault(int(track), []).append((frame.index, raw.keypoints[i], smoothed.keypoints[i]))
    jitter = {"raw": [], "smoothed": []}
    for seq in history.values():
        for (f0, r0, s0), (f1, r1, s1), (f2, r2, s2) in zip(seq, seq[1:], seq[2:]):
            if f2 - f0 != 2:
                continue
            both = (r0[:, 2] > 0) & (r1[:, 2] > 0) & (r2[:, 2] > 0)
            if both.sum() < 8:
                continue
            size = math.sqrt(max(float(box_area(r1[:, :2].astype(float), r1[:, 2] > 0)), 1.0))
            centre_speed = np.linalg.norm(r2[both, :2].mean(0) - r0[both, :2].mean(0)) / 2 / size
            if centre_speed > 0.01:  # standing still: under 1% of its size per frame
                continue
            for name, (a, b, c) in (("raw", (r0, r1, r2)), ("smoothed", (s0, s1, s2))):
                jitter[name].append(np.linalg.norm(c[both, :2] - 2 * b[both, :2] + a[both, :2], axis=1).mean() / size)
    if overlay is not None and shots:
        import cv2

        from mln_tf.draw import write_image

        strip = np.concatenate([cv2.resize(a, (a.shape[1] // 2, a.shape[0] // 2), cv2.INTER_AREA) for a in shots], 1)
        write_image(overlay, strip)
    person_seconds = person_frames / fps
    return {
        "frames": frames,
        "tracks": smooth.next_id,
        "tracks per person-second": smooth.next_id / max(person_seconds, 1e-9),
        "still jitter raw": float(np.mean(jitter["raw"])) if jitter["raw"] else float("nan"),
        "still jitter smoothed": float(np.mean(jitter["smoothed"])) if jitter["smoothed"] else float("nan"),
        "still samples": len(jitter["raw"]),
    }


def tracking_cost_ms(people: int = 10, frames: int = 300) -> float:
    """Median ms per frame of tracker + filter for ``people`` walking people."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 100, (people, 18, 2)) + np.arange(people)[:, None, None] * 150
    tracker = PoseTracker()
    ms = []
    for f in range(frames):
        kp = np.concatenate([base + 2 * f + rng.normal(0, 1, base.shape), np.ones((people, 18, 1))], -1)
        start = time.perf_counter()
        tracker.update(kp, f * 1000 / FPS)
        ms.append((time.perf_counter() - start) * 1e3)
    return float(np.median(ms[10:]))


def print_table(title: str, table: dict[str, dict]) -> None:
    """One row per method."""
    cols = ["MOTA", "det F1", "IDF1", "IDF1 found", "switches/1000", "pos ratio", "acc ratio", "lag ms"]
    rows = [(name, *(r.get(c, float("nan")) for c in cols)) for name, r in table.items()]
    print(title)
    print(format_table(["method", *cols], rows, align="l" + "r" * len(cols)))


def parse_config(sets: list[str]) -> TrackerConfig:
    """TrackerConfig with ``--set name=value`` for its fields and SmoothingConfig's."""
    tracker, smooth = {}, {}
    smooth_fields = {f.name for f in dataclasses.fields(SmoothingConfig)}
    for item in sets:
        name, _, value = item.partition("=")
        (smooth if name in smooth_fields else tracker)[name] = int(value) if value.isdigit() else float(value)
    return TrackerConfig(**tracker, smoothing=SmoothingConfig(**smooth))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--only", choices=["A", "B", "clip"], help="run one part only")
    p.add_argument("--seeds", type=int, default=6, help="(A): sequences of each kind (default 6)")
    p.add_argument("--first-seed", type=int, default=0, help="(A): seed of the first sequence (others: held out)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a tracker/smoothing parameter")
    p.add_argument("--model", default="pretrained:tfpose_mobilenet_thin", help="(B), clip: the pose model")
    p.add_argument("--input-height", type=int, default=368, help="(B), clip: network input height (default 368)")
    p.add_argument("--frames", type=int, default=30, help="(B): frames per clip (default 30)")
    p.add_argument("--images", type=int, default=None, help="(B): only the first N bundled photos (default all 40)")
    p.add_argument("--clip-frames", type=int, default=None, help="clip: at most N frames of vtest.avi (default all)")
    p.add_argument("--overlay", type=Path, help="clip: write frames 100, 130, 160 with IDs drawn to this picture")
    p.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = p.parse_args(argv)
    config = parse_config(args.set)
    failed = []
    if args.only in (None, "A"):
        table = synthetic_table(args.seeds, config, first_seed=args.first_seed)
        print_table(f"(A) synthetic: {args.seeds} sequences x {len(KINDS)} kinds, {FPS:.0f} fps", table)
        ours = table["mln_tf (ours)"]
        failed += [
            g
            for g, ok in (
                ("IDF1 A", ours["IDF1"] >= GOALS["idf1_A"]),
                ("switches A", ours["switches/1000"] <= GOALS["switches_per_1000_A"]),
                ("acc ratio", ours["acc ratio"] <= GOALS["acc_ratio"]),
                ("pos ratio", ours["pos ratio"] <= GOALS["pos_ratio"]),
            )
            if not ok
        ]
        print(f"tracker + filter: {tracking_cost_ms():.3f} ms/frame for 10 people")
    if args.only in (None, "B"):
        table, detect, track = end_to_end(args.model, args.frames, args.images, args.input_height, config)
        print_table(
            f"(B) end-to-end: {args.images or 40} bundled photos x {args.frames} frames of affine motion + JPEG, "
            f"{args.model} at height {args.input_height}",
            table,
        )
        fps, fps_tracked = 1000.0 / detect, 1000.0 / (detect + track)
        print(
            f"video loop: network + decoder {detect:.1f} ms/frame, tracker + filter {track:.3f} ms/frame: "
            f"{fps:.2f} fps untracked, {fps_tracked:.2f} fps tracked ({100 * (1 - fps_tracked / fps):.2f}% fewer)"
        )
        # IDF1 cannot pass the detector's own F1 (labelled people it misses, people it sees twice):
        # the goal is held on the people it found (the identity part of IDF1, the tracker's job)
        if table["mln_tf (ours)"]["IDF1 found"] < GOALS["idf1_B"]:
            failed.append("IDF1 B (found)")
    if args.only in (None, "clip"):
        if VTEST.is_file():
            figures = clip_figures(VTEST, args.input_height, args.model, args.clip_frames, args.overlay)
            print(
                f"clip {VTEST.name}: "
                + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
            )
        else:
            print(f"clip: {VTEST} not found (Debian: apt-get install opencv-doc); skipped")
    if failed:
        print("goals missed: " + ", ".join(failed))
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
