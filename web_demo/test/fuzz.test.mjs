// Fuzzing the decoder and the tracker with a fixed seed, as benchmarks/fuzz.py does the Python ones:
// arbitrary maps, transforms, configs, frames (NaN, infinity, huge values, wrong sizes, time going
// back or beyond MAX_TIME_MS). Each call returns a valid result or throws an Error with a message
// (the documented error); a well-formed input (right sizes, finite maps) must not throw at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postprocess, postprocessConfig, makeTransform } from '../src/postprocess.js';
import { groupingConfig } from '../src/grouping.js';
import { PoseTracker, trackerConfig, smoothingConfig, MAX_COORD_PX } from '../src/tracking.js';
import { NUM_PARTS, LIMB_A, LIMB_B, PAF_X, PAF_Y } from '../src/skeleton.js';

// MLN_FUZZ_SCALE=100 npm test -- ... runs 100x the cases (a long run; `npm test` stays at a second or two)
const SCALE = Number(process.env.MLN_FUZZ_SCALE ?? 1);
const CASES = { postprocess: 2000 * SCALE, tracker: 600 * SCALE };
const SPECIAL = [0, -0, 1, -1, 0.5, 1e-30, 1e30, -1e30, 1e300, -1e300, 1.7e308, 5e-324, NaN, Infinity, -Infinity];

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fuzzer(seed) {
  const rand = mulberry32(seed);
  const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
  const pick = (list) => list[int(0, list.length - 1)];
  // mostly in [lo, hi], sometimes extreme (NaN and infinities only when allowed)
  const num = (lo, hi, special = 0.1, nonfinite = true) => {
    if (rand() >= special) return lo + (hi - lo) * rand();
    return pick(nonfinite ? SPECIAL : SPECIAL.filter(Number.isFinite));
  };
  return { rand, int, pick, num };
}

/** An Error with a message (what the ports document), else the thrown value fails the test. */
function expectDocumentedError(e, what) {
  assert.ok(e instanceof Error, `${what}: threw ${String(e)}, not an Error`);
  assert.ok(e.message && e.message.trim().length > 0, `${what}: an Error without a message`);
}

function drawPeople(z, hm, hmC, pf, h, w) {
  for (let p = z.int(1, 3); p > 0; p--) {
    const xs = Array.from({ length: NUM_PARTS }, () => z.num(-1, w, 0));
    const ys = Array.from({ length: NUM_PARTS }, () => z.num(-1, h, 0));
    for (let j = 0; j < NUM_PARTS; j++) {
      const x = Math.round(xs[j]), y = Math.round(ys[j]);
      if (z.rand() < 0.8 && x >= 0 && x < w && y >= 0 && y < h) hm[(y * w + x) * hmC + j] = 0.5 + 0.5 * z.rand();
    }
    for (let k = 0; k < LIMB_A.length; k++) {
      const dx = xs[LIMB_B[k]] - xs[LIMB_A[k]], dy = ys[LIMB_B[k]] - ys[LIMB_A[k]];
      const len = Math.hypot(dx, dy);
      if (!(len > 0)) continue;
      for (let s = 0; s <= 10; s++) {
        const x = Math.round(xs[LIMB_A[k]] + (dx * s) / 10), y = Math.round(ys[LIMB_A[k]] + (dy * s) / 10);
        if (x < 0 || x >= w || y < 0 || y >= h) continue;
        pf[(y * w + x) * 38 + PAF_X[k]] = dx / len;
        pf[(y * w + x) * 38 + PAF_Y[k]] = dy / len;
      }
    }
  }
}

