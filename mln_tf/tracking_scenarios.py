"""Synthetic tracking sequences with known answers: people walking, crossing, missed, leaving and coming back.

Real COCO people (:func:`person_templates`: OpenPose-18, scaled to a known size) walk known
paths at :data:`FPS` on a :data:`CANVAS` - constant velocity, acceleration, growing/shrinking
(walking towards the camera), a 1 Hz sinusoid, limbs swinging - observed with Gaussian
keypoint noise, outlier jumps, dropped parts, whole-person misses, people hidden behind nearer
ones and people leaving the frame (:func:`synthetic`). ``benchmarks/tracking_quality.py`` (A)
scores trackers on them and ``android_demo/tools/tracking_golden.py`` turns some into the golden
sequences of the tracker ports, so a change here changes both (and the golden files must be
rewritten). NumPy only::

    from mln_tf.tracking_scenarios import person_templates, synthetic

    times, labels, observed = synthetic("cross", seed=0, templates=person_templates())
    for t_ms, (keypoints, scores) in zip(times, observed):
        ...
"""

from __future__ import annotations

import dataclasses
import json
import math
import zlib
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from mln_tf import skeleton
from mln_tf.tracking import box_area

FPS = 30.0
CANVAS = (480, 640)  # h, w
NOISE = 0.02  # keypoint noise, person sizes (std per axis)
DROP = 0.10  # share of parts dropped per frame
OUTLIER = 0.01  # share of parts thrown half a person size
KINDS = ("walk", "cross", "gaps", "crowd", "exit")  # the scored kinds; "sinus" measures lag


class Labels(NamedTuple):
    """The known answer of one frame: ``ids`` (P,) int64, noise-free ``keypoints`` (P, 18, 3), ``areas`` (P,)."""

    ids: np.ndarray
    keypoints: np.ndarray
    areas: np.ndarray


def bundled_annotations() -> list[dict]:
    """The COCO person annotations of the bundled val images, then of the bundled train images."""
    from mln_tf.bundled import ANNOTATIONS, TRAIN_DIR, VAL_DIR

    files = (VAL_DIR / ANNOTATIONS, TRAIN_DIR / ANNOTATIONS)
    return [ann for path in files for ann in json.loads(path.read_text())["annotations"]]


def person_templates(annotations: Iterable[dict] | None = None) -> list[np.ndarray]:
    """Every COCO person with >= 12 labelled parts as an (18, 3) template: OpenPose-18, centred, size 1.

    ``annotations``: COCO annotation dicts (default: :func:`bundled_annotations`). Size is the
    square root of the labelled parts' box area; column 2 is 1 for a labelled part, else 0.
    """
    people = []
    for ann in bundled_annotations() if annotations is None else annotations:
        if ann.get("iscrowd") or ann["num_keypoints"] < 12:
            continue
        kp = skeleton.coco17_to_openpose18(np.asarray(ann["keypoints"], np.float32).reshape(17, 3))
        present = kp[:, 2] > 0
        xy = kp[:, :2].astype(np.float64)
        area = float(box_area(xy, present))
        if area <= 0:
            continue
        centre = (xy[present].min(0) + xy[present].max(0)) / 2
        out = np.zeros((18, 3))
        out[:, :2] = np.where(present[:, None], (xy - centre) / math.sqrt(area), 0.0)
        out[:, 2] = present
        people.append(out)
    return people


SWINGS = {4: 0.12, 7: 0.12, 10: 0.08, 13: 0.08, 3: 0.05, 6: 0.05, 9: 0.04, 12: 0.04}  # part -> amplitude (sizes)


