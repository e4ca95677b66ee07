// RGB image to network input, as mln_tf.inference.preprocess (via android_demo's Preprocess.java):
// resize keeping the aspect ratio (INTER_AREA when shrinking, INTER_CUBIC when enlarging, see
// resize.js), pad bottom/right with grey (pixel 128, i.e. 0 after normalisation) and normalise
// pixel / 256 - 0.5 into float32, HWC. Two layouts, as in Python: toHeight (resize to a height,
// pad the width to the stride) and letterbox (fit inside a fixed input size, e.g. a .tflite).

import { rint } from './numpy_math.js';
import { areaU8, cubicU8, CUBIC_IPP_FLOAT } from './resize.js';
import { makeTransform, DEFAULT_STRIDE } from './postprocess.js';

export const DEFAULT_INPUT_HEIGHT = 368; // mln_tf.inference.DEFAULT_INPUT_HEIGHT
export const PIXEL_SCALE = 1 / 256; // paper 3.2: pixel / 256 - 0.5
export const PIXEL_OFFSET = -0.5;

/** An RGB image: {pixels: Uint8Array(h*w*3) interleaved row-major, height, width}. */
export function rgbImage(pixels, height, width) {
  if (!(Number.isInteger(height) && Number.isInteger(width) && height >= 1 && width >= 1)) {
    throw new Error(`image size must be positive, got ${height}x${width}`);
  }
  if (!pixels || pixels.length !== height * width * 3) {
    throw new Error(`an RGB image of ${height}x${width} needs ${height * width * 3} bytes, got ${pixels ? pixels.length : pixels}`);
  }
  return { pixels, height, width };
}

/** From RGBA bytes (canvas ImageData.data): alpha dropped, as mln_tf.inference.as_rgb. */
export function rgbFromRgba(rgba, height, width) {
  if (rgba.length !== height * width * 4) throw new Error(`RGBA pixels of ${height}x${width} need ${height * width * 4} bytes, got ${rgba.length}`);
  const rgb = new Uint8Array(height * width * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = rgba[j];
    rgb[i + 1] = rgba[j + 1];
    rgb[i + 2] = rgba[j + 2];
  }
  return rgbImage(rgb, height, width);
}

/** From one gray byte per pixel, replicated to three channels (as_rgb). */
export function rgbFromGray(gray, height, width) {
  if (gray.length !== height * width) throw new Error(`gray pixels of ${height}x${width} need ${height * width} bytes, got ${gray.length}`);
  const rgb = new Uint8Array(height * width * 3);
  for (let i = 0; i < gray.length; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = gray[i];
  return rgbImage(rgb, height, width);
}

function checkImage(h, w) {
  if (!(h >= 1 && w >= 1)) throw new Error(`image size must be positive, got ${h}x${w}`);
}

function ceilTo(v, m) {
  return Math.ceil(v / m) * m;
}

/** The geometry of preprocess(image, input_height) for an image of h x w. */
export function planToHeight(h, w, inputHeight, stride = DEFAULT_STRIDE) {
  checkImage(h, w);
  if (!(stride >= 1)) throw new Error(`stride must be >= 1, got ${stride}`);
  if (!(inputHeight >= stride)) throw new Error(`input_height must be >= ${stride}, got ${inputHeight}`);
  const s = inputHeight / h;
  const ch = inputHeight;
  const cw = Math.max(1, rint(w * s));
  return makeTransform({ imageH: h, imageW: w, inputH: ceilTo(ch, stride), inputW: ceilTo(cw, stride),
    scaleX: cw / w, scaleY: ch / h, contentH: ch, contentW: cw });
}

/** The geometry of preprocess(image, input_hw=(inputH, inputW)) for an image of h x w. */
export function planLetterbox(h, w, inputH, inputW, stride = DEFAULT_STRIDE) {
  checkImage(h, w);
  if (!(inputH > 0 && inputW > 0)) throw new Error(`input size must be positive, got ${inputH}x${inputW}`);
  if (!(stride >= 1) || inputH % stride !== 0 || inputW % stride !== 0) {
    throw new Error(`input_hw (${inputH}, ${inputW}) must be multiples of ${stride}`);
  }
  const s = Math.min(inputH / h, inputW / w);
  const ch = Math.min(inputH, Math.max(1, rint(h * s)));
  const cw = Math.min(inputW, Math.max(1, rint(w * s)));
  return makeTransform({ imageH: h, imageW: w, inputH, inputW, scaleX: cw / w, scaleY: ch / h,
    contentH: ch, contentW: cw });
}

/** The uint8 content the network sees (before normalisation and padding): the resize alone. */
export function resizeContent(image, t, mode = CUBIC_IPP_FLOAT) {
  if (t.contentH < image.height) return areaU8(image.pixels, image.height, image.width, 3, t.contentH, t.contentW);
  return cubicU8(image.pixels, image.height, image.width, 3, t.contentH, t.contentW, mode);
}

/** Resize + pad + normalise `image` per transform `t` into `out` (Float32Array inputH*inputW*3, reusable). */
export function fill(image, t, out, mode = CUBIC_IPP_FLOAT) {
  if (image.height !== t.imageH || image.width !== t.imageW) {
    throw new Error(`transform is for a ${t.imageH}x${t.imageW} image, got ${image.height}x${image.width}`);
  }
  if (out.length !== t.inputH * t.inputW * 3) {
    throw new Error(`output buffer must hold ${t.inputH}x${t.inputW}x3 floats, got ${out.length}`);
  }
  const content = resizeContent(image, t, mode);
  out.fill(0); // grey padding: pixel 128 -> 0
  const rowLen = t.contentW * 3;
  for (let y = 0; y < t.contentH; y++) {
    const s = y * rowLen;
    const d = y * t.inputW * 3;
    for (let i = 0; i < rowLen; i++) out[d + i] = content[s + i] * PIXEL_SCALE + PIXEL_OFFSET; // exact in float32
  }
  return out;
}

/** preprocess(image, input_height): {input, height, width, transform}. */
export function toHeight(image, inputHeight = DEFAULT_INPUT_HEIGHT, stride = DEFAULT_STRIDE, mode = CUBIC_IPP_FLOAT) {
  const t = planToHeight(image.height, image.width, inputHeight, stride);
  const input = fill(image, t, new Float32Array(t.inputH * t.inputW * 3), mode);
  return { input, height: t.inputH, width: t.inputW, transform: t };
}

/** preprocess(image, input_hw=(inputH, inputW)): letterbox into a fixed input size. */
export function letterbox(image, inputH, inputW, stride = DEFAULT_STRIDE, mode = CUBIC_IPP_FLOAT, out = null) {
  const t = planLetterbox(image.height, image.width, inputH, inputW, stride);
  const input = fill(image, t, out ?? new Float32Array(inputH * inputW * 3), mode);
  return { input, height: inputH, width: inputW, transform: t };
}
