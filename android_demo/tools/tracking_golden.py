"""Golden sequences for the tracker ports (Java ``Tracker``, JavaScript ``src/tracking.js``).

``write_golden.py`` writes them as ``tracking.json`` beside the decoder's vectors: per case a
tracker configuration and frames in (time stamp, people's keypoints and scores; ``null``
for a NaN), and what ``mln_tf.tracking.PoseTracker`` returns for each frame (IDs, float32
keypoints). Cases: synthetic sequences of ``mln_tf.tracking_scenarios``, the ones
``benchmarks/tracking_quality.py`` (A) scores (people crossing, a crowd with misses, leaving
and re-entering), at the defaults and at other settings, and bad input (NaN parts, time
stamps that repeat or go back, empty frames, one-part people, more people than ``max_tracks``).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mln_tf import skeleton, tracking  # noqa: E402
from mln_tf import tracking_scenarios as scenarios  # noqa: E402
from mln_tf.tracking import PoseTracker, SmoothingConfig, TrackerConfig  # noqa: E402

FORMAT = 1


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _config(config: TrackerConfig) -> dict:
    return dataclasses.asdict(config)


def _synthetic(kind: str, seed: int, frames: int) -> list[tuple[float, np.ndarray, np.ndarray]]:
    times, _, observed = scenarios.synthetic(kind, seed, scenarios.person_templates(), frames)
    # two decimals in, so that the JSON holds the inputs exactly as the tracker saw them
    return [(t, np.round(kp, 2), np.round(sc, 3)) for t, (kp, sc) in zip(times, observed)]


def _bad_input() -> list[tuple[float, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    frames = []
    base = np.array([scenarios.person_templates()[i] for i in (0, 3, 5)])
    for f in range(24):
        kp = base.copy()
        kp[:, :, :2] = kp[:, :, :2] * 90 + np.array([[150, 200], [330, 210], [500, 190]])[:, None] + 3 * f
        kp[:, :, :2] += rng.normal(0, 2, kp[:, :, :2].shape)
        kp[:, :, 2] = np.where(base[:, :, 2] > 0, 0.7, 0.0)
        kp = np.round(kp, 2)
        t = f * 40.0
        if f == 3:
            kp[0, 4] = np.nan  # a NaN part
            kp[1, 2, 0] = np.inf
        if f in (5, 6):
            kp = kp[:0]  # empty frames
        if f == 8:
            t = 8 * 40.0 - 100  # back in time
        if f == 9:
            t = frames[-1][0]  # a repeat
        if f == 12:
            t = float("nan")
        if f in (14, 15):  # a one-part person, then a tracked person seen with one part
            lonely = np.zeros((1, 18, 3))
            lonely[0, 0] = (600, 100, 0.5)
            kp = np.concatenate([kp, lonely])
            kp[1, 1:] = 0
        frames.append((t, kp, np.round(rng.uniform(0.5, 2.0, len(kp)), 3)))
    return frames


def _many(people: int = 40) -> list[tuple[float, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(8)
    base = np.array([scenarios.person_templates()[i % 10] for i in range(people)])
    grid = np.array([(60 + 70 * (i % 8), 80 + 110 * (i // 8)) for i in range(people)], float)
    frames = []
    for f in range(6):
        keep = rng.random(people) > 0.2
        kp = base.copy()
        kp[:, :, :2] = kp[:, :, :2] * 50 + grid[:, None] + rng.normal(0, 1, kp[:, :, :2].shape)
        kp[:, :, 2] *= 0.6
        frames.append((f * 33.0, np.round(kp[keep], 2), np.round(np.linspace(2, 1, int(keep.sum())), 3)))
    return frames


def cases() -> list[tuple[str, TrackerConfig, list]]:
    """(name, configuration, frames) of every golden sequence."""
    other = TrackerConfig(
        min_similarity=0.3,
        min_shared_parts=4,
        part_threshold=0.5,
        max_age_ms=400.0,
        max_tracks=6,
        velocity_cutoff=1.5,
        search_growth=0.5,
        smoothing=SmoothingConfig(min_cutoff=0.3, beta=5.0, d_cutoff=2.0, max_speed=1.0),
    )
    return [
        ("cross_defaults", TrackerConfig(), _synthetic("cross", 0, 110)),
        ("crowd_gaps_defaults", TrackerConfig(), _synthetic("crowd", 1, 60)),
        ("exit_defaults", TrackerConfig(), _synthetic("exit", 2, 80)),
        ("gaps_other_settings", other, _synthetic("gaps", 3, 60)),
        ("walk_no_smoothing", TrackerConfig(smoothing=None), _synthetic("walk", 4, 40)),
        ("bad_input", TrackerConfig(), _bad_input()),
        ("more_people_than_tracks", TrackerConfig(max_tracks=16), _many()),
    ]


def reference() -> dict:
    """Defaults and constants the ports must share."""
    return {
        "tracker_defaults": _config(TrackerConfig()),
        "oks_sigmas": list(skeleton.OKS_SIGMAS),
        "min_step_ms": tracking.MIN_STEP_MS,
        "no_match_cost": tracking.NO_MATCH_COST,
        "area_half_life_s": tracking.AREA_HALF_LIFE_S,
    }


def golden() -> dict:
    """The whole ``tracking.json``."""
    out = []
    for name, config, frames in cases():
        tracker = PoseTracker(config)
        rows = []
        for t, kp, scores in frames:
            result = tracker.update(kp, t)
            rows.append(
                {
                    "t": _num(t),
                    "keypoints": [[_num(v) for v in person.reshape(-1)] for person in kp],
                    "ids": [int(i) for i in result.ids],
                    # float32 results to 5 decimals: within 5e-6 of them, under the ports' 1e-5 tolerance
                    "out": [[round(float(v), 5) for v in person.reshape(-1)] for person in result.keypoints],
                }
            )
        out.append({"name": name, "config": _config(config), "frames": rows, "tracks": tracker.next_id})
    return {"format": FORMAT, "generator": "android_demo/tools/write_golden.py", "reference": reference(), "cases": out}
