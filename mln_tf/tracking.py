"""People keep their identity across frames, and their keypoints stop shaking. NumPy (+ SciPy's assignment).

    from mln_tf.tracking import PoseTracker

    tracker = PoseTracker()
    for t_ms, poses in frames:               # time stamps in ms: frame index / fps, or capture time
        tracked = tracker.update(poses, t_ms)  # Poses, same people and order
        tracked.ids, tracked.keypoints      # (P,) int64 IDs (-1: untracked), (P, 18, 3) smoothed

One frame, in this order (the Java and JavaScript ports follow it step by step, held to it by
golden sequences; ``android_demo/tools/write_golden.py`` writes them):

1. Input: a part counts when its score > ``part_threshold``, x, y, score are finite (in
   float32, what ``Poses`` hold) and |x|, |y| <= ``MAX_COORD_PX`` (other parts become (0, 0, 0),
   i.e. missing). A time stamp that does not increase (repeats, goes back, NaN), or lies beyond
   +-``MAX_TIME_MS`` (where 1 ms more is no longer a different number), is taken as the previous
   one plus ``MIN_STEP_MS`` (the first as 0), so filters never see dt <= 0; a step shorter than
   ``MIN_STEP_MS`` counts as that step in the velocity too. These bounds keep every state finite
   (found by fuzzing: a time stamp of 1e308, a coordinate of 1e300).
2. Tracks unseen for more than ``max_age_ms`` end; their IDs are never given again.
3. Prediction: each track's parts move with the track's velocity (px/ms, low-passed at
   ``velocity_cutoff`` from its matched frames) from its last sighting to now, so people
   crossing or hidden for a while are looked for where they went; they are also looked for
   where they were last seen (a person who stopped or turned while hidden): the better of the two.
4. Similarity: COCO's OKS on 18 parts (``mln_tf.oks``) between a track's parts and a
   person's, averaged over the person's parts (a part the track never saw counts 0, so a
   track born from a fragment of someone cannot outscore that person's own track). The OKS
   area is the track's: its parts' box (w * h) at its last sighting, shrinking at most by half
   per ``AREA_HALF_LIFE_S`` (a box shrinks at once when part of the person leaves the frame,
   a person does not), and growing with the time unseen by ``(1 + search_growth * s)^2``. A
   pair is allowed when it shares at least ``min(min_shared_parts, the person's parts)`` parts
   and its OKS >= ``min_similarity``.
5. Assignment over all pairs at once (Hungarian, ``scipy.optimize.linear_sum_assignment``):
   the most allowed pairs, then the most agreeing parts in all (the sum of OKS terms, so a
   whole person beats a three-part fragment of it), so in a crowd a lower-scored person cannot
   lose its own track to a higher-scored neighbour as it can with greedy matching in score order.
6. Matched tracks: per part and axis, a One Euro filter (Casiez et al., CHI 2012) with the
   real time step since that part was last seen, run in the frame moving with the person
   (it starts from where the track's velocity carries the part, so steady walking adds no
   lag, and only motion relative to the body opens the filter). The filter's speed is measured in person
   sizes per second (size = sqrt(area)), so one set of parameters works at any resolution
   and distance, and bounded by ``max_speed`` so that an outlier jump cannot open the filter
   wide. A part the track did not have at its last sighting starts fresh (at its new
   place, speed 0) instead of being dragged from where it was seen before.
7. People left over with at least ``min_shared_parts`` parts start new tracks in input
   (score) order; with fewer they get ID -1 and their raw keypoints (a tracked person seen
   with fewer parts keeps its track through step 5). At ``max_tracks`` live tracks the
   longest-unseen track not matched in this frame makes room; if none can, ID -1.

Output keeps the input's people in the input's order; only coordinates of present parts
change (float, never rounded), scores are the detector's.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from mln_tf import skeleton
from mln_tf.oks import oks_terms
from mln_tf.poses import Poses

log = logging.getLogger(__name__)

MIN_STEP_MS = 1.0  # the step taken for a time stamp that does not increase
MAX_TIME_MS = 1e15  # time stamps beyond +-this (31,700 years) are taken as not increasing
MAX_COORD_PX = 1e9  # a part further out than this (pixels) is missing
AREA_HALF_LIFE_S = 1.0  # a track's area halves at most this fast (s)
NO_MATCH_COST = 1e6  # cost of a disallowed pair: far above any number of allowed ones (each <= 1)


@dataclass(frozen=True)
class SmoothingConfig:
    """One Euro filter parameters (defaults chosen on the synthetic sequences, docs/tracking.md).

    ``min_cutoff`` (Hz): the cutoff of a still part (lower = steadier, more lag when it starts
    moving); ``beta`` (per person-size/s): how fast the cutoff opens with speed (higher = less
    lag on fast motion, more jitter); ``d_cutoff`` (Hz): the cutoff of the speed estimate;
    ``max_speed`` (person sizes/s): the most speed the cutoff responds to.
    """

    min_cutoff: float = 1.0
    beta: float = 2.0
    d_cutoff: float = 1.0
    max_speed: float = 4.0

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "d_cutoff", "max_speed"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"SmoothingConfig.{name} must be a positive number, got {value!r}")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"SmoothingConfig.beta must be >= 0, got {self.beta!r}")


DEFAULT_SMOOTHING = SmoothingConfig()


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker parameters (defaults chosen on the synthetic sequences, docs/tracking.md).

    ``smoothing=None`` keeps the detector's keypoints (IDs only).
    """

    min_similarity: float = 0.2
    min_shared_parts: int = 3
    part_threshold: float = 0.0
    max_age_ms: float = 1500.0
    max_tracks: int = 64
    velocity_cutoff: float = 4.0  # Hz: low-pass of the track velocity used for prediction
    search_growth: float = 2.0  # per second unseen: how fast a track's OKS scale (sqrt area) grows
    smoothing: SmoothingConfig | None = field(default_factory=SmoothingConfig)

    def __post_init__(self) -> None:
        if not (0.0 <= self.min_similarity <= 1.0):
            raise ValueError(f"TrackerConfig.min_similarity must be in [0, 1], got {self.min_similarity!r}")
        if not (isinstance(self.min_shared_parts, int) and 1 <= self.min_shared_parts <= skeleton.NUM_PARTS):
            raise ValueError(f"TrackerConfig.min_shared_parts must be 1..18, got {self.min_shared_parts!r}")
        if not math.isfinite(self.part_threshold):
            raise ValueError(f"TrackerConfig.part_threshold must be finite, got {self.part_threshold!r}")
        if not (self.max_age_ms >= 0 and math.isfinite(self.max_age_ms)):
            raise ValueError(f"TrackerConfig.max_age_ms must be >= 0, got {self.max_age_ms!r}")
        if not (isinstance(self.max_tracks, int) and self.max_tracks >= 1):
            raise ValueError(f"TrackerConfig.max_tracks must be a positive int, got {self.max_tracks!r}")
        if not (self.search_growth >= 0 and math.isfinite(self.search_growth)):
            raise ValueError(f"TrackerConfig.search_growth must be >= 0, got {self.search_growth!r}")
        if not (self.velocity_cutoff > 0 and math.isfinite(self.velocity_cutoff)):
            raise ValueError(f"TrackerConfig.velocity_cutoff must be positive, got {self.velocity_cutoff!r}")
        if self.smoothing is not None and not isinstance(self.smoothing, SmoothingConfig):
            raise ValueError("TrackerConfig.smoothing must be a SmoothingConfig or None")


