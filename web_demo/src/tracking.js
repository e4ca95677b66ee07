// People keep their identity across frames, and their keypoints stop shaking: a line-by-line port
// of mln_tf/tracking.py (PoseTracker), held to it by the golden sequences of
// android_demo/tools/tracking_golden.py (test/tracking.test.mjs). Java: Tracker.java.
//
//   const tracker = new PoseTracker();            // or new PoseTracker(trackerConfig({ max_age_ms: 2000 }))
//   const { ids, keypoints } = tracker.update(poses.keypoints, poses.count, performance.now());
//
// keypoints: (P * 18 * 3) (x, y, score), score 0 = missing; ids: Int32Array (-1 = untracked);
// the output keypoints are float32, smoothed for tracked people. All arithmetic is double, as NumPy's.
import { NUM_PARTS } from './skeleton.js';

export const MIN_STEP_MS = 1.0;
/** Time stamps beyond +-this (ms) are taken as not increasing (mln_tf.tracking.MAX_TIME_MS). */
export const MAX_TIME_MS = 1e15;
/** A part further out than this (pixels) is missing (mln_tf.tracking.MAX_COORD_PX). */
export const MAX_COORD_PX = 1e9;
export const NO_MATCH_COST = 1e6;
export const AREA_HALF_LIFE_S = 1.0;
/** COCO's OKS sigmas in OpenPose-18 order (mln_tf.skeleton.OKS_SIGMAS; the neck as the shoulders). */
export const OKS_SIGMAS = Object.freeze([0.026, 0.079, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062, 0.107, 0.087,
  0.089, 0.107, 0.087, 0.089, 0.025, 0.025, 0.035, 0.035]);
const VAR = Float64Array.from(OKS_SIGMAS, (s) => (2.0 * s) ** 2);
const EPS = 2.220446049250313e-16; // np.spacing(1)

const SMOOTHING_DEFAULTS = Object.freeze({ min_cutoff: 1.0, beta: 2.0, d_cutoff: 1.0, max_speed: 4.0 });
const TRACKER_DEFAULTS = Object.freeze({
  min_similarity: 0.2, min_shared_parts: 3, part_threshold: 0.0, max_age_ms: 1500.0, max_tracks: 64,
  velocity_cutoff: 4.0, search_growth: 2.0,
});

/** One Euro parameters (mln_tf.tracking.SmoothingConfig), validated like Python's. */
export function smoothingConfig(overrides = {}) {
  for (const k of Object.keys(overrides)) {
    if (!(k in SMOOTHING_DEFAULTS)) throw new Error(`unknown smoothing option '${k}'`);
  }
  const c = { ...SMOOTHING_DEFAULTS, ...overrides };
  for (const k of ['min_cutoff', 'd_cutoff', 'max_speed']) {
    if (!(Number.isFinite(c[k]) && c[k] > 0)) throw new Error(`smoothing ${k} must be a positive number, got ${c[k]}`);
  }
  if (!(Number.isFinite(c.beta) && c.beta >= 0)) throw new Error(`smoothing beta must be >= 0, got ${c.beta}`);
  return Object.freeze(c);
}

/** Tracker parameters (mln_tf.tracking.TrackerConfig); ``smoothing: null`` keeps the detector's keypoints. */
export function trackerConfig(overrides = {}) {
  const { smoothing, ...rest } = overrides;
  for (const k of Object.keys(rest)) {
    if (!(k in TRACKER_DEFAULTS)) throw new Error(`unknown tracker option '${k}'`);
  }
  const c = { ...TRACKER_DEFAULTS, ...rest };
  if (!(c.min_similarity >= 0 && c.min_similarity <= 1)) throw new Error('min_similarity must be in [0, 1]');
  if (!(Number.isInteger(c.min_shared_parts) && c.min_shared_parts >= 1 && c.min_shared_parts <= NUM_PARTS)) {
    throw new Error('min_shared_parts must be 1..18');
  }
  if (!Number.isFinite(c.part_threshold)) throw new Error('part_threshold must be finite');
  if (!(c.max_age_ms >= 0 && Number.isFinite(c.max_age_ms))) throw new Error('max_age_ms must be >= 0');
  if (!(Number.isInteger(c.max_tracks) && c.max_tracks >= 1)) throw new Error('max_tracks must be a positive integer');
  if (!(c.velocity_cutoff > 0 && Number.isFinite(c.velocity_cutoff))) throw new Error('velocity_cutoff must be positive');
  if (!(c.search_growth >= 0 && Number.isFinite(c.search_growth))) throw new Error('search_growth must be >= 0');
  c.smoothing = smoothing === null ? null : smoothingConfig(smoothing ?? {});
  return Object.freeze(c);
}

