// Joint grouping (paper section 2.4): a line-by-line port of mln_tf/grouping.py by way of its
// Java port (android_demo/decoder/.../Grouping.java): 3x3 maxima of lightly smoothed heatmaps,
// thresholded and scored on the raw heatmaps, parabola-refined on the smoothed ones, eq. 6 pair
// scoring with bilinear PAF samples, greedy per-limb matching and merging into people, ranked by
// mean score times the square root of their extent.
//
// Arithmetic follows NumPy's: float32 where NumPy computes in float32 (each operation rounded
// with Math.fround, in the same order; Float32Array stores round too), float64 where NumPy
// promotes (bilinear sampling, person scores, the kernel). The golden vectors written by
// android_demo/tools/write_golden.py hold this file to Python (test/decode.test.mjs).
//
// Maps are flat float arrays in HWC order (the network's (1, h, w, C) output): channel c of
// pixel (y, x) is maps[(y * w + x) * C + c]. Each step is its own exported function, as in
// Python and Java, so a change there maps to one function here.

import { NUM_PARTS, NUM_HEATMAPS, NUM_PAFS, NUM_LIMBS, LIMB_A, LIMB_B, PAF_X, PAF_Y } from './skeleton.js';
import { pairwiseSumF32, pairwiseSumF64, linspace01, hypotF32, argsortDescending } from './numpy_math.js';

const f = Math.fround;

/** Decoder parameters: the fields and defaults of mln_tf.grouping.GroupingConfig (snake_case, as Python). */
export const GROUPING_DEFAULTS = Object.freeze({
  peak_threshold: 0.05, smooth_sigma: 0.5, refine_peaks: true, max_peaks: 64, samples: 10,
  paf_threshold: 0.05, min_fraction: 0.8, distance_prior: 0.5, min_parts: 3, min_mean_score: 0.4,
});

/** The largest smooth_sigma in map pixels (mln_tf.grouping.MAX_SMOOTH_SIGMA). */
export const MAX_SMOOTH_SIGMA = 100;

/** A frozen, validated config: the defaults overridden by `overrides` (unknown keys are an error). */
export function groupingConfig(overrides = {}) {
  for (const key of Object.keys(overrides)) {
    if (!(key in GROUPING_DEFAULTS)) throw new Error(`unknown grouping option '${key}'`);
  }
  const c = { ...GROUPING_DEFAULTS, ...overrides };
  // a part's score is its peak's value: > 0 must mean present
  if (!(c.peak_threshold >= 0)) throw new Error('peak_threshold must be >= 0');
  if (!(c.samples >= 2)) throw new Error('samples (D of eq. 6) must be >= 2');
  if (!(c.max_peaks >= 1) || !(c.min_parts >= 1)) throw new Error('max_peaks and min_parts must be >= 1');
  if (!(c.smooth_sigma >= 0 && c.smooth_sigma <= MAX_SMOOTH_SIGMA)) { // its kernel has 6 sigma + 1 taps
    throw new Error(`smooth_sigma must be in [0, ${MAX_SMOOTH_SIGMA}] map pixels (0 disables smoothing)`);
  }
  if (!(c.min_fraction >= 0 && c.min_fraction <= 1)) throw new Error('min_fraction must be in [0, 1]');
  return Object.freeze(c);
}

/** People of one image: keypoints (P*18*3: x, y, score; score 0 = missing) and scores (P), best first. */
export function makePoses(keypoints, scores) {
  if (keypoints.length !== scores.length * NUM_PARTS * 3) {
    throw new Error(`keypoints must hold ${scores.length} x 18 x 3 values, got ${keypoints.length}`);
  }
  return { keypoints, scores, count: scores.length };
}

export function emptyPoses() {
  return makePoses(new Float32Array(0), new Float32Array(0));
}

/** Map values are clipped to [-MAP_LIMIT, MAP_LIMIT] before grouping (mln_tf.grouping.MAP_LIMIT). */
export const MAP_LIMIT = f(1e6);