@dataclasses.dataclass
class Walker:
    """One synthetic person: template, size and path over time (seconds)."""

    pid: int
    template: np.ndarray
    start: np.ndarray
    velocity: np.ndarray
    accel: np.ndarray
    size: float
    growth: float  # size multiplier per second
    sinus: float = 0.0  # amplitude in sizes of a 1 Hz horizontal sinusoid
    depth: float = 0.0  # larger = nearer the camera: hides the others where they overlap
    phase: float = 0.0
    turn: tuple[float, float] | None = None  # (time, wait) s: walks back the way it came after waiting

    def at(self, t: float) -> tuple[np.ndarray, float]:
        """Noise-free keypoints (18, 3) and size at time t."""
        size = self.size * self.growth**t
        if self.turn is not None:
            when, wait = self.turn
            walked = min(t, when) - max(0.0, t - when - wait)
            centre = self.start + self.velocity * walked
        else:
            centre = self.start + self.velocity * t + 0.5 * self.accel * t * t
        centre = centre + np.array([self.sinus * self.size * math.sin(2 * math.pi * t), 0.0])
        body = self.template[:, :2].copy()
        for part, amp in SWINGS.items():
            sign = 1 if part in (4, 3, 12, 13) else -1  # arms and legs swing in opposition
            body[part, 0] += sign * amp * math.sin(2 * math.pi * 1.2 * t + self.phase)
        kp = self.template.copy()
        kp[:, :2] = np.where(kp[:, 2:] > 0, centre + body * size, 0.0)
        return kp, size


def scenario(kind: str, rng: np.random.Generator, templates: Sequence[np.ndarray]) -> list[Walker]:
    """The people of one synthetic sequence of ``kind`` (one of :data:`KINDS`, or "sinus"), drawn from ``rng``.

    cross: two pairs walking into each other on nearly the same line (the one behind hidden while
    they overlap); walk: 4 people with random velocity and acceleration, growing or shrinking;
    gaps: as walk (the misses come from :func:`synthetic`); crowd: 8 smaller people; exit: 3 people
    walking out of the right edge, waiting 0-0.4 s out of sight and walking back; sinus: one
    person on a 1 Hz sinusoid of half a size (for the smoothing lag).
    """
    h, w = CANVAS
    pick = lambda: templates[rng.integers(len(templates))]  # noqa: E731
    walkers = []
    if kind == "cross":  # pairs walking into each other on nearly the same line
        for k in range(2):
            y = h * (0.35 + 0.3 * k) + rng.normal(0, 10)
            size = rng.uniform(70, 110)
            speed = rng.uniform(60, 140)
            walkers.append(
                Walker(
                    2 * k,
                    pick(),
                    np.array([40.0, y]),
                    np.array([speed, 0.0]),
                    np.zeros(2),
                    size,
                    1.0,
                    depth=1.0,
                    phase=rng.uniform(0, 6),
                )
            )
            walkers.append(
                Walker(
                    2 * k + 1,
                    pick(),
                    np.array([w - 40.0, y + rng.normal(0, 8)]),
                    np.array([-speed * rng.uniform(0.7, 1.3), 0.0]),
                    np.zeros(2),
                    size * rng.uniform(0.8, 1.1),
                    1.0,
                    depth=0.0,
                    phase=rng.uniform(0, 6),
                )
            )
    elif kind == "sinus":
        walkers.append(Walker(0, pick(), np.array([w / 2, h / 2]), np.zeros(2), np.zeros(2), 120.0, 1.0, sinus=0.5))
    else:
        count = {"walk": 4, "crowd": 8, "gaps": 4, "exit": 3}[kind]
        for i in range(count):
            size = rng.uniform(50, 120) if kind != "crowd" else rng.uniform(40, 80)
            start = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.25, 0.75) * h])
            velocity = rng.normal(0, 50, 2)
            turn = None
            if kind == "exit":  # walks out of the right edge, waits 0-0.4 s out of sight, walks back
                speed = size * rng.uniform(1.0, 2.0)
                start[0] = w * rng.uniform(0.45, 0.75)
                apex = w + 0.9 * size  # under 3 parts inside from about w + 0.5 size
                velocity = np.array([speed, rng.normal(0, 5)])
                turn = ((apex - start[0]) / speed, rng.uniform(0.0, 0.4))
                accel = np.zeros(2)
            else:
                accel = rng.normal(0, 20, 2)
            walkers.append(
                Walker(
                    i,
                    pick(),
                    start,
                    velocity,
                    accel,
                    size,
                    rng.uniform(0.85, 1.15),
                    depth=rng.uniform(),
                    phase=rng.uniform(0, 6),
                    turn=turn,
                )
            )
    return walkers