/** The exponential smoothing factor of a first-order low-pass at ``cutoff`` Hz over ``dtS`` seconds. */
export function smoothingAlpha(cutoff, dtS) {
  const tau = 1.0 / (2.0 * Math.PI * cutoff);
  return 1.0 / (1.0 + tau / dtS);
}

/** w * h of the box around the present parts of one person (xy: 36 values at off, present: 18 at poff). */
export function boxArea(xy, off, present, poff) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let j = 0; j < NUM_PARTS; j++) {
    if (!present[poff + j]) continue;
    const x = xy[off + 2 * j], y = xy[off + 2 * j + 1];
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return Number.isFinite(x0) ? (x1 - x0) * (y1 - y0) : 0.0;
}

/**
 * Minimum-cost assignment of a rows x cols cost matrix (row-major): the Hungarian method with
 * potentials (shortest augmenting paths). Returns [row, col] pairs, rows ascending.
 */
export function linearSumAssignment(cost, rows, cols) {
  const transpose = rows > cols;
  const n = transpose ? cols : rows, m = transpose ? rows : cols;
  const at = (i, j) => (transpose ? cost[j * cols + i] : cost[i * cols + j]);
  const u = new Float64Array(n + 1), v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1), way = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(m + 1).fill(Infinity);
    const used = new Uint8Array(m + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity, j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = at(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
        if (minv[j] < delta) { delta = minv[j]; j1 = j; }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) { u[p[j]] += delta; v[j] -= delta; } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do { const j1 = way[j0]; p[j0] = p[j1]; j0 = j1; } while (j0);
  }
  const pairs = [];
  for (let j = 1; j <= m; j++) {
    if (p[j] !== 0) pairs.push(transpose ? [j - 1, p[j] - 1] : [p[j] - 1, j - 1]);
  }
  return pairs.sort((a, b) => a[0] - b[0]);
}

class Track {
  constructor(id, t, xy, present, area) {
    this.id = id;
    this.lastMs = t;
    this.area = area;
    this.vx = 0.0; // px/ms
    this.vy = 0.0;
    this.raw = new Float64Array(2 * NUM_PARTS);
    this.xy = new Float64Array(2 * NUM_PARTS);
    this.dxy = new Float64Array(2 * NUM_PARTS);
    this.partMs = new Float64Array(NUM_PARTS);
    this.known = new Uint8Array(NUM_PARTS);
    this.present = new Uint8Array(NUM_PARTS);
    for (let j = 0; j < NUM_PARTS; j++) {
      if (!present[j]) continue;
      this.raw[2 * j] = this.xy[2 * j] = xy[2 * j];
      this.raw[2 * j + 1] = this.xy[2 * j + 1] = xy[2 * j + 1];
      this.partMs[j] = t;
      this.known[j] = this.present[j] = 1;
    }
  }
}

/**
 * [OKS, shared part count, sum of the shared parts' terms] of a track's parts at ``pos`` vs one person
 * of ``parts`` parts; the OKS is the mean over the person's parts (a part the track never saw counts 0).
 */
function oks(pos, known, area, xy, off, present, poff, parts) {
  const a = Math.max(area, EPS);
  let total = 0.0, count = 0;
  for (let j = 0; j < NUM_PARTS; j++) {
    if (!(known[j] && present[poff + j])) continue;
    const dx = pos[2 * j] - xy[off + 2 * j], dy = pos[2 * j + 1] - xy[off + 2 * j + 1];
    total += Math.exp(-(dx * dx + dy * dy) * (1.0 / (2.0 * VAR[j] * a)));
    count++;
  }
  return [total / Math.max(parts, 1), count, total];
}

/** Gives each person a lasting ID and smooths its keypoints; feed frames in time order with ``update``. */
export class PoseTracker {
  constructor(config = trackerConfig()) {
    this.config = config;
    this.nextId = 0;
    this.timeMs = null;
    this.tracks = [];
  }