test(`postprocess: ${CASES.postprocess} fuzzed maps, transforms and configs give people or an Error`, () => {
  const z = fuzzer(1);
  let people = 0, errors = 0;
  for (let c = 0; c < CASES.postprocess; c++) {
    const h = z.int(1, 8), w = z.int(1, 8);
    const stride = z.rand() < 0.75 ? 8 : z.int(0, 16);
    let config;
    try {
      const grouping = z.rand() < 0.75 ? groupingConfig() : groupingConfig({
        peak_threshold: z.num(-0.1, 1, 0.05), smooth_sigma: z.num(-0.5, 2, 0.05, false), refine_peaks: z.rand() < 0.5,
        max_peaks: z.int(0, 70), samples: z.int(0, 20), paf_threshold: z.num(-0.5, 1, 0.05),
        min_fraction: z.num(-0.1, 1.1, 0.05), distance_prior: z.num(-1, 2, 0.05), min_parts: z.int(0, 19),
        min_mean_score: z.num(-1, 2, 0.05),
      });
      config = postprocessConfig({ grouping, upsample: z.int(0, 3), stride });
    } catch (e) {
      expectDocumentedError(e, `case ${c}: config`);
      errors++;
      continue;
    }
    const consistent = z.rand() < 0.8;
    let spec;
    if (consistent) {
      const inputH = h * stride, inputW = w * stride;
      const contentH = z.int(1, inputH), contentW = z.int(1, inputW);
      const imageH = z.int(1, 2000), imageW = z.int(1, 2000);
      spec = { imageH, imageW, inputH, inputW, scaleX: contentW / imageW, scaleY: contentH / imageH, contentH, contentW };
    } else {
      spec = { imageH: z.int(-2, 100), imageW: z.int(-2, 100), inputH: z.int(-2, 100), inputW: z.int(-2, 100),
        scaleX: z.num(0, 4, 0.3), scaleY: z.num(0, 4, 0.3), contentH: z.int(-2, 100), contentW: z.int(-2, 100) };
    }
    let transform;
    try {
      transform = makeTransform(spec);
    } catch (e) {
      assert.ok(!consistent, `case ${c}: a consistent transform threw ${e}`);
      expectDocumentedError(e, `case ${c}: transform`);
      errors++;
      continue;
    }
    const hmC = z.rand() < 0.9 ? 19 : z.pick([18, 17, 20]);
    const pfC = z.rand() < 0.9 ? 38 : z.pick([19, 36, 40]);
    const hm = new Float32Array(h * w * hmC), pf = new Float32Array(h * w * pfC);
    if (z.rand() < 0.5 && pfC === 38 && hmC >= 18) drawPeople(z, hm, hmC, pf, h, w);
    else for (const maps of [hm, pf]) for (let i = 0; i < maps.length; i++) maps[i] = z.num(-1, 2, 0.01, false);
    for (let k = z.int(0, 3); k > 0; k--) {
      const maps = z.rand() < 0.5 ? hm : pf;
      maps[z.int(0, maps.length - 1)] = z.num(-1e6, 1e6, 0.8);
    }
    // postprocess reads the maps over the image only (the padding is cropped): finite there
    const rows = Math.min(h, Math.ceil(transform.contentH / stride)), cols = Math.min(w, Math.ceil(transform.contentW / stride));
    let finite = true;
    for (const [maps, ch] of [[hm, hmC], [pf, pfC]]) {
      for (let y = 0; y < rows; y++) for (let i = y * w * ch; i < (y * w + cols) * ch; i++) finite &&= Number.isFinite(maps[i]);
    }
    const wellFormed = finite && (hmC === 18 || hmC === 19) && pfC === 38
      && h === Math.floor(transform.inputH / stride) && w === Math.floor(transform.inputW / stride);
    let poses;
    try {
      poses = postprocess(hm, hmC, pf, h, w, transform, config);
    } catch (e) {
      assert.ok(!wellFormed, `case ${c}: well-formed maps threw ${e}`);
      expectDocumentedError(e, `case ${c}`);
      errors++;
      continue;
    }
    assert.ok(wellFormed, `case ${c}: malformed maps gave ${poses.count} people`);
    assert.equal(poses.keypoints.length, poses.count * NUM_PARTS * 3, `case ${c}: keypoints length`);
    assert.equal(poses.scores.length, poses.count, `case ${c}: scores length`);
    assert.ok(poses.keypoints.every(Number.isFinite) && poses.scores.every(Number.isFinite), `case ${c}: not finite`);
    for (let p = 0; p < poses.count; p++) {
      let parts = 0;
      for (let j = 0; j < NUM_PARTS; j++) {
        const k = (p * NUM_PARTS + j) * 3;
        if (poses.keypoints[k + 2] > 0) parts++;
        else assert.ok(poses.keypoints[k] === 0 && poses.keypoints[k + 1] === 0, `case ${c}: a missing part not at 0`);
      }
      assert.ok(parts >= config.grouping.min_parts, `case ${c}: a person of ${parts} parts`);
    }
    people += poses.count;
  }
  assert.ok(people > 0 && errors > 0, `the cases found ${people} people and ${errors} errors`);
});

