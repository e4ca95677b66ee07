// The image resizes mln_tf gets from cv2.resize, ported from android_demo's Resize.java so the
// browser sees the pixels the server sees:
//  - areaU8: INTER_AREA shrinking of uint8 images, OpenCV's own algorithm (integer-factor fast
//    path, general area tables in float); bit-exact with opencv-python.
//  - cubicU8: INTER_CUBIC enlarging of uint8 images. CUBIC_IPP_FLOAT models opencv-python's
//    x86-64 IPP path (within one grey level on ~0.001% of values at ordinary factors);
//    CUBIC_OPENCV_FIXED_POINT is OpenCV's own 11-bit fixed-point path, bit-exact.
//  - cubicF32: INTER_CUBIC of float32 maps with any channel count (postprocess's upsampling).
// Images are interleaved row-major: channel c of pixel (y, x) at (y * w + x) * cn + c.

import { rint } from './numpy_math.js';

const f = Math.fround;
export const CUBIC_IPP_FLOAT = 'ipp_float';
export const CUBIC_OPENCV_FIXED_POINT = 'opencv_fixed_point';

const DBL_EPSILON = 2.220446049250313e-16;
const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

function checkSizes(srcLength, h, w, cn, dh, dw) {
  if (!(h >= 1 && w >= 1 && dh >= 1 && dw >= 1 && cn >= 1)) {
    throw new Error(`resize sizes must be positive, got ${h}x${w}x${cn} -> ${dh}x${dw}`);
  }
  if (srcLength !== h * w * cn) throw new Error(`image must hold ${h}x${w}x${cn} values, got ${srcLength}`);
}

function clamp(i, n) {
  return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

function saturateU8(v) {
  const r = rint(v);
  return r < 0 ? 0 : (r > 255 ? 255 : r);
}

// ------------------------------------------------------------------ INTER_AREA, uint8

/** cv2.resize(..., INTER_AREA) for shrinking (dh <= h and dw <= w); returns a Uint8Array. */
export function areaU8(src, h, w, cn, dh, dw) {
  checkSizes(src.length, h, w, cn, dh, dw);
  if (dh === h && dw === w) return Uint8Array.from(src);
  const scaleX = 1.0 / (dw / w);
  const scaleY = 1.0 / (dh / h);
  if (scaleX < 1 || scaleY < 1) throw new Error(`areaU8 only shrinks; got ${h}x${w} -> ${dh}x${dw}`);
  const iscaleX = rint(scaleX);
  const iscaleY = rint(scaleY);
  if (Math.abs(scaleX - iscaleX) < DBL_EPSILON && Math.abs(scaleY - iscaleY) < DBL_EPSILON) {
    return areaFast(src, h, w, cn, dh, dw, iscaleX, iscaleY);
  }
  return areaGeneral(src, h, w, cn, dh, dw, scaleX, scaleY);
}

function areaFast(src, h, w, cn, dh, dw, sx, sy) {
  const dst = new Uint8Array(dh * dw * cn);
  const area = sx * sy;
  const inv = f(1 / area);
  const shift = sx === 2 && sy === 2 && (cn === 1 || cn === 3 || cn === 4);
  for (let dy = 0; dy < dh; dy++) {
    const sy0 = dy * sy;
    for (let dx = 0; dx < dw; dx++) {
      for (let c = 0; c < cn; c++) {
        let sum = 0;
        for (let yy = 0; yy < sy; yy++) {
          const row = (sy0 + yy) * w;
          for (let xx = 0; xx < sx; xx++) sum += src[(row + dx * sx + xx) * cn + c];
        }
        dst[(dy * dw + dx) * cn + c] = shift ? (sum + 2) >> 2 : saturateU8(f(sum * inv));
      }
    }
  }
  return dst;
}

/** OpenCV's computeResizeAreaTab: (destination, source, weight) triples along one axis. */
function areaTab(ssize, dsize, scale) {
  const di = [], si = [], alpha = [];
  const add = (d, s, a) => { di.push(d); si.push(s); alpha.push(f(a)); };
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) add(dx, sx1 - 1, (sx1 - fsx1) / cellWidth);
    for (let sx = sx1; sx < sx2; sx++) add(dx, sx, 1.0 / cellWidth);
    if (fsx2 - sx2 > 1e-3) add(dx, sx2, Math.min(Math.min(fsx2 - sx2, 1.0), cellWidth) / cellWidth);
  }
  return { di, si, alpha, size: di.length };
}