  time(tMs) {
    let t = tMs === null || tMs === undefined ? NaN : Number(tMs);
    if (!(Math.abs(t) <= MAX_TIME_MS)) t = NaN; // NaN, infinite or absurd: no real step
    if (this.timeMs !== null && !(t > this.timeMs)) t = this.timeMs + MIN_STEP_MS; // repeats, goes back, NaN
    else if (this.timeMs === null && !Number.isFinite(t)) t = 0.0;
    this.timeMs = t;
    return t;
  }

  /** IDs and smoothed keypoints of one frame's ``count`` people (keypoints: count * 54 values) at ``tMs``. */
  update(keypoints, count, tMs) {
    const cfg = this.config;
    const N = NUM_PARTS;
    if (!Number.isInteger(count) || count < 0 || keypoints.length !== count * N * 3) {
      throw new Error(`keypoints must hold people x 18 x 3 values, got ${keypoints.length} for ${count} people`);
    }
    const xy = new Float64Array(count * N * 2);
    const present = new Uint8Array(count * N);
    const out = new Float32Array(count * N * 3);
    const partsOf = new Int32Array(count);
    for (let p = 0; p < count; p++) {
      for (let j = 0; j < N; j++) {
        const k = (p * N + j) * 3;
        const x = keypoints[k], y = keypoints[k + 1], s = keypoints[k + 2];
        // finite as float32 (what Poses hold) and within MAX_COORD_PX, as Python's
        const finite = Number.isFinite(Math.fround(x)) && Number.isFinite(Math.fround(y))
          && Number.isFinite(Math.fround(s)) && Math.abs(x) <= MAX_COORD_PX && Math.abs(y) <= MAX_COORD_PX;
        if (finite) { xy[(p * N + j) * 2] = x; xy[(p * N + j) * 2 + 1] = y; }
        if (finite && s > cfg.part_threshold) {
          present[p * N + j] = 1;
          partsOf[p]++;
          out[k] = x; out[k + 1] = y; out[k + 2] = s;
        }
      }
    }
    const t = this.time(tMs);

    // 2. tracks that ended
    this.tracks = this.tracks.filter((tr) => t - tr.lastMs <= cfg.max_age_ms);

    // 3-5. predict, compare, assign
    const T = this.tracks.length;
    let pairs = [];
    if (T && count) {
      const agreement = new Float64Array(T * count);
      const allowed = new Uint8Array(T * count);
      const predicted = new Float64Array(2 * N);
      let any = false;
      for (let i = 0; i < T; i++) {
        const tr = this.tracks[i];
        const gap = t - tr.lastMs;
        for (let j = 0; j < N; j++) {
          predicted[2 * j] = tr.xy[2 * j] + tr.vx * gap;
          predicted[2 * j + 1] = tr.xy[2 * j + 1] + tr.vy * gap;
        }
        const g = 1.0 + cfg.search_growth * gap / 1000.0;
        const area = tr.area * (g * g);
        for (let p = 0; p < count; p++) {
          const [s1, shared, a1] = oks(predicted, tr.known, area, xy, p * N * 2, present, p * N, partsOf[p]);
          const [s2, , a2] = oks(tr.xy, tr.known, area, xy, p * N * 2, present, p * N, partsOf[p]);
          const s = Math.max(s1, s2);
          const needed = Math.max(Math.min(cfg.min_shared_parts, partsOf[p]), 1);
          agreement[i * count + p] = Math.max(a1, a2);
          if (shared >= needed && s >= cfg.min_similarity) { allowed[i * count + p] = 1; any = true; }
        }
      }
      if (any) {
        const cost = new Float64Array(T * count);
        // the most allowed pairs, then the most agreeing parts in all
        for (let k = 0; k < cost.length; k++) cost[k] = allowed[k] ? NUM_PARTS - agreement[k] : NO_MATCH_COST;
        pairs = linearSumAssignment(cost, T, count).filter(([r, c]) => allowed[r * count + c]);
      }
    }

    const ids = new Int32Array(count).fill(-1);
    const used = this.tracks.map(() => false);
    for (const [r, c] of pairs) {
      const tr = this.tracks[r];
      this.follow(tr, xy, c * N * 2, present, c * N, t);
      ids[c] = tr.id;
      used[r] = true;
      if (cfg.smoothing !== null) {
        for (let j = 0; j < N; j++) {
          if (!present[c * N + j]) continue;
          out[(c * N + j) * 3] = tr.xy[2 * j];
          out[(c * N + j) * 3 + 1] = tr.xy[2 * j + 1];
        }
      }
    }

    // 7. new tracks
    for (let p = 0; p < count; p++) {
      if (ids[p] >= 0 || partsOf[p] < cfg.min_shared_parts) continue;
      if (this.tracks.length >= cfg.max_tracks) {
        let oldest = -1;
        for (let i = 0; i < this.tracks.length; i++) {
          if (!used[i] && (oldest < 0 || this.tracks[i].lastMs < this.tracks[oldest].lastMs)) oldest = i;
        }
        if (oldest < 0) continue;
        this.tracks.splice(oldest, 1);
        used.splice(oldest, 1);
      }
      const pxy = xy.subarray(p * N * 2, (p + 1) * N * 2);
      const pp = present.subarray(p * N, (p + 1) * N);
      this.tracks.push(new Track(this.nextId, t, pxy, pp, boxArea(pxy, 0, pp, 0)));
      ids[p] = this.nextId++;
      used.push(true);
    }
    return { ids, keypoints: out, count };
  }

