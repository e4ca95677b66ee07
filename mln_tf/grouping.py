"""Joint grouping (paper section 2.4): from heatmaps and PAFs to people. NumPy only.

The one decoder shared by the server, the export checks and (ported line by line to Java,
checked by golden vectors) the phone. Maps must be finite (NaN or infinity is a
ValueError); ``group_people`` clips them to +-``MAP_LIMIT`` (1e6: a network's maps are
O(1)) so that absurd values cannot overflow. Steps, all on the maps' own pixel grid:

1. Peaks: per part channel, pixels that are a maximum of their 3x3 neighbourhood in the
   heatmap smoothed by a separable Gaussian of ``smooth_sigma`` map pixels (edges
   replicated; ties: a pixel must be >= its four neighbours before it in raster order and
   > the four after it, so a plateau gives one peak) and whose *raw* value exceeds
   ``peak_threshold``. The smoothing (default half the width of the ~1 map pixel Gaussian
   the network was trained to draw) removes the network's pixel noise, which otherwise
   splits one joint into two peaks, and steadies the sub-pixel fit; but it also lowers
   small, weak peaks (a sigma-1 Gaussian loses 20% of its height), so the threshold and
   the peak's score use the network's own value at the peak pixel. Optional sub-pixel
   refinement fits a parabola through each peak and its two neighbours along x and along y
   in the smoothed map (offset clipped to 0.5). At most ``max_peaks`` per part are kept
   (highest raw value first). A peak's score is its raw heatmap value, so it always
   exceeds ``peak_threshold``: score > 0 means "present".
2. Pair scoring, eq. 6: for every candidate pair (a, b) of a limb's parts, sample
   ``samples`` points evenly on the segment a -> b (both ends included), read the limb's PAF
   there by bilinear interpolation, project on the segment's unit vector and average.
   A pair is a candidate connection when at least ``min_fraction`` of the projections exceed
   ``paf_threshold`` and the average plus the distance prior
   ``min(0, distance_prior * map_height / length - 1)`` (CMU's, which penalises limbs
   longer than half the map height; 0 disables) is positive.
3. Greedy assembly: per limb, connections in descending score, each joint used once per
   limb; then, limb by limb in ``skeleton.LIMBS`` order, connections that share a joint
   are merged into people (two partial people merge when they have no part in common;
   the shoulder -> ear limbs 17 and 18 only extend people, never start one). A person's
   total is the sum of its peak scores and connection scores; people with fewer than
   ``min_parts`` parts or a mean total / parts below ``min_mean_score`` are dropped. A
   person's score (``Poses.scores``, which ranks people for COCO's AP) is that mean times
   the square root of the person's extent, sqrt((x_max - x_min + 1) * (y_max - y_min + 1))
   over its parts in map pixels: OKS tolerates errors in proportion to a person's size,
   while the maps locate parts to a fixed fraction of a map pixel, so among equally strong
   people the larger is likelier to be right.

Everything is deterministic: ties are broken by candidate order (part-major, raster order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mln_tf import skeleton
from mln_tf.poses import Poses  # re-exported: its home was here

MAP_LIMIT = 1e6  # map values are clipped to [-MAP_LIMIT, MAP_LIMIT] before grouping
MAX_SMOOTH_SIGMA = 100.0  # map pixels; a larger one (fuzzed: 1e30) asked for a kernel of 6e30 taps


@dataclass(frozen=True)
class GroupingConfig:
    """Decoder parameters (defaults chosen on the 40 real-map images of data/peers, both sets)."""

    peak_threshold: float = 0.05
    smooth_sigma: float = 0.5
    refine_peaks: bool = True
    max_peaks: int = 64
    samples: int = 10
    paf_threshold: float = 0.05
    min_fraction: float = 0.8
    distance_prior: float = 0.5
    min_parts: int = 3
    min_mean_score: float = 0.4

    def __post_init__(self) -> None:
        if not self.peak_threshold >= 0:  # a part's score is its peak's value: > 0 must mean present
            raise ValueError("peak_threshold must be >= 0")
        if self.samples < 2:
            raise ValueError("samples (D of eq. 6) must be >= 2")
        if self.max_peaks < 1 or self.min_parts < 1:
            raise ValueError("max_peaks and min_parts must be >= 1")
        if not 0 <= self.smooth_sigma <= MAX_SMOOTH_SIGMA:  # its kernel has 6 sigma + 1 taps
            raise ValueError(f"smooth_sigma must be in [0, {MAX_SMOOTH_SIGMA:g}] map pixels (0 disables smoothing)")
        if not 0.0 <= self.min_fraction <= 1.0:
            raise ValueError("min_fraction must be in [0, 1]")


@dataclass(frozen=True)
class Peaks:
    """Candidate joints of all parts, part-major: part, x, y, score (K,) each."""

    part: np.ndarray
    x: np.ndarray
    y: np.ndarray
    score: np.ndarray


def _check_maps(heatmaps: np.ndarray, pafs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hm = np.asarray(heatmaps, np.float32)
    pf = np.asarray(pafs, np.float32)
    if hm.ndim != 3 or hm.shape[-1] not in (skeleton.NUM_PARTS, skeleton.NUM_HEATMAPS):
        raise ValueError(f"heatmaps must be (h, w, 18 or 19), got {hm.shape}")
    if pf.shape != hm.shape[:2] + (skeleton.NUM_PAFS,):
        raise ValueError(f"pafs must be (h, w, 38) matching heatmaps {hm.shape[:2]}, got {pf.shape}")
    if not (np.isfinite(hm).all() and np.isfinite(pf).all()):
        raise ValueError("heatmaps/pafs contain NaN or infinity")
    # A network's maps are O(1); clipping keeps sums of absurd (fuzzed) values finite.
    return np.clip(hm, -MAP_LIMIT, MAP_LIMIT), np.clip(pf, -MAP_LIMIT, MAP_LIMIT)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps (float32) of radius ceil(3 sigma)."""
    radius = int(np.ceil(3.0 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1, dtype=np.float64) / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def smooth(maps: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of (h, w, C) maps, x pass then y pass, edges replicated.

    Each pass accumulates ``taps[i] * shifted`` in float32 for i = 0..2r, the order the
    Java port follows.
    """
    if sigma <= 0:
        return np.asarray(maps, np.float32)
    taps = gaussian_kernel(sigma)
    r = len(taps) // 2
    out = np.asarray(maps, np.float32)
    h, w = out.shape[:2]
    padded = np.concatenate([np.repeat(out[:, :1], r, 1), out, np.repeat(out[:, -1:], r, 1)], 1)
    acc = taps[0] * padded[:, 0:w]
    for i in range(1, len(taps)):
        acc += taps[i] * padded[:, i : i + w]
    padded = np.concatenate([np.repeat(acc[:1], r, 0), acc, np.repeat(acc[-1:], r, 0)], 0)
    out = taps[0] * padded[0:h]
    for i in range(1, len(taps)):
        out += taps[i] * padded[i : i + h]
    return out


def find_peaks(heatmaps: np.ndarray, config: GroupingConfig = GroupingConfig()) -> Peaks:
    """3x3 maxima of the smoothed 18 part channels whose raw value passes the threshold (step 1)."""
    raw = np.ascontiguousarray(np.asarray(heatmaps, np.float32)[..., : skeleton.NUM_PARTS].transpose(2, 0, 1))
    parts, h, w = raw.shape
    hm = np.ascontiguousarray(smooth(raw.transpose(1, 2, 0), config.smooth_sigma).transpose(2, 0, 1))
    pad = np.full((parts, h + 2, w + 2), -np.inf, np.float32)
    pad[:, 1:-1, 1:-1] = hm
    # Ties: >= the four neighbours before a pixel in raster order, > the four after it.
    is_peak = raw > config.peak_threshold
    for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):
        is_peak &= hm >= pad[:, 1 + dy : h + 1 + dy, 1 + dx : w + 1 + dx]
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        is_peak &= hm > pad[:, 1 + dy : h + 1 + dy, 1 + dx : w + 1 + dx]
    part, y, x = np.nonzero(is_peak)
    score = raw[part, y, x]
    if len(part) and np.bincount(part).max() > config.max_peaks:
        order = np.lexsort((-score, part))  # stable: part, then score desc, then raster
        rank = np.arange(len(order)) - np.searchsorted(part[order], part[order])
        keep = np.sort(order[rank < config.max_peaks])
        part, y, x, score = part[keep], y[keep], x[keep], score[keep]
    fx, fy = x.astype(np.float32), y.astype(np.float32)
    if config.refine_peaks and len(part):
        centre = hm[part, y, x]  # the fit reads the smoothed map: less jitter from map noise
        fx = fx + _parabola_offset(pad[part, y + 1, x], centre, pad[part, y + 1, x + 2])
        fy = fy + _parabola_offset(pad[part, y, x + 1], centre, pad[part, y + 2, x + 1])
    return Peaks(part.astype(np.int32), fx, fy, score.astype(np.float32))


def _parabola_offset(before: np.ndarray, centre: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Vertex of the parabola through (-1, before), (0, centre), (1, after), in [-0.5, 0.5]."""
    valid = np.isfinite(before) & np.isfinite(after)
    b = np.where(valid, before, centre)
    a = np.where(valid, after, centre)
    curvature = b - 2.0 * centre + a
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (b - a) / curvature, 0.0)
    return np.clip(offset, -0.5, 0.5).astype(np.float32)


def _bilinear(channel_maps: np.ndarray, x: np.ndarray, y: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """Sample maps (h, w, C) at float (x, y) in channel ``channel`` (broadcast), edges clamped."""
    h, w, c = channel_maps.shape
    x = np.clip(x, 0.0, w - 1.0)
    y = np.clip(y, 0.0, h - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2) if w > 1 else np.zeros(x.shape, np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2) if h > 1 else np.zeros(y.shape, np.int64)
    fx, fy = x - x0, y - y0
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    flat = channel_maps.reshape(-1)
    top = flat[(y0 * w + x0) * c + channel] * (1 - fx) + flat[(y0 * w + x1) * c + channel] * fx
    bottom = flat[(y1 * w + x0) * c + channel] * (1 - fx) + flat[(y1 * w + x1) * c + channel] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


@dataclass(frozen=True)
class Connections:
    """Candidate connections (step 2): limb, peak ids a and b, score (M,) each."""

    limb: np.ndarray
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray


def score_pairs(peaks: Peaks, pafs: np.ndarray, config: GroupingConfig = GroupingConfig()) -> Connections:
    """Eq. 6 for every candidate pair of every limb; keeps pairs that pass the criteria."""
    pafs = np.asarray(pafs, np.float32)
    h = pafs.shape[0]
    starts = np.searchsorted(peaks.part, np.arange(skeleton.NUM_PARTS + 1))
    limb_ids, a_ids, b_ids = [], [], []
    for k, (pa, pb) in enumerate(skeleton.LIMBS):
        ia = np.arange(starts[pa], starts[pa + 1])
        ib = np.arange(starts[pb], starts[pb + 1])
        if len(ia) and len(ib):
            limb_ids.append(np.full(len(ia) * len(ib), k))
            a_ids.append(np.repeat(ia, len(ib)))
            b_ids.append(np.tile(ib, len(ia)))
    if not limb_ids:
        empty = np.zeros(0, np.int64)
        return Connections(empty, empty, empty, np.zeros(0, np.float32))
    limb, a, b = np.concatenate(limb_ids), np.concatenate(a_ids), np.concatenate(b_ids)
    dx, dy = peaks.x[b] - peaks.x[a], peaks.y[b] - peaks.y[a]
    length = np.hypot(dx, dy)
    keep = length > 1e-6
    limb, a, b, dx, dy, length = limb[keep], a[keep], b[keep], dx[keep], dy[keep], length[keep]
    ux, uy = dx / length, dy / length
    t = np.linspace(0.0, 1.0, config.samples, dtype=np.float32)
    sx = peaks.x[a, None] + t * dx[:, None]  # (M, D) sample points
    sy = peaks.y[a, None] + t * dy[:, None]
    channels = np.asarray(skeleton.PAF_CHANNELS)[limb]
    vx = _bilinear(pafs, sx, sy, channels[:, 0, None])
    vy = _bilinear(pafs, sx, sy, channels[:, 1, None])
    proj = vx * ux[:, None] + vy * uy[:, None]
    score = proj.mean(axis=1)
    if config.distance_prior > 0:
        score = score + np.minimum(0.0, config.distance_prior * h / length - 1.0)
    fraction = (proj > config.paf_threshold).mean(axis=1)
    ok = (fraction >= config.min_fraction) & (score > 0)
    return Connections(limb[ok], a[ok], b[ok], score[ok].astype(np.float32))


def assemble(peaks: Peaks, connections: Connections, config: GroupingConfig = GroupingConfig()) -> Poses:
    """Greedy matching per limb and merging into people (step 3)."""
    if len(connections.score) == 0:
        return Poses.empty()
    # Per limb, best connection first; stable, so equal scores keep candidate order.
    order = np.lexsort((-connections.score, connections.limb))
    limb_l = connections.limb[order].tolist()
    a_l, b_l = connections.a[order].tolist(), connections.b[order].tolist()
    s_l = connections.score[order].tolist()
    peak_score = peaks.score.tolist()
    limb_parts = skeleton.LIMBS
    new_person_limbs = skeleton.NUM_LIMBS - 2  # shoulder -> ear limbs never start a person

    people: list[list] = []  # [parts (18 peak ids, -1 = none), score, count] or None (merged)
    owner: dict[int, int] = {}  # peak id -> person index
    used_a: set[int] = set()
    used_b: set[int] = set()
    current = -1
    for k, a, b, s in zip(limb_l, a_l, b_l, s_l):
        if k != current:
            current, used_a, used_b = k, set(), set()
        if a in used_a or b in used_b:
            continue
        used_a.add(a)
        used_b.add(b)
        part_a, part_b = limb_parts[k]
        pa, pb = owner.get(a), owner.get(b)
        if pa is None and pb is None:
            if k < new_person_limbs:
                parts = [-1] * skeleton.NUM_PARTS
                parts[part_a], parts[part_b] = a, b
                people.append([parts, peak_score[a] + peak_score[b] + s, 2])
                owner[a] = owner[b] = len(people) - 1
        elif pa is not None and pb is not None:
            if pa != pb:
                p1, p2 = people[pa], people[pb]
                if all(x < 0 or y < 0 for x, y in zip(p1[0], p2[0])):
                    for j, peak in enumerate(p2[0]):
                        if peak >= 0:
                            p1[0][j] = peak
                            owner[peak] = pa
                    p1[1] += p2[1] + s
                    p1[2] += p2[2]
                    people[pb] = None
        else:
            person, free_part, free_peak = (pa, part_b, b) if pa is not None else (pb, part_a, a)
            p = people[person]
            if p[0][free_part] < 0:
                p[0][free_part] = free_peak
                p[1] += peak_score[free_peak] + s
                p[2] += 1
                owner[free_peak] = person

    kept = [p for p in people if p is not None and p[2] >= config.min_parts and p[1] / p[2] >= config.min_mean_score]
    if not kept:
        return Poses.empty()
    ids = np.array([p[0] for p in kept], np.int64)  # (P, 18)
    scores = np.array([p[1] / p[2] * _size_factor(peaks, p[0]) for p in kept], np.float32)
    present = ids >= 0
    safe = np.where(present, ids, 0)
    keypoints = np.stack([peaks.x[safe], peaks.y[safe], peaks.score[safe]], axis=-1)
    keypoints = np.where(present[..., None], keypoints, 0.0).astype(np.float32)
    rank = np.argsort(-scores, kind="stable")
    return Poses(keypoints[rank], scores[rank])


def _size_factor(peaks: Peaks, parts: list[int]) -> float:
    """sqrt of the person's extent, sqrt(box width * box height) in map pixels (each side + 1).

    COCO's OKS tolerates errors in proportion to a person's size while the maps locate
    parts to a fixed fraction of a map pixel, so a larger person is likelier to be right.
    """
    ids = [i for i in parts if i >= 0]
    xs = [float(peaks.x[i]) for i in ids]
    ys = [float(peaks.y[i]) for i in ids]
    return math.sqrt(math.sqrt((max(xs) - min(xs) + 1.0) * (max(ys) - min(ys) + 1.0)))


def group_people(heatmaps: np.ndarray, pafs: np.ndarray, config: GroupingConfig = GroupingConfig()) -> Poses:
    """Heatmaps (h, w, 19) and PAFs (h, w, 38) -> people in the maps' pixel coordinates."""
    hm, pf = _check_maps(heatmaps, pafs)
    peaks = find_peaks(hm, config)
    return assemble(peaks, score_pairs(peaks, pf, config), config)