function areaGeneral(src, h, w, cn, dh, dw, scaleX, scaleY) {
  const xtab = areaTab(w, dw, scaleX);
  const ytab = areaTab(h, dh, scaleY);
  const width = dw * cn;
  const buf = new Float32Array(width); // horizontal pass of source row bufRow
  let bufRow = -1;
  const sum = new Float32Array(width);
  const dst = new Uint8Array(dh * width);
  let j = 0;
  for (let dy = 0; dy < dh; dy++) {
    sum.fill(0);
    for (; j < ytab.size && ytab.di[j] === dy; j++) {
      const beta = ytab.alpha[j];
      const sy = ytab.si[j];
      if (sy !== bufRow) { // a row shared by two destination rows is weighted once
        const srow = sy * w * cn;
        buf.fill(0);
        for (let k = 0; k < xtab.size; k++) {
          const s = srow + xtab.si[k] * cn;
          const d = xtab.di[k] * cn;
          const alpha = xtab.alpha[k];
          for (let c = 0; c < cn; c++) buf[d + c] += f(src[s + c] * alpha);
        }
        bufRow = sy;
      }
      for (let x = 0; x < width; x++) sum[x] += f(beta * buf[x]);
    }
    for (let x = 0; x < width; x++) dst[dy * width + x] = saturateU8(sum[x]);
  }
  return dst;
}

// ------------------------------------------------------------------ INTER_CUBIC

const A = f(-0.75);
const A5 = f(5 * A), A8 = f(8 * A), A4 = f(4 * A), AP2 = f(A + 2), AP3 = f(A + 3);

/** OpenCV's interpolateCubic: Keys kernel, a = -0.75, all in float32; writes 4 taps at c[off..]. */
function cubicCoeffs(x, c, off) {
  const x1 = f(x + 1);
  c[off] = f(f(f(f(f(f(A * x1) - A5) * x1) + A8) * x1) - A4);
  c[off + 1] = f(f(f(f(f(AP2 * x) - AP3) * x) * x) + 1);
  const y = f(1 - x);
  c[off + 2] = f(f(f(f(f(AP2 * y) - AP3) * y) * y) + 1);
  c[off + 3] = f(f(f(1 - c[off]) - c[off + 1]) - c[off + 2]);
}

/** OpenCV's source offsets and cubic weights along one axis (resize's coefficient loop). */
function cubicOffsets(ssize, dsize, coeffs) {
  const inv = dsize / ssize;
  const scale = 1.0 / inv;
  const ofs = new Int32Array(dsize);
  for (let d = 0; d < dsize; d++) {
    let fl = f((d + 0.5) * scale - 0.5);
    const s = Math.floor(fl);
    fl = f(fl - s);
    ofs[d] = s;
    cubicCoeffs(fl, coeffs, d * 4);
  }
  return ofs;
}

/** The horizontal pass of a float cubic resize: every source row to dw columns, in float32. */
function horizontalCubic(src, h, w, cn, dw, xofs, alpha) {
  const width = dw * cn;
  const rows = new Float32Array(h * width);
  for (let y = 0; y < h; y++) {
    const srow = y * w * cn;
    const drow = y * width;
    for (let dx = 0; dx < dw; dx++) {
      const sx = xofs[dx];
      const x0 = clamp(sx - 1, w), x1 = clamp(sx, w), x2 = clamp(sx + 1, w), x3 = clamp(sx + 2, w);
      const a0 = alpha[dx * 4], a1 = alpha[dx * 4 + 1], a2 = alpha[dx * 4 + 2], a3 = alpha[dx * 4 + 3];
      for (let c = 0; c < cn; c++) {
        rows[drow + dx * cn + c] = f(f(f(f(src[srow + x0 * cn + c] * a0) + f(src[srow + x1 * cn + c] * a1))
          + f(src[srow + x2 * cn + c] * a2)) + f(src[srow + x3 * cn + c] * a3));
      }
    }
  }
  return rows;
}