def smoothing_alpha(cutoff: np.ndarray | float, dt_s: np.ndarray | float) -> np.ndarray | float:
    """The exponential smoothing factor of a first-order low-pass at ``cutoff`` Hz over ``dt_s`` seconds."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt_s)


def box_area(xy: np.ndarray, present: np.ndarray) -> np.ndarray:
    """w * h of the box around the present parts, per person: (..., 18, 2), (..., 18) -> (...); 0 without parts."""
    big = np.where(present[..., None], xy, np.inf)
    small = np.where(present[..., None], xy, -np.inf)
    lo, hi = big.min(axis=-2), small.max(axis=-2)
    wh = np.where(np.isfinite(lo) & np.isfinite(hi), hi - lo, 0.0)
    return wh[..., 0] * wh[..., 1]


def oks_matrix(
    track_xy: np.ndarray, track_known: np.ndarray, track_area: np.ndarray, xy: np.ndarray, present: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(OKS, shared part count, sum of the shared parts' OKS terms), each (T, N): tracks' parts vs people's.

    The OKS is the mean over the person's parts, a part the track never saw counting 0, so that a
    track born from a fragment of a person (legs only) does not outscore the person's own track.
    """
    terms = oks_terms(track_xy[:, None], xy[None], track_area[:, None])  # (T, N, 18), the track's area
    shared = track_known[:, None] & present[None]
    count = np.count_nonzero(shared, axis=-1)
    total = np.einsum("tnk,tnk->tn", terms, shared.astype(np.float64))
    return total / np.maximum(present.sum(axis=-1), 1)[None, :], count, total


