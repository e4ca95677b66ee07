"""How well IDs and smoothing follow known answers: CLEAR MOT (MOTA, ID switches), IDF1, jitter and lag.

Distance between a labelled person and an output person is ``1 - OKS`` (COCO's, on the parts
the label has, a missing output part counting 0; area from the label); they can match when
OKS >= ``threshold`` (0.5). The per-frame matching is CLEAR MOT's (Bernardin & Stiefelhagen
2008, as ``motmetrics`` does it): last frame's pairs are kept while still within the
threshold, the rest are assigned by the Hungarian method; a labelled person matched to an
ID other than its last one is an ID switch. IDF1 (Ristani et al. 2016) matches label IDs to
output IDs once for the whole sequence, maximising the frames they agree on.

A sequence is a list of frames; a frame is a :class:`Frame` of labelled or output people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from mln_tf.oks import oks


@dataclass(frozen=True)
class Frame:
    """People in one frame: ``ids`` (P,), ``keypoints`` (P, 18, 3) (score/visibility 0 = missing), ``areas`` (P,)."""

    ids: np.ndarray
    keypoints: np.ndarray
    areas: np.ndarray | None = None  # labels only: the OKS area of each person


@dataclass(frozen=True)
class MotResult:
    """CLEAR MOT and identity figures of one or more sequences."""

    mota: float
    idf1: float
    id_switches: int
    misses: int
    false_positives: int
    matches: int
    labelled: int  # labelled person-frames
    output: int  # output person-frames (untracked, id -1, included)

    def switches_per_1000(self) -> float:
        """ID switches per 1,000 labelled person-frames."""
        return 1000.0 * self.id_switches / max(self.labelled, 1)


def oks_similarity(labels: Frame, output: Frame) -> np.ndarray:
    """(G, H) OKS of every output person to every labelled one (0 where the label has no parts)."""
    g = np.asarray(labels.keypoints, np.float64)
    h = np.asarray(output.keypoints, np.float64)
    if not len(g) or not len(h):
        return np.zeros((len(g), len(h)))
    areas = np.asarray(labels.areas, np.float64)[:, None]
    return oks(h[None], g[:, None], areas, detected=h[None, :, :, 2] > 0)[0]


def frame_matches(
    labels: Frame, output: Frame, last: dict[int, int], threshold: float = 0.5
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """CLEAR MOT's pairs (label index, output index) of one frame, given ``last`` label ID -> output ID."""
    sim = oks_similarity(labels, output)
    ok = sim >= threshold
    pairs = []
    taken_g, taken_h = set(), set()
    out_index = {int(i): k for k, i in enumerate(output.ids) if i >= 0}
    for gi, gid in enumerate(labels.ids):
        hid = last.get(int(gid))
        hi = out_index.get(hid) if hid is not None else None
        if hi is not None and ok[gi, hi]:
            pairs.append((gi, hi))
            taken_g.add(gi)
            taken_h.add(hi)
    rest_g = [i for i in range(len(labels.ids)) if i not in taken_g]
    rest_h = [i for i in range(len(output.ids)) if i not in taken_h]
    if rest_g and rest_h:
        sub = ok[np.ix_(rest_g, rest_h)]
        if sub.any():
            cost = np.where(sub, 1.0 - sim[np.ix_(rest_g, rest_h)], 1e6)
            for r, c in zip(*linear_sum_assignment(cost)):
                if sub[r, c]:
                    pairs.append((rest_g[r], rest_h[c]))
    return pairs, sim


def mot_metrics(sequences: list[tuple[list[Frame], list[Frame]]], threshold: float = 0.5) -> MotResult:
    """MOTA, IDF1 and ID switches over sequences of (label frames, output frames) of equal length."""
    switches = misses = fps = matches = labelled = output = 0
    idtp = 0
    for labels_seq, output_seq in sequences:
        if len(labels_seq) != len(output_seq):
            raise ValueError(f"{len(labels_seq)} label frames but {len(output_seq)} output frames")
        last: dict[int, int] = {}
        agree: dict[tuple[int, int], int] = {}
        for labels, out in zip(labels_seq, output_seq):
            pairs, sim = frame_matches(labels, out, last, threshold)
            for gi, hi in pairs:
                gid, hid = int(labels.ids[gi]), int(out.ids[hi])
                if gid in last and last[gid] != hid:
                    switches += 1
                last[gid] = hid
            matches += len(pairs)
            misses += len(labels.ids) - len(pairs)
            fps += len(out.ids) - len(pairs)
            labelled += len(labels.ids)
            output += len(out.ids)
            # IDF1 counts every frame a label ID and an output ID are within the threshold
            for gi, hi in zip(*np.nonzero(sim >= threshold)):
                if out.ids[hi] >= 0:
                    key = (int(labels.ids[gi]), int(out.ids[hi]))
                    agree[key] = agree.get(key, 0) + 1
        idtp += _best_identity_matching(agree)
    mota = 1.0 - (misses + fps + switches) / max(labelled, 1)
    idf1 = 2.0 * idtp / max(labelled + output, 1)
    return MotResult(mota, idf1, switches, misses, fps, matches, labelled, output)


def _best_identity_matching(agree: dict[tuple[int, int], int]) -> int:
    if not agree:
        return 0
    gids = sorted({g for g, _ in agree})
    hids = sorted({h for _, h in agree})
    gain = np.zeros((len(gids), len(hids)))
    for (g, h), n in agree.items():
        gain[gids.index(g), hids.index(h)] = n
    rows, cols = linear_sum_assignment(-gain)
    return int(gain[rows, cols].sum())


def motion_errors(truth: list[Frame], output: list[Frame], pairs: list[list[tuple[int, int]]]) -> tuple[float, float]:
    """(position error, acceleration error) of matched people's parts against their true paths, in person sizes.

    ``truth`` holds noise-free keypoints (and areas), ``pairs`` each frame's (label index,
    output index) matches. Acceleration is the second difference over three consecutive
    frames in which the same label and output IDs are matched and the part is present in both.
    """
    pos, acc = [], []
    history: dict[int, list] = {}
    for k, (t, o, frame_pairs) in enumerate(zip(truth, output, pairs)):
        for gi, hi in frame_pairs:
            gid, hid = int(t.ids[gi]), int(o.ids[hi])
            size = float(np.sqrt(t.areas[gi]))
            true_kp, out_kp = t.keypoints[gi], o.keypoints[hi]
            both = (true_kp[:, 2] > 0) & (out_kp[:, 2] > 0)
            pos.extend(np.linalg.norm(out_kp[both, :2] - true_kp[both, :2], axis=1) / size)
            seq = history.setdefault(gid, [])
            seq.append((k, hid, true_kp[:, :2].copy(), out_kp[:, :2].copy(), both, size))
            if len(seq) >= 3:
                (k0, h0, t0, o0, b0, _), (k1, h1, t1, o1, b1, _), (k2, h2, t2, o2, b2, s2) = seq[-3:]
                if k2 - k0 == 2 and h0 == h1 == h2:
                    parts = b0 & b1 & b2
                    a_true = t2 - 2 * t1 + t0
                    a_out = o2 - 2 * o1 + o0
                    acc.extend(np.linalg.norm(a_out[parts] - a_true[parts], axis=1) / s2)
    return (float(np.mean(pos)) if pos else float("nan")), (float(np.mean(acc)) if acc else float("nan"))