/** cv2.resize(..., INTER_CUBIC) of a float32 image with any channel count (OpenCV's float path). */
export function cubicF32(src, h, w, cn, dh, dw) {
  checkSizes(src.length, h, w, cn, dh, dw);
  if (dh === h && dw === w) return Float32Array.from(src);
  const alpha = new Float32Array(dw * 4);
  const beta = new Float32Array(dh * 4);
  const xofs = cubicOffsets(w, dw, alpha);
  const yofs = cubicOffsets(h, dh, beta);
  const width = dw * cn;
  const rows = horizontalCubic(src, h, w, cn, dw, xofs, alpha);
  const dst = new Float32Array(dh * width);
  const simd = width - (width % 4); // OpenCV's 4-lane SIMD body (x86 SSE baseline); scalar tail after it
  for (let dy = 0; dy < dh; dy++) {
    const sy = yofs[dy];
    const r0 = clamp(sy - 1, h) * width, r1 = clamp(sy, h) * width;
    const r2 = clamp(sy + 1, h) * width, r3 = clamp(sy + 2, h) * width;
    const b0 = beta[dy * 4], b1 = beta[dy * 4 + 1], b2 = beta[dy * 4 + 2], b3 = beta[dy * 4 + 3];
    const o = dy * width;
    for (let x = 0; x < simd; x++) {
      dst[o + x] = f(rows[r0 + x] * b0) + f(f(rows[r1 + x] * b1) + f(f(rows[r2 + x] * b2) + f(rows[r3 + x] * b3)));
    }
    for (let x = simd; x < width; x++) {
      dst[o + x] = f(f(f(rows[r0 + x] * b0) + f(rows[r1 + x] * b1)) + f(rows[r2 + x] * b2)) + f(rows[r3 + x] * b3);
    }
  }
  return dst;
}

/** cv2.resize(..., INTER_CUBIC) of a uint8 image; mode CUBIC_IPP_FLOAT or CUBIC_OPENCV_FIXED_POINT. */
export function cubicU8(src, h, w, cn, dh, dw, mode = CUBIC_IPP_FLOAT) {
  checkSizes(src.length, h, w, cn, dh, dw);
  if (dh === h && dw === w) return Uint8Array.from(src);
  if (mode === CUBIC_OPENCV_FIXED_POINT) return cubicU8Fixed(src, h, w, cn, dh, dw);
  if (mode === CUBIC_IPP_FLOAT) return cubicU8Float(src, h, w, cn, dh, dw);
  throw new Error(`unknown cubic mode '${mode}'`);
}

function saturateShort(v) {
  const r = rint(v);
  return r < -32768 ? -32768 : (r > 32767 ? 32767 : r);
}

