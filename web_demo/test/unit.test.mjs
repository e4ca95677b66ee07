// Bad input gets a clear error naming the problem; small properties of the port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupingConfig, groupPeople, parabolaOffset } from '../src/grouping.js';
import { postprocess, postprocessConfig, transformFromResize } from '../src/postprocess.js';
import { rgbImage, rgbFromRgba, toHeight, letterbox, planLetterbox } from '../src/preprocess.js';
import { rint } from '../src/numpy_math.js';
import { cubicU8 } from '../src/resize.js';

test('rint rounds half to even like cvRound and Python round', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map(rint), [0, 2, 2, -0, -2, -2, 2, 3]);
});

test('grouping config is validated', () => {
  assert.throws(() => groupingConfig({ samples: 1 }), /samples/);
  assert.throws(() => groupingConfig({ max_peaks: 0 }), /max_peaks/);
  assert.throws(() => groupingConfig({ smooth_sigma: -1 }), /smooth_sigma/);
  assert.throws(() => groupingConfig({ min_fraction: 1.5 }), /min_fraction/);
  assert.throws(() => groupingConfig({ peak_treshold: 0.2 }), /unknown grouping option 'peak_treshold'/);
  assert.throws(() => postprocessConfig({ upsample: 0 }), /upsample/);
});

test('maps of the wrong shape or with NaN are refused', () => {
  const hm = new Float32Array(4 * 5 * 19), pf = new Float32Array(4 * 5 * 38);
  assert.throws(() => groupPeople(hm, 17, pf, 4, 5), /18 or 19 channels/);
  assert.throws(() => groupPeople(hm.subarray(1), 19, pf, 4, 5), /heatmaps must hold/);
  assert.throws(() => groupPeople(hm, 19, pf.subarray(2), 4, 5), /pafs must be/);
  const bad = hm.slice();
  bad[7] = NaN;
  assert.throws(() => groupPeople(bad, 19, pf, 4, 5), /NaN or infinity/);
  assert.throws(() => postprocess(hm, 19, pf, 4, 5, transformFromResize(64, 64, 64, 64)), /transform's input/);
});

test('all-zero maps give nobody, not an error', () => {
  const poses = groupPeople(new Float32Array(6 * 7 * 19), 19, new Float32Array(6 * 7 * 38), 6, 7);
  assert.equal(poses.count, 0);
});

test('parabola offset is clipped and handles borders', () => {
  assert.equal(parabolaOffset(-Infinity, 1, 0.5), 0);
  assert.equal(parabolaOffset(0.9, 1, 0), Math.fround(Math.fround(0.5 * 0.9) / Math.fround(Math.fround(0.9 - 2) + 0)));
  assert.equal(parabolaOffset(2, 1, -1), -0.5); // vertex at -1.5, clipped
  assert.ok(Math.abs(parabolaOffset(10, 1, 0)) <= 0.5);
});

test('bad images and sizes are refused with the problem named', () => {
  assert.throws(() => rgbImage(new Uint8Array(10), 2, 2), /needs 12 bytes/);
  assert.throws(() => rgbImage(new Uint8Array(0), 0, 0), /must be positive/);
  assert.throws(() => rgbFromRgba(new Uint8Array(12), 2, 2), /need 16 bytes/);
  const img = rgbImage(new Uint8Array(4 * 6 * 3).fill(200), 4, 6);
  assert.throws(() => toHeight(img, 4), /input_height must be >= 8/);
  assert.throws(() => letterbox(img, 30, 32), /multiples of 8/);
  assert.throws(() => cubicU8(img.pixels, 4, 6, 3, 8, 12, 'lanczos'), /unknown cubic mode/);
});

test('letterbox pads with grey 0 and keeps the aspect ratio', () => {
  const img = rgbImage(new Uint8Array(40 * 80 * 3).fill(255), 40, 80);
  const t = planLetterbox(40, 80, 64, 64);
  assert.deepEqual([t.contentH, t.contentW], [32, 64]);
  const r = letterbox(img, 64, 64);
  assert.equal(r.input[0], 255 / 256 - 0.5);
  assert.equal(r.input[(40 * 64) * 3], 0); // a padding row
});