/** Heatmaps (h, w, 18 or 19) and PAFs (h, w, 38) -> people in the maps' pixel coordinates. */
export function groupPeople(heatmaps, heatmapChannels, pafs, h, w, config = groupingConfig()) {
  checkMaps(heatmaps, heatmapChannels, pafs, h, w);
  const hm = clipped(heatmaps);
  const pf = clipped(pafs);
  const peaks = findPeaks(hm, heatmapChannels, h, w, config);
  return assemble(peaks, scorePairs(peaks, pf, h, w, config), config);
}

/** The maps clipped to +-MAP_LIMIT (a network's maps are O(1); absurd values cannot overflow). */
export function clipped(maps) {
  for (let i = 0; i < maps.length; i++) {
    if (maps[i] > MAP_LIMIT || maps[i] < -MAP_LIMIT) {
      return Float32Array.from(maps, (v) => (v > MAP_LIMIT ? MAP_LIMIT : (v < -MAP_LIMIT ? -MAP_LIMIT : v)));
    }
  }
  return maps;
}

export function checkMaps(heatmaps, heatmapChannels, pafs, h, w) {
  if (!(h >= 1 && w >= 1)) throw new Error(`maps must be at least 1x1, got ${h}x${w}`);
  if (heatmapChannels !== NUM_PARTS && heatmapChannels !== NUM_HEATMAPS) {
    throw new Error(`heatmaps must have 18 or 19 channels, got ${heatmapChannels}`);
  }
  if (heatmaps.length !== h * w * heatmapChannels) {
    throw new Error(`heatmaps must hold ${h}x${w}x${heatmapChannels} values, got ${heatmaps.length}`);
  }
  if (pafs.length !== h * w * NUM_PAFS) {
    throw new Error(`pafs must be (h, w, 38) matching heatmaps ${h}x${w}, got ${pafs.length} values`);
  }
  if (!allFinite(heatmaps) || !allFinite(pafs)) throw new Error('heatmaps/pafs contain NaN or infinity');
}

function allFinite(values) {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return false;
  }
  return true;
}

/** Normalised 1-D Gaussian taps of radius ceil(3 sigma), computed in float64, rounded to float32. */
export function gaussianKernel(sigma) {
  const radius = Math.ceil(3.0 * sigma);
  const n = 2 * radius + 1;
  const taps = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = (i - radius) / sigma;
    taps[i] = Math.exp(-0.5 * (v * v));
  }
  const sum = pairwiseSumF64(taps, 0, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = taps[i] / sum;
  return out;
}

/**
 * The first `parts` channels of HWC `maps`, blurred by a separable Gaussian (x pass then y
 * pass, edges replicated, float32 accumulation of taps[i] * shifted for i = 0..2r, as
 * mln_tf.grouping.smooth), returned as HWC (h, w, parts).
 */
export function smoothParts(maps, h, w, channels, parts, sigma) {
  const out = new Float32Array(h * w * parts);
  for (let p = 0, q = 0; p < h * w; p++, q += parts) {
    out.set(maps.subarray(p * channels, p * channels + parts), q);
  }
  if (!(sigma > 0)) return out;
  const taps = gaussianKernel(sigma);
  const r = taps.length >> 1;
  const n = taps.length;
  const rowLen = w * parts;
  const line = new Float32Array((w + 2 * r) * parts);
  const acc = new Float32Array(rowLen);
  const tmp = new Float32Array(h * rowLen);
  for (let y = 0; y < h; y++) { // x pass
    const row = y * rowLen;
    for (let i = 0; i < r; i++) {
      line.set(out.subarray(row, row + parts), i * parts);
      line.set(out.subarray(row + rowLen - parts, row + rowLen), (r + w + i) * parts);
    }
    line.set(out.subarray(row, row + rowLen), r * parts);
    const t0 = taps[0];
    for (let x = 0; x < rowLen; x++) acc[x] = t0 * line[x];
    for (let i = 1; i < n; i++) {
      const t = taps[i];
      const shift = i * parts;
      for (let x = 0; x < rowLen; x++) acc[x] += f(t * line[x + shift]); // Float32Array store rounds the sum
    }
    tmp.set(acc, row);
  }
  for (let y = 0; y < h; y++) { // y pass
    const t0 = taps[0];
    const src = clamp(y - r, h) * rowLen;
    for (let x = 0; x < rowLen; x++) acc[x] = t0 * tmp[src + x];
    for (let i = 1; i < n; i++) {
      const t = taps[i];
      const s = clamp(y - r + i, h) * rowLen;
      for (let x = 0; x < rowLen; x++) acc[x] += f(t * tmp[s + x]);
    }
    out.set(acc, y * rowLen);
  }
  return out;
}