test(`tracker: ${CASES.tracker} fuzzed sequences keep IDs and finite keypoints, or throw an Error`, () => {
  const z = fuzzer(2);
  let tracked = 0;
  for (let c = 0; c < CASES.tracker; c++) {
    let tracker;
    try {
      const config = z.rand() < 0.75 ? trackerConfig() : trackerConfig({
        min_similarity: z.num(0, 1, 0.05), min_shared_parts: z.int(0, 19), part_threshold: z.num(-1, 1, 0.05),
        max_age_ms: z.num(0, 5000, 0.05), max_tracks: z.int(0, 8), velocity_cutoff: z.num(0, 20, 0.05),
        search_growth: z.num(0, 10, 0.05),
        smoothing: z.rand() < 0.5 ? null : smoothingConfig({ min_cutoff: z.num(0, 10, 0.05), beta: z.num(0, 10, 0.05),
          d_cutoff: z.num(0, 10, 0.05), max_speed: z.num(0, 10, 0.05) }),
      });
      tracker = new PoseTracker(config);
    } catch (e) {
      expectDocumentedError(e, `case ${c}: config`);
      continue;
    }
    const n = z.int(0, 5);
    const base = Array.from({ length: n }, () => [z.num(0, 640, 0.02, false), z.num(0, 480, 0.02, false)]);
    const shape = Array.from({ length: NUM_PARTS }, () => [z.num(-60, 60, 0.02, false), z.num(-60, 60, 0.02, false)]);
    let t = z.num(-1e3, 1e6, 0.05);
    for (let frame = z.int(1, 8); frame > 0; frame--) {
      const kp = new Float64Array(n * NUM_PARTS * 3);
      const drift = z.rand() * 20;
      for (let p = 0; p < n; p++) {
        for (let j = 0; j < NUM_PARTS; j++) {
          const k = (p * NUM_PARTS + j) * 3;
          kp[k] = base[p][0] + shape[j][0] + drift;
          kp[k + 1] = base[p][1] + shape[j][1] + drift;
          kp[k + 2] = z.rand();
        }
      }
      for (let k = n ? z.int(0, 4) : 0; k > 0; k--) kp[z.int(0, kp.length - 1)] = z.num(-1e6, 1e6, 0.7);
      const wrong = z.rand() < 0.1;
      const step = z.num(-50, 200, 0.2);
      t = Number.isFinite(step) ? t + step : step;
      let out;
      try {
        out = wrong ? tracker.update(kp.subarray(0, Math.max(0, kp.length - 3)), n, t) : tracker.update(kp, n, t);
      } catch (e) {
        assert.ok(wrong && n > 0, `case ${c}: a well-formed frame threw ${e}`);
        expectDocumentedError(e, `case ${c}`);
        continue;
      }
      assert.ok(!wrong || n === 0, `case ${c}: a short keypoints array was taken`);
      assert.equal(out.ids.length, n);
      assert.equal(out.keypoints.length, n * NUM_PARTS * 3);
      assert.ok(out.keypoints.every(Number.isFinite), `case ${c}: non-finite keypoints out at t=${t}`);
      const ids = Array.from(out.ids).filter((id) => id >= 0);
      assert.equal(new Set(ids).size, ids.length, `case ${c}: an ID twice`);
      for (let i = 0; i < kp.length; i += 3) {
        const present = [kp[i], kp[i + 1], kp[i + 2]].every((v) => Number.isFinite(Math.fround(v)))
          && Math.abs(kp[i]) <= MAX_COORD_PX && Math.abs(kp[i + 1]) <= MAX_COORD_PX && kp[i + 2] > tracker.config.part_threshold;
        if (!present) assert.ok(out.keypoints[i] === 0 && out.keypoints[i + 2] === 0, `case ${c}: a missing part not at 0`);
      }
      tracked += ids.length;
    }
  }
  assert.ok(tracked > 0);
});