  follow(tr, xy, off, present, poff, t) {
    const cfg = this.config;
    const sm = cfg.smoothing ?? SMOOTHING_DEFAULTS;
    const N = NUM_PARTS;
    // track velocity (for prediction) from the parts seen both now and at the last sighting
    const gapMs = t - tr.lastMs;
    let mx = 0.0, my = 0.0, n = 0;
    for (let j = 0; j < N; j++) {
      if (!(present[poff + j] && tr.present[j])) continue;
      mx += xy[off + 2 * j] - tr.raw[2 * j];
      my += xy[off + 2 * j + 1] - tr.raw[2 * j + 1];
      n++;
    }
    if (n > 0) {
      const av = smoothingAlpha(cfg.velocity_cutoff, gapMs / 1000.0);
      const stepMs = Math.max(gapMs, MIN_STEP_MS); // a shorter step counts as MIN_STEP_MS, as Python's
      tr.vx += av * (mx / n / stepMs - tr.vx);
      tr.vy += av * (my / n / stepMs - tr.vy);
    }
    // area: this sighting's box, shrinking at most by AREA_HALF_LIFE_S
    const shrunk = tr.area * 0.5 ** (gapMs / 1000.0 / AREA_HALF_LIFE_S);
    tr.area = Math.max(boxArea(xy, off, present, poff), shrunk);
    const size = Math.max(Math.sqrt(tr.area), 1.0);
    // One Euro per part and axis in the frame moving with the person; parts new to the track start fresh
    for (let j = 0; j < N; j++) {
      if (!present[poff + j]) continue;
      if (tr.present[j]) {
        const dt = Math.max((t - tr.partMs[j]) / 1000.0, MIN_STEP_MS / 1000.0);
        const aD = smoothingAlpha(sm.d_cutoff, dt);
        for (let a = 0; a < 2; a++) {
          const k = 2 * j + a;
          const z = xy[off + k];
          const pred = tr.xy[k] + (a === 0 ? tr.vx : tr.vy) * (1000.0 * dt);
          const dx = tr.dxy[k] + aD * ((z - pred) / dt - tr.dxy[k]);
          const speed = Math.min(Math.abs(dx) / size, sm.max_speed);
          const alpha = smoothingAlpha(sm.min_cutoff + sm.beta * speed, dt);
          tr.xy[k] = pred + alpha * (z - pred);
          tr.dxy[k] = dx;
        }
      } else {
        tr.xy[2 * j] = xy[off + 2 * j];
        tr.xy[2 * j + 1] = xy[off + 2 * j + 1];
        tr.dxy[2 * j] = 0.0;
        tr.dxy[2 * j + 1] = 0.0;
      }
      tr.raw[2 * j] = xy[off + 2 * j];
      tr.raw[2 * j + 1] = xy[off + 2 * j + 1];
      tr.partMs[j] = t;
      tr.known[j] = 1;
    }
    for (let j = 0; j < N; j++) tr.present[j] = present[poff + j];
    tr.lastMs = t;
  }
}