function clamp(i, n) {
  return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

/** Step 1: 3x3 maxima of the smoothed 18 part channels whose raw value passes the threshold -> {part, x, y, score}. */
export function findPeaks(heatmaps, channels, h, w, config = groupingConfig()) {
  const parts = NUM_PARTS;
  const raw = smoothParts(heatmaps, h, w, channels, parts, 0.0); // (h, w, parts), unsmoothed
  const hm = smoothParts(heatmaps, h, w, channels, parts, config.smooth_sigma); // (h, w, parts)
  const threshold = f(config.peak_threshold);
  const dx = parts, dy = w * parts; // neighbour offsets in the HWC layout
  const found = []; // index (y * w + x) * parts + part, part-major then raster
  const partStart = new Int32Array(parts + 1);
  for (let p = 0; p < parts; p++) {
    partStart[p] = found.length;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * parts + p;
        if (!(raw[i] > threshold)) continue;
        // 3x3 maximum of the smoothed map; ties: >= the four neighbours before the pixel in
        // raster order, > the four after it, so a plateau gives one peak
        const v = hm[i];
        const top = y > 0, bottom = y < h - 1, left = x > 0, right = x < w - 1;
        if (top && ((left && !(v >= hm[i - dy - dx])) || !(v >= hm[i - dy])
            || (right && !(v >= hm[i - dy + dx])))) continue;
        if (left && !(v >= hm[i - dx])) continue;
        if (right && !(v > hm[i + dx])) continue;
        if (bottom && ((left && !(v > hm[i + dy - dx])) || !(v > hm[i + dy])
            || (right && !(v > hm[i + dy + dx])))) continue;
        found.push(i);
      }
    }
  }
  partStart[parts] = found.length;
  let keep = found;
  let capped = false;
  for (let p = 0; p < parts; p++) capped ||= partStart[p + 1] - partStart[p] > config.max_peaks;
  if (capped) { // at most max_peaks per part: the strongest (raw value), ties by raster order
    keep = [];
    for (let p = 0; p < parts; p++) {
      const group = found.slice(partStart[p], partStart[p + 1]);
      if (group.length <= config.max_peaks) {
        keep.push(...group);
        continue;
      }
      // stable sort: equal values keep raster order
      const best = Int32Array.from(group.sort((i, j) => raw[j] - raw[i]).slice(0, config.max_peaks));
      best.sort(); // back to raster order (same part)
      keep.push(...best);
    }
  }
  const kept = keep.length;
  const part = new Int32Array(kept);
  const px = new Float32Array(kept);
  const py = new Float32Array(kept);
  const score = new Float32Array(kept);
  for (let k = 0; k < kept; k++) {
    const i = keep[k];
    const p = i % parts;
    const pixel = (i - p) / parts;
    const y = Math.floor(pixel / w);
    const x = pixel % w;
    let fx = x;
    let fy = y;
    if (config.refine_peaks) { // the fit reads the smoothed map: less jitter from map noise
      const centre = hm[i];
      const left = x > 0 ? hm[i - dx] : -Infinity;
      const right = x < w - 1 ? hm[i + dx] : -Infinity;
      const up = y > 0 ? hm[i - dy] : -Infinity;
      const down = y < h - 1 ? hm[i + dy] : -Infinity;
      fx = f(fx + parabolaOffset(left, centre, right));
      fy = f(fy + parabolaOffset(up, centre, down));
    }
    part[k] = p;
    px[k] = fx;
    py[k] = fy;
    score[k] = raw[i]; // the raw value, as in grouping.py
  }
  return { part, x: px, y: py, score, count: kept };
}

/** Vertex of the parabola through (-1, before), (0, centre), (1, after), clipped to [-0.5, 0.5]. */
export function parabolaOffset(before, centre, after) {
  const valid = Number.isFinite(before) && Number.isFinite(after);
  const b = valid ? before : centre;
  const a = valid ? after : centre;
  const curvature = f(f(b - f(2 * centre)) + a);
  const offset = curvature < 0 ? f(f(0.5 * f(b - a)) / curvature) : 0;
  return offset < -0.5 ? -0.5 : (offset > 0.5 ? 0.5 : offset);
}