function cubicU8Fixed(src, h, w, cn, dh, dw) {
  const alpha = new Float32Array(dw * 4);
  const beta = new Float32Array(dh * 4);
  const xofs = cubicOffsets(w, dw, alpha);
  const yofs = cubicOffsets(h, dh, beta);
  const ia = Int32Array.from(alpha, (v) => saturateShort(f(v * COEF_SCALE)));
  const ib = Int32Array.from(beta, (v) => saturateShort(f(v * COEF_SCALE)));
  const width = dw * cn;
  const rows = new Int32Array(h * width);
  for (let y = 0; y < h; y++) {
    const srow = y * w * cn;
    const drow = y * width;
    for (let dx = 0; dx < dw; dx++) {
      const sx = xofs[dx];
      const x0 = clamp(sx - 1, w), x1 = clamp(sx, w), x2 = clamp(sx + 1, w), x3 = clamp(sx + 2, w);
      const a0 = ia[dx * 4], a1 = ia[dx * 4 + 1], a2 = ia[dx * 4 + 2], a3 = ia[dx * 4 + 3];
      for (let c = 0; c < cn; c++) {
        rows[drow + dx * cn + c] = src[srow + x0 * cn + c] * a0 + src[srow + x1 * cn + c] * a1
          + src[srow + x2 * cn + c] * a2 + src[srow + x3 * cn + c] * a3;
      }
    }
  }
  const dst = new Uint8Array(dh * width);
  const scale = f(1 / (COEF_SCALE * COEF_SCALE));
  const simd = width - (width % 8); // OpenCV's SIMD body (8 values a step, float math); integer tail
  const half = 2 ** (2 * COEF_BITS - 1), unit = 2 ** (2 * COEF_BITS);
  for (let dy = 0; dy < dh; dy++) {
    const sy = yofs[dy];
    const r0 = clamp(sy - 1, h) * width, r1 = clamp(sy, h) * width;
    const r2 = clamp(sy + 1, h) * width, r3 = clamp(sy + 2, h) * width;
    const b0 = ib[dy * 4], b1 = ib[dy * 4 + 1], b2 = ib[dy * 4 + 2], b3 = ib[dy * 4 + 3];
    const f0 = f(b0 * scale), f1 = f(b1 * scale), f2 = f(b2 * scale), f3 = f(b3 * scale);
    const o = dy * width;
    for (let x = 0; x < simd; x++) {
      const v = f(f(rows[r0 + x] * f0) + f(f(rows[r1 + x] * f1) + f(f(rows[r2 + x] * f2) + f(rows[r3 + x] * f3))));
      dst[o + x] = saturateU8(v);
    }
    for (let x = simd; x < width; x++) {
      // exact in float64: |v| < 2^53
      const v = rows[r0 + x] * b0 + rows[r1 + x] * b1 + rows[r2 + x] * b2 + rows[r3 + x] * b3;
      const r = Math.floor((v + half) / unit);
      dst[o + x] = r < 0 ? 0 : (r > 255 ? 255 : r);
    }
  }
  return dst;
}

/** Keys cubic weights (a = -0.75) in float64, rounded to float32: the IPP model's kernel. */
function keysOffsets(ssize, dsize, coeffs) {
  const scale = ssize / dsize;
  const ofs = new Int32Array(dsize);
  for (let d = 0; d < dsize; d++) {
    const fl = (d + 0.5) * scale - 0.5;
    const s = Math.floor(fl);
    const t = fl - s;
    ofs[d] = s;
    coeffs[d * 4] = keys(t + 1);
    coeffs[d * 4 + 1] = keys(t);
    coeffs[d * 4 + 2] = keys(1 - t);
    coeffs[d * 4 + 3] = keys(2 - t);
  }
  return ofs;
}

function keys(x) {
  const a = -0.75;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

function cubicU8Float(src, h, w, cn, dh, dw) {
  const alpha = new Float32Array(dw * 4);
  const beta = new Float32Array(dh * 4);
  const xofs = keysOffsets(w, dw, alpha);
  const yofs = keysOffsets(h, dh, beta);
  const width = dw * cn;
  const rows = horizontalCubic(src, h, w, cn, dw, xofs, alpha);
  const dst = new Uint8Array(dh * width);
  for (let dy = 0; dy < dh; dy++) {
    const sy = yofs[dy];
    const r0 = clamp(sy - 1, h) * width, r1 = clamp(sy, h) * width;
    const r2 = clamp(sy + 1, h) * width, r3 = clamp(sy + 2, h) * width;
    const b0 = beta[dy * 4], b1 = beta[dy * 4 + 1], b2 = beta[dy * 4 + 2], b3 = beta[dy * 4 + 3];
    const o = dy * width;
    for (let x = 0; x < width; x++) {
      const v = f(f(f(f(rows[r0 + x] * b0) + f(rows[r1 + x] * b1)) + f(rows[r2 + x] * b2)) + f(rows[r3 + x] * b3));
      dst[o + x] = saturateU8(v);
    }
  }
  return dst;
}
