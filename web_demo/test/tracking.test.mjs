// Same frames -> same IDs and smoothed keypoints as mln_tf.tracking.PoseTracker, on every golden
// sequence of android_demo/tools/tracking_golden.py (within 1e-5 px; IDs exactly).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOLDEN_DIR } from './golden.mjs';
import { PoseTracker, trackerConfig, linearSumAssignment, OKS_SIGMAS, MIN_STEP_MS, NO_MATCH_COST,
  AREA_HALF_LIFE_S } from '../src/tracking.js';

const golden = JSON.parse(readFileSync(join(GOLDEN_DIR, 'tracking.json'), 'utf8'));
if (golden.format !== 1) throw new Error(`tracking golden format ${golden.format}, this reader knows 1`);
const worst = { cases: 0, frames: 0, people: 0, keypointPx: 0 };

test('tracker defaults and constants are Python\'s', () => {
  const ref = golden.reference;
  const { smoothing, ...fields } = ref.tracker_defaults;
  const ours = trackerConfig();
  for (const [k, v] of Object.entries(fields)) assert.equal(ours[k], v, k);
  assert.deepEqual({ ...ours.smoothing }, smoothing);
  assert.deepEqual([...OKS_SIGMAS], ref.oks_sigmas);
  assert.equal(MIN_STEP_MS, ref.min_step_ms);
  assert.equal(NO_MATCH_COST, ref.no_match_cost);
  assert.equal(AREA_HALF_LIFE_S, ref.area_half_life_s);
});

for (const c of golden.cases) {
  test(`tracking ${c.name}`, () => {
    const tracker = new PoseTracker(trackerConfig(c.config));
    c.frames.forEach((f, k) => {
      const count = f.keypoints.length;
      const kp = new Float64Array(count * 54);
      f.keypoints.forEach((person, p) => person.forEach((v, i) => { kp[p * 54 + i] = v === null ? NaN : v; }));
      const got = tracker.update(kp, count, f.t);
      assert.deepEqual(Array.from(got.ids), f.ids, `frame ${k}: IDs`);
      let d = 0;
      f.out.forEach((person, p) => person.forEach((v, i) => { d = Math.max(d, Math.abs(got.keypoints[p * 54 + i] - v)); }));
      assert.ok(d <= 1e-5, `frame ${k}: keypoints differ by ${d}`);
      worst.keypointPx = Math.max(worst.keypointPx, d);
      worst.frames++;
      worst.people += count;
    });
    assert.equal(tracker.nextId, c.tracks);
    worst.cases++;
  });
}

test('the assignment is optimal (brute force on small matrices)', () => {
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const perms = (items, k) => (k === 0 ? [[]] : items.flatMap((x, i) =>
    perms([...items.slice(0, i), ...items.slice(i + 1)], k - 1).map((rest) => [x, ...rest])));
  for (let trial = 0; trial < 200; trial++) {
    const rows = 1 + Math.floor(rand() * 5), cols = 1 + Math.floor(rand() * 5);
    const cost = Float64Array.from({ length: rows * cols }, () => (rand() < 0.3 ? NO_MATCH_COST : rand()));
    const pairs = linearSumAssignment(cost, rows, cols);
    assert.equal(pairs.length, Math.min(rows, cols));
    const total = pairs.reduce((s, [r, c]) => s + cost[r * cols + c], 0);
    let best = Infinity;
    if (rows <= cols) {
      for (const p of perms([...Array(cols).keys()], rows)) best = Math.min(best, p.reduce((s, c, r) => s + cost[r * cols + c], 0));
    } else {
      for (const p of perms([...Array(rows).keys()], cols)) best = Math.min(best, p.reduce((s, r, c) => s + cost[r * cols + c], 0));
    }
    assert.ok(Math.abs(total - best) < 1e-6, `trial ${trial}: ${total} vs optimum ${best}`);
  }
});

test('bad tracker input is one clear error', () => {
  assert.throws(() => trackerConfig({ max_age: 5 }), /unknown tracker option 'max_age'/);
  assert.throws(() => trackerConfig({ min_similarity: 2 }), /min_similarity/);
  assert.throws(() => trackerConfig({ smoothing: { min_cutoff: 0 } }), /min_cutoff/);
  assert.throws(() => new PoseTracker().update(new Float64Array(10), 1, 0), /people x 18 x 3/);
  const empty = new PoseTracker().update(new Float64Array(0), 0, 0);
  assert.equal(empty.ids.length, 0);
});

after(() => {
  console.log(`# tracking parity over ${worst.cases} cases, ${worst.frames} frames, ${worst.people} people: `
    + `IDs identical, max |keypoint - python| ${worst.keypointPx.toExponential(2)} px`);
});