/** Step 2: eq. 6 for every candidate pair of every limb; keeps pairs that pass -> {limb, a, b, score}. */
export function scorePairs(peaks, pafs, h, w, config = groupingConfig()) {
  const c = NUM_PAFS;
  const n = peaks.count;
  const starts = new Int32Array(NUM_PARTS + 1);
  for (let p = 0, k = 0; p <= NUM_PARTS; p++) {
    while (k < n && peaks.part[k] < p) k++;
    starts[p] = k;
  }
  const samples = config.samples;
  const t = linspace01(samples);
  const proj = new Float32Array(samples);
  const pafThreshold = f(config.paf_threshold);
  const prior = f(config.distance_prior * h);
  const limbs = [], as = [], bs = [], scores = [];
  for (let k = 0; k < NUM_LIMBS; k++) {
    const pa = LIMB_A[k], pb = LIMB_B[k];
    const chx = PAF_X[k], chy = PAF_Y[k];
    for (let a = starts[pa]; a < starts[pa + 1]; a++) {
      for (let b = starts[pb]; b < starts[pb + 1]; b++) {
        const dx = f(peaks.x[b] - peaks.x[a]);
        const dy = f(peaks.y[b] - peaks.y[a]);
        const length = hypotF32(dx, dy);
        if (!(length > f(1e-6))) continue;
        const ux = f(dx / length);
        const uy = f(dy / length);
        let above = 0;
        for (let i = 0; i < samples; i++) {
          const sx = f(peaks.x[a] + f(t[i] * dx));
          const sy = f(peaks.y[a] + f(t[i] * dy));
          const vx = bilinear(pafs, h, w, c, sx, sy, chx);
          const vy = bilinear(pafs, h, w, c, sx, sy, chy);
          const pr = f(f(vx * ux) + f(vy * uy));
          proj[i] = pr;
          if (pr > pafThreshold) above++;
        }
        let score = f(pairwiseSumF32(proj, 0, samples) / samples);
        if (config.distance_prior > 0) score = f(score + Math.min(0, f(f(prior / length) - 1)));
        const fraction = above / samples;
        if (fraction >= config.min_fraction && score > 0) {
          limbs.push(k);
          as.push(a);
          bs.push(b);
          scores.push(score);
        }
      }
    }
  }
  return {
    limb: Int32Array.from(limbs), a: Int32Array.from(as), b: Int32Array.from(bs),
    score: Float32Array.from(scores), count: limbs.length,
  };
}

/** Bilinear sample of channel ch of HWC maps at float32 (x, y), edges clamped; float64 inside. */
export function bilinear(maps, h, w, c, x, y, ch) {
  const xc = x < 0 ? 0 : (x > w - 1 ? w - 1 : x);
  const yc = y < 0 ? 0 : (y > h - 1 ? h - 1 : y);
  const x0 = w > 1 ? Math.min(Math.floor(xc), w - 2) : 0;
  const y0 = h > 1 ? Math.min(Math.floor(yc), h - 2) : 0;
  const fx = xc - x0;
  const fy = yc - y0;
  const x1 = Math.min(x0 + 1, w - 1);
  const y1 = Math.min(y0 + 1, h - 1);
  const top = maps[(y0 * w + x0) * c + ch] * (1 - fx) + maps[(y0 * w + x1) * c + ch] * fx;
  const bottom = maps[(y1 * w + x0) * c + ch] * (1 - fx) + maps[(y1 * w + x1) * c + ch] * fx;
  return f(top * (1 - fy) + bottom * fy);
}

