// One image's maps to people in original-image pixels, as mln_tf.inference.postprocess (via
// android_demo's Postprocess.java, Transform.java, Coords.java): crop the maps to the part
// covering the image (padding dropped), optionally upsample them (bicubic, as cv2.resize),
// group, and map every keypoint back through the stride and the transform. Missing parts
// stay (0, 0, 0).

import { groupPeople, groupingConfig, makePoses } from './grouping.js';
import { cubicF32 } from './resize.js';

const f = Math.fround;
/** Default stride of the network's output maps (mln_tf.coords.DEFAULT_STRIDE). */
export const DEFAULT_STRIDE = 8;

/**
 * Geometry between an original image and the network input made from it (mln_tf.inference.Transform):
 * the image (imageH x imageW) was resized by (scaleX, scaleY) to contentH x contentW and padded at
 * the bottom and right to inputH x inputW. Scales are kept in float64 (Python floats), used as float32.
 */
export function makeTransform({ imageH, imageW, inputH, inputW, scaleX, scaleY, contentH, contentW }) {
  for (const [k, v] of Object.entries({ imageH, imageW, inputH, inputW, contentH, contentW })) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`transform ${k} must be a positive integer, got ${v}`);
  }
  if (!(scaleX > 0) || !(scaleY > 0)) throw new Error(`scales must be positive, got ${scaleX}, ${scaleY}`);
  return Object.freeze({ imageH, imageW, inputH, inputW, scaleX, scaleY, contentH, contentW });
}

/** A plain resize of the whole image to the input size, no padding (Transform.from_resize). */
export function transformFromResize(imageH, imageW, inputH, inputW) {
  return makeTransform({ imageH, imageW, inputH, inputW, scaleX: inputW / imageW, scaleY: inputH / imageH,
    contentH: inputH, contentW: inputW });
}

/** Input-pixel coordinate -> original-image pixel coordinate along x (float32, as NumPy). */
export function inputToImageX(t, x) {
  return f(f(f(x + 0.5) / f(t.scaleX)) - 0.5);
}

export function inputToImageY(t, y) {
  return f(f(f(y + 0.5) / f(t.scaleY)) - 0.5);
}

/** Map-pixel coordinate -> input pixel (mln_tf.coords: map pixel j is centred on s*j + (s-1)/2). */
export function mapToInput(v, stride) {
  return f(f(v * stride) + f((stride - 1) / 2.0));
}

/** How maps become people: grouping config, upsampling factor, stride (mln_tf.inference.PostprocessConfig). */
export function postprocessConfig({ grouping = groupingConfig(), upsample = 1, stride = DEFAULT_STRIDE } = {}) {
  if (!(Number.isInteger(upsample) && upsample >= 1) || !(Number.isInteger(stride) && stride >= 1)) {
    throw new Error('upsample and stride must be integers >= 1');
  }
  return Object.freeze({ grouping, upsample, stride });
}

/** HWC heatmaps (h, w, 18|19) and pafs (h, w, 38) of one image + its transform -> people in image pixels. */
export function postprocess(heatmaps, heatmapChannels, pafs, h, w, transform, config = postprocessConfig()) {
  const g = groupingMaps(heatmaps, heatmapChannels, pafs, h, w, transform, config);
  const poses = groupPeople(g.heatmaps, heatmapChannels, g.pafs, g.height, g.width, config.grouping);
  if (poses.count === 0) return poses;
  const s = config.stride;
  const kp = Float32Array.from(poses.keypoints);
  const up = config.upsample;
  for (let i = 0; i < kp.length; i += 3) {
    if (kp[i + 2] > 0) {
      const mx = f(f(f(kp[i] + 0.5) / up) - 0.5);
      const my = f(f(f(kp[i + 1] + 0.5) / up) - 0.5);
      kp[i] = inputToImageX(transform, mapToInput(mx, s));
      kp[i + 1] = inputToImageY(transform, mapToInput(my, s));
    } else {
      kp[i] = 0;
      kp[i + 1] = 0;
    }
  }
  return makePoses(kp, poses.scores);
}

/** The maps grouping runs on: cropped to the image content, upsampled if configured. */
export function groupingMaps(heatmaps, heatmapChannels, pafs, h, w, transform, config) {
  if (!(h >= 1 && w >= 1 && heatmapChannels >= 1) || heatmaps.length !== h * w * heatmapChannels) {
    throw new Error(`expected one image's heatmaps (${h}, ${w}, ${heatmapChannels}), got ${heatmaps.length} values`);
  }
  if (pafs.length === 0 || pafs.length % (h * w) !== 0) {
    throw new Error(`expected one image's pafs (${h}, ${w}, 38), got ${pafs.length} values`);
  }
  const pafChannels = pafs.length / (h * w);
  const s = config.stride;
  const expH = Math.floor(transform.inputH / s), expW = Math.floor(transform.inputW / s);
  if (h !== expH || w !== expW) {
    throw new Error(`maps are ${h}x${w} but the transform's input (${transform.inputH}, ${transform.inputW}) `
      + `at stride ${s} gives ${expH}x${expW}`);
  }
  const rows = Math.min(h, Math.ceil(transform.contentH / s));
  const cols = Math.min(w, Math.ceil(transform.contentW / s));
  const hm = crop(heatmaps, h, w, heatmapChannels, rows, cols);
  const pf = crop(pafs, h, w, pafChannels, rows, cols);
  const up = config.upsample;
  if (up === 1) return { heatmaps: hm, pafs: pf, height: rows, width: cols };
  return {
    heatmaps: cubicF32(hm, rows, cols, heatmapChannels, rows * up, cols * up),
    pafs: cubicF32(pf, rows, cols, pafChannels, rows * up, cols * up),
    height: rows * up, width: cols * up,
  };
}

function crop(maps, h, w, c, rows, cols) {
  if (rows === h && cols === w) return maps;
  const out = new Float32Array(rows * cols * c);
  for (let y = 0; y < rows; y++) out.set(maps.subarray(y * w * c, y * w * c + cols * c), y * cols * c);
  return out;
}