def assign(agreement: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tracks, people) index arrays: the most allowed pairs, then the most agreeing parts (sum of OKS terms)."""
    if not allowed.any():
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    from scipy.optimize import linear_sum_assignment

    cost = np.where(allowed, skeleton.NUM_PARTS - agreement, NO_MATCH_COST)
    rows, cols = linear_sum_assignment(cost)
    keep = allowed[rows, cols]
    return rows[keep], cols[keep]


class PoseTracker:
    """Gives each person a lasting ID and smooths its keypoints; feed frames in time order with ``update``."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.next_id = 0
        self.time_ms: float | None = None
        self._warned_time = False
        n = skeleton.NUM_PARTS
        self.ids = np.zeros((0,), np.int64)
        self.last_ms = np.zeros((0,), np.float64)  # last sighting
        self.area = np.zeros((0,), np.float64)
        self.velocity = np.zeros((0, 2), np.float64)  # px/ms
        self.raw = np.zeros((0, n, 2), np.float64)  # last detected position per part
        self.xy = np.zeros((0, n, 2), np.float64)  # One Euro state: filtered position
        self.dxy = np.zeros((0, n, 2), np.float64)  # One Euro state: filtered speed, px/s
        self.part_ms = np.zeros((0, n), np.float64)  # when each part was last seen
        self.known = np.zeros((0, n), bool)  # the part was ever seen
        self.present = np.zeros((0, n), bool)  # the part was seen at the track's last sighting

    def __len__(self) -> int:
        return len(self.ids)

    def reset(self) -> None:
        """Forget every track (a new video); IDs keep counting up."""
        next_id = self.next_id
        self.__init__(self.config)
        self.next_id = next_id

    def _time(self, t_ms: float) -> float:
        try:
            t = float(t_ms)
        except (TypeError, ValueError):
            raise ValueError(f"t_ms must be a time stamp in ms, got {t_ms!r}") from None
        if not abs(t) <= MAX_TIME_MS:  # NaN, infinite or absurd: no real step
            t = math.nan
        if self.time_ms is not None and not (t > self.time_ms):  # repeats, goes back, or NaN
            if not self._warned_time:
                log.warning(
                    "frame time %s ms does not increase or is no time stamp (previous %s ms); taking it as %s ms later",
                    t_ms,
                    self.time_ms,
                    MIN_STEP_MS,
                )
                self._warned_time = True
            t = self.time_ms + MIN_STEP_MS
        elif self.time_ms is None and not math.isfinite(t):
            t = 0.0
        self.time_ms = t
        return t

    def update(self, poses: Poses | np.ndarray, t_ms: float) -> Poses:
        """One frame's people (``Poses`` or a (P, 18, 3) array) at ``t_ms``, with IDs and smoothed keypoints."""
        cfg = self.config
        keypoints, scores = _as_arrays(poses)
        with np.errstate(over="ignore"):  # beyond float32's range is not finite in a Poses
            finite = np.isfinite(keypoints.astype(np.float32)).all(axis=-1)
        finite &= (np.abs(np.where(finite[..., None], keypoints[..., :2], 0.0)) <= MAX_COORD_PX).all(axis=-1)
        present = finite & (np.where(finite, keypoints[..., 2], 0.0) > cfg.part_threshold)
        keypoints = np.where(finite[..., None], keypoints, 0.0)
        xy = keypoints[..., :2]
        t = self._time(t_ms)

        # 2. tracks that ended
        alive = (t - self.last_ms) <= cfg.max_age_ms
        if not alive.all():
            self._keep(alive)

        # 3-5. predict, compare, assign
        n_people = len(keypoints)
        parts = present.sum(axis=-1)
        rows = cols = np.zeros(0, np.intp)
        if len(self) and n_people:
            gap = t - self.last_ms
            predicted = self.xy + self.velocity[:, None, :] * gap[:, None, None]
            # the longer a track is unseen, the less sure where it is: its OKS scale grows with the gap
            area = self.area * (1.0 + cfg.search_growth * gap / 1000.0) ** 2
            # and where it was last seen: a person who stopped or turned while unseen is found there
            both, shared, total = oks_matrix(
                np.concatenate([predicted, self.xy]),
                np.concatenate([self.known, self.known]),
                np.concatenate([area, area]),
                xy,
                present,
            )
            t_count = len(self)
            similarity = np.maximum(both[:t_count], both[t_count:])
            agreement = np.maximum(total[:t_count], total[t_count:])
            shared = shared[:t_count]
            needed = np.maximum(np.minimum(cfg.min_shared_parts, parts), 1)[None, :]
            allowed = (shared >= needed) & (similarity >= cfg.min_similarity)
            rows, cols = assign(agreement, allowed)

        ids = np.full((n_people,), -1, np.int64)
        out = np.where(present[..., None], keypoints, 0.0).astype(np.float32)
        if len(rows):
            self._follow(rows, xy[cols], present[cols], t)
            ids[cols] = self.ids[rows]
            if cfg.smoothing is not None:
                smoothed = self.xy[rows].astype(np.float32)
                out[cols, :, :2] = np.where(present[cols][..., None], smoothed, out[cols, :, :2])

        # 7. new tracks
        used = np.zeros(len(self), bool)
        used[rows] = True
        # people with too few parts start no track (no size to compare with): ID -1
        for person in np.flatnonzero((ids < 0) & (parts >= cfg.min_shared_parts)):
            if len(self) >= cfg.max_tracks:
                free = np.flatnonzero(~used)
                if not len(free):
                    continue
                keep = np.ones(len(self), bool)
                keep[free[np.argmin(self.last_ms[free])]] = False  # the longest unseen (first of equals)
                self._keep(keep)
                used = used[keep]
            ids[person] = self._start(xy[person], present[person], t)
            used = np.append(used, True)
        return Poses(out, scores, ids)

    def _keep(self, mask: np.ndarray) -> None:
        for name in ("ids", "last_ms", "area", "velocity", "raw", "xy", "dxy", "part_ms", "known", "present"):
            setattr(self, name, getattr(self, name)[mask])

    def _start(self, xy: np.ndarray, present: np.ndarray, t: float) -> int:
        track_id = self.next_id
        self.next_id += 1
        p = present[None]
        pos = np.where(p[..., None], xy[None], 0.0)
        self.ids = np.append(self.ids, track_id)
        self.last_ms = np.append(self.last_ms, t)
        self.area = np.append(self.area, box_area(xy, present))
        self.velocity = np.concatenate([self.velocity, np.zeros((1, 2))])
        self.raw = np.concatenate([self.raw, pos])
        self.xy = np.concatenate([self.xy, pos])
        self.dxy = np.concatenate([self.dxy, np.zeros_like(pos)])
        self.part_ms = np.concatenate([self.part_ms, np.where(p, t, 0.0)])
        self.known = np.concatenate([self.known, p])
        self.present = np.concatenate([self.present, p])
        return track_id

    def _follow(self, rows: np.ndarray, xy: np.ndarray, present: np.ndarray, t: float) -> None:
        """Steps 6 and the track's velocity, area and memory, for the tracks ``rows`` matched to ``xy``."""
        cfg = self.config
        smoothing = cfg.smoothing or DEFAULT_SMOOTHING  # without smoothing the state still follows (prediction)
        # track velocity (for prediction) from the parts seen both now and at the last sighting
        cont = present & self.present[rows]  # parts that continue: seen now and at the last sighting
        c = cont[..., None]
        p = present[..., None]
        gap_ms = t - self.last_ms[rows]
        raw = self.raw[rows]
        moved = np.where(c, xy - raw, 0.0).sum(axis=1)
        count = cont.sum(axis=1)
        velocity = self.velocity[rows]
        observed = moved / np.maximum(count, 1)[:, None] / np.maximum(gap_ms, MIN_STEP_MS)[:, None]
        a_v = smoothing_alpha(cfg.velocity_cutoff, gap_ms / 1000.0)[:, None]
        velocity += np.where((count > 0)[:, None], a_v * (observed - velocity), 0.0)
        self.velocity[rows] = velocity

        # area (person size): the box of this sighting, but shrinking at most by AREA_HALF_LIFE_S, since a
        # box shrinks at once when part of the person is hidden or outside the frame and a person does not
        area = np.maximum(box_area(xy, present), self.area[rows] * 0.5 ** (gap_ms / 1000.0 / AREA_HALF_LIFE_S))
        self.area[rows] = area
        size = np.maximum(np.sqrt(area), 1.0)[:, None, None]

        # One Euro per part and axis, real time steps, in the frame moving with the person: the filter
        # starts from where the track's velocity carries the part, so steady walking adds no lag
        dt = np.maximum((t - self.part_ms[rows]) / 1000.0, MIN_STEP_MS / 1000.0)[..., None]
        x_prev, dx_prev = self.xy[rows], self.dxy[rows]
        x_pred = x_prev + velocity[:, None, :] * (1000.0 * dt)
        a_d = smoothing_alpha(smoothing.d_cutoff, dt)
        dx = dx_prev + a_d * ((xy - x_pred) / dt - dx_prev)
        speed = np.minimum(np.abs(dx) / size, smoothing.max_speed)
        a = smoothing_alpha(smoothing.min_cutoff + smoothing.beta * speed, dt)
        x = x_pred + a * (xy - x_pred)
        self.xy[rows] = np.where(c, x, np.where(p, xy, x_prev))
        self.dxy[rows] = np.where(c, dx, np.where(p, 0.0, dx_prev))
        self.raw[rows] = np.where(p, xy, raw)
        self.part_ms[rows] = np.where(present, t, self.part_ms[rows])
        self.known[rows] |= present
        self.present[rows] = present
        self.last_ms[rows] = t


def _as_arrays(poses: Poses | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(poses, Poses):
        keypoints, scores = poses.keypoints, poses.scores
    else:
        keypoints = poses
        scores = None
    kp = np.asarray(keypoints, np.float64)
    if kp.size == 0:
        kp = kp.reshape(0, skeleton.NUM_PARTS, 3)
    if kp.ndim != 3 or kp.shape[1:] != (skeleton.NUM_PARTS, 3):
        raise ValueError(f"keypoints must be (people, 18, 3), got {kp.shape}")
    sc = np.zeros((len(kp),), np.float32) if scores is None else np.asarray(scores, np.float32).reshape(-1)
    if len(sc) != len(kp):
        raise ValueError(f"{len(kp)} people but {len(sc)} scores")
    return kp, sc