/** Step 3: greedy matching per limb and merging into people (CMU's rules). */
export function assemble(peaks, conns, config = groupingConfig()) {
  const m = conns.count;
  if (m === 0) return emptyPoses();
  // Per limb, best connection first; stable, so equal scores keep candidate order.
  const order = Array.from({ length: m }, (_, i) => i)
    .sort((i, j) => (conns.limb[i] - conns.limb[j]) || (conns.score[j] - conns.score[i]));
  const parts = NUM_PARTS;
  const newPersonLimbs = NUM_LIMBS - 2; // shoulder -> ear limbs never start a person
  const n = peaks.count;
  const owner = new Int32Array(n).fill(-1);
  const usedA = new Int32Array(n).fill(-1);
  const usedB = new Int32Array(n).fill(-1);
  const peopleParts = [];
  const peopleScore = []; // float64, as Python's floats
  const peopleCount = [];
  const merged = [];
  for (let oi = 0; oi < m; oi++) {
    const j = order[oi];
    const k = conns.limb[j];
    const a = conns.a[j];
    const b = conns.b[j];
    const s = conns.score[j];
    if (usedA[a] === k || usedB[b] === k) continue;
    usedA[a] = k;
    usedB[b] = k;
    const partA = LIMB_A[k], partB = LIMB_B[k];
    const pa = owner[a], pb = owner[b];
    if (pa < 0 && pb < 0) {
      if (k < newPersonLimbs) {
        const ids = new Int32Array(parts).fill(-1);
        ids[partA] = a;
        ids[partB] = b;
        const person = peopleParts.length;
        peopleParts.push(ids);
        peopleScore.push(peaks.score[a] + peaks.score[b] + s);
        peopleCount.push(2);
        merged.push(false);
        owner[a] = person;
        owner[b] = person;
      }
    } else if (pa >= 0 && pb >= 0) {
      if (pa !== pb) {
        const p1 = peopleParts[pa], p2 = peopleParts[pb];
        let disjoint = true;
        for (let q = 0; q < parts; q++) {
          if (p1[q] >= 0 && p2[q] >= 0) {
            disjoint = false;
            break;
          }
        }
        if (disjoint) {
          for (let q = 0; q < parts; q++) {
            if (p2[q] >= 0) {
              p1[q] = p2[q];
              owner[p2[q]] = pa;
            }
          }
          peopleScore[pa] += peopleScore[pb] + s;
          peopleCount[pa] += peopleCount[pb];
          merged[pb] = true;
        }
      }
    } else {
      const [person, freePart, freePeak] = pa >= 0 ? [pa, partB, b] : [pb, partA, a];
      const p = peopleParts[person];
      if (p[freePart] < 0) {
        p[freePart] = freePeak;
        peopleScore[person] += peaks.score[freePeak] + s;
        peopleCount[person] += 1;
        owner[freePeak] = person;
      }
    }
  }
  const kept = [];
  for (let p = 0; p < peopleParts.length; p++) {
    if (!merged[p] && peopleCount[p] >= config.min_parts && peopleScore[p] / peopleCount[p] >= config.min_mean_score) {
      kept.push(p);
    }
  }
  if (kept.length === 0) return emptyPoses();
  const count = kept.length;
  const meanScore = new Float32Array(count); // the ranking score: mean x sqrt(extent)
  for (let i = 0; i < count; i++) {
    const p = kept[i];
    meanScore[i] = (peopleScore[p] / peopleCount[p]) * sizeFactor(peaks, peopleParts[p]);
  }
  const rank = argsortDescending(Array.from({ length: count }, (_, i) => i), meanScore);
  const keypoints = new Float32Array(count * parts * 3);
  const scores = new Float32Array(count);
  for (let r = 0; r < count; r++) {
    const i = rank[r];
    const ids = peopleParts[kept[i]];
    scores[r] = meanScore[i];
    for (let q = 0; q < parts; q++) {
      const peak = ids[q];
      if (peak >= 0) {
        const o = (r * parts + q) * 3;
        keypoints[o] = peaks.x[peak];
        keypoints[o + 1] = peaks.y[peak];
        keypoints[o + 2] = peaks.score[peak];
      }
    }
  }
  return makePoses(keypoints, scores);
}

/** sqrt of the person's extent, sqrt((x_max - x_min + 1) * (y_max - y_min + 1)) in map pixels; float64. */
export function sizeFactor(peaks, ids) {
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (const peak of ids) {
    if (peak >= 0) {
      const x = peaks.x[peak], y = peaks.y[peak];
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
  }
  return Math.sqrt(Math.sqrt((maxX - minX + 1.0) * (maxY - minY + 1.0)));
}
