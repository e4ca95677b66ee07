// Same image -> same network input as mln_tf.inference.preprocess. Bit-exact for INTER_AREA
// (shrinking), copies and cv2's own fixed-point INTER_CUBIC (cases run with IPP off); cv2's
// default INTER_CUBIC on x86-64 runs in Intel IPP, which the float model matches within one
// grey level on at most 0.1% of the values (the bar of the Java port). Float resize of maps: exact.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cases, load, maxDiff } from './golden.mjs';
import { rgbImage, rgbFromGray, rgbFromRgba, toHeight, letterbox, PIXEL_SCALE, PIXEL_OFFSET } from '../src/preprocess.js';
import { CUBIC_IPP_FLOAT, CUBIC_OPENCV_FIXED_POINT, cubicF32 } from '../src/resize.js';

const IPP_MAX_DIFF = 1 / 256 + 1e-7;
const IPP_MAX_SHARE = 1e-3;
const images = load('images.npz');
const stats = { exact: 0, total: 0, ippValues: 0, ippDiffering: 0, ippMax: 0, resize: 0, resizeCases: 0 };

function toRgb(img) {
  const [h, w, c] = img.shape;
  if (img.shape.length === 2) return rgbFromGray(img.data, h, w);
  if (c === 4) return rgbFromRgba(img.data, h, w);
  return rgbImage(img.data, h, w);
}

for (const c of cases('preprocess')) {
  test(`preprocess ${c.name}`, () => {
    const img = toRgb(images[c.image]);
    const mode = c.ipp ? CUBIC_IPP_FLOAT : CUBIC_OPENCV_FIXED_POINT;
    const r = c.input_hw ? letterbox(img, c.input_hw[0], c.input_hw[1], 8, mode) : toHeight(img, c.input_height, 8, mode);
    const want = c.transform, got = r.transform;
    assert.deepEqual([got.imageH, got.imageW, got.inputH, got.inputW, got.contentH, got.contentW],
      [...want.image_hw, ...want.input_hw, ...want.content_hw], 'transform sizes');
    assert.equal(got.scaleX, want.scale[0], 'scale x');
    assert.equal(got.scaleY, want.scale[1], 'scale y');
    const levels = load(c.file).levels.data;
    assert.equal(r.input.length, levels.length);
    let differing = 0, max = 0;
    for (let i = 0; i < levels.length; i++) {
      const d = Math.abs(Math.fround(levels[i] * PIXEL_SCALE + PIXEL_OFFSET) - r.input[i]);
      if (d > 0) {
        differing++;
        max = Math.max(max, d);
      }
    }
    const ippCubic = c.ipp && c.interpolation === 'cubic' && got.contentH !== img.height;
    stats.total++;
    if (differing === 0) stats.exact++;
    if (ippCubic) {
      stats.ippValues += levels.length;
      stats.ippDiffering += differing;
      stats.ippMax = Math.max(stats.ippMax, max);
      assert.ok(max <= IPP_MAX_DIFF, `differs by ${max}`);
      assert.ok(differing <= IPP_MAX_SHARE * levels.length, `${differing} of ${levels.length} values differ`);
    } else {
      assert.equal(differing, 0, `values differing from Python (max ${max})`);
    }
  });
}

for (const c of cases('resize_f32')) {
  test(`resize_f32 ${c.name}`, () => {
    const d = load(c.file);
    const [h, w, cn] = d.src.shape;
    const got = cubicF32(d.src.data, h, w, cn, c.dst_hw[0], c.dst_hw[1]);
    const diff = maxDiff(d.dst.data, got);
    stats.resize = Math.max(stats.resize, diff);
    stats.resizeCases++;
    assert.equal(diff, 0, `float resize differs by ${diff}`);
  });
}

after(() => {
  console.log(`# preprocess: ${stats.exact}/${stats.total} cases bit-exact; IPP cubic model: ${stats.ippDiffering} of `
    + `${stats.ippValues} values differ, max ${stats.ippMax} (1/256 = one grey level); float resize `
    + `${stats.resizeCases} cases, max diff ${stats.resize}`);
});