def synthetic(
    kind: str, seed: int, templates: Sequence[np.ndarray], frames: int = 150
) -> tuple[list[float], list[Labels], list[tuple[np.ndarray, np.ndarray]]]:
    """One sequence of ``kind`` at :data:`FPS`: (times in ms, labels, observed people) per frame.

    The same (kind, seed, templates, frames) always give the same sequence. Labels are the true
    IDs and noise-free keypoints of the people the "detector" saw (parts outside the canvas 0;
    area: size^2). Observed: (keypoints (P, 18, 3), scores (P,)) with Gaussian noise of
    :data:`NOISE` sizes, :data:`OUTLIER` of the parts thrown half a size, :data:`DROP` of the parts
    dropped, part scores in [0.3, 0.9), people in descending score order as a detector lists them.
    walk, gaps and crowd people miss 1-3 stretches of 1-30 frames; a person with under 3 parts
    inside the canvas, or behind a nearer overlapping one, is neither observed nor labelled.
    """
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode())])
    walkers = scenario(kind, rng, templates)
    gaps = {}
    if kind in ("gaps", "crowd", "walk"):
        for wk in walkers:  # whole-person misses of 1-30 frames
            for _ in range(rng.integers(1, 4)):
                start, length = int(rng.integers(5, frames - 5)), int(rng.integers(1, 31))
                gaps.setdefault(wk.pid, set()).update(range(start, start + length))
    h, w = CANVAS
    times, labels, observed = [], [], []
    for f in range(frames):
        t = f / FPS
        states = [(wk, *wk.at(t)) for wk in walkers]
        ids, kps, areas, obs = [], [], [], []
        for wk, kp, size in states:
            inside = (kp[:, 0] >= 0) & (kp[:, 0] < w) & (kp[:, 1] >= 0) & (kp[:, 1] < h) & (kp[:, 2] > 0)
            if inside.sum() < 3:
                continue  # out of the frame: neither labelled nor seen
            truth = kp.copy()
            truth[~inside] = 0
            hidden = f in gaps.get(wk.pid, ())
            for other, okp, osize in states:  # hidden behind a nearer person that overlaps it
                if other is not wk and other.depth > wk.depth:
                    if np.linalg.norm(_centre(okp) - _centre(kp)) < 0.45 * (size + osize) / 2:
                        hidden = True
            if hidden:
                continue
            seen = inside & (rng.random(18) > DROP)
            noisy = truth.copy()
            noisy[:, :2] += rng.normal(0, NOISE * size, (18, 2))
            jump = seen & (rng.random(18) < OUTLIER)
            noisy[jump, :2] += rng.normal(0, 0.5 * size / math.sqrt(2), (int(jump.sum()), 2))
            noisy[:, 2] = np.where(seen, rng.uniform(0.3, 0.9, 18), 0.0)
            noisy[~seen, :2] = 0
            if seen.any():  # labelled where seen: nobody is expected to output a hidden person
                obs.append((noisy, float(rng.uniform(0.5, 3.0))))
                ids.append(wk.pid)
                kps.append(truth)
                areas.append(size * size)
        obs.sort(key=lambda o: -o[1])  # a detector lists people by score
        times.append(1000.0 * t)
        labels.append(Labels(np.array(ids, np.int64), np.array(kps).reshape(-1, 18, 3), np.array(areas)))
        observed.append((np.array([o[0] for o in obs]).reshape(-1, 18, 3), np.array([o[1] for o in obs])))
    return times, labels, observed


def _centre(kp: np.ndarray) -> np.ndarray:
    p = kp[:, 2] > 0
    return kp[p, :2].mean(0) if p.any() else np.zeros(2)
