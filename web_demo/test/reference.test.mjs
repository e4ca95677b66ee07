// The port's constants against the Python reference written into the golden index: skeleton
// tables, grouping/postprocess defaults, input normalisation, Gaussian taps (bit-exact).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { index } from './golden.mjs';
import * as skeleton from '../src/skeleton.js';
import { GROUPING_DEFAULTS, gaussianKernel } from '../src/grouping.js';
import { DEFAULT_STRIDE } from '../src/postprocess.js';
import { DEFAULT_INPUT_HEIGHT, PIXEL_SCALE, PIXEL_OFFSET } from '../src/preprocess.js';

const ref = index.reference;

test('skeleton tables match mln_tf.skeleton', () => {
  assert.deepEqual([...skeleton.PARTS], ref.skeleton.parts);
  assert.equal(skeleton.NUM_PARTS, ref.skeleton.parts.length);
  assert.deepEqual(Array.from(skeleton.LIMB_A, (a, k) => [a, skeleton.LIMB_B[k]]), ref.skeleton.limbs);
  assert.equal(skeleton.NUM_LIMBS, ref.skeleton.limbs.length);
  assert.deepEqual(Array.from(skeleton.PAF_X, (x, k) => [x, skeleton.PAF_Y[k]]), ref.skeleton.paf_channels);
  assert.equal(skeleton.NUM_PAFS, 2 * ref.skeleton.paf_channels.length);
  assert.deepEqual([...skeleton.DRAWN_LIMBS], ref.skeleton.drawn_limbs);
});

test('defaults and normalisation match Python', () => {
  assert.deepEqual({ ...GROUPING_DEFAULTS }, ref.grouping_defaults);
  assert.equal(DEFAULT_STRIDE, ref.postprocess_defaults.stride);
  assert.equal(1, ref.postprocess_defaults.upsample);
  assert.equal(DEFAULT_INPUT_HEIGHT, ref.default_input_height);
  assert.equal(PIXEL_SCALE, ref.pixel_scale);
  assert.equal(PIXEL_OFFSET, ref.pixel_offset);
});

test('gaussian taps are bit-identical', () => {
  assert.ok(ref.gaussian_kernels.length >= 5);
  for (const { sigma, taps } of ref.gaussian_kernels) {
    assert.deepEqual(Array.from(gaussianKernel(sigma)), taps.map(Math.fround), `sigma ${sigma}`);
  }
});
