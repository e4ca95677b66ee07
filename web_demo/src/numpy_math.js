// The few operations whose rounding must follow NumPy's exactly (NumpyMath.java): pairwise
// summation, linspace, float32 hypot. float32 arithmetic is emulated with Math.fround after
// every operation (exact: a double result rounded once to float32 equals the float32 result).

const f = Math.fround;
const PW_BLOCKSIZE = 128; // numpy/_core/src/umath/loops_utils.h.src

/** NumPy's pairwise sum of a[off .. off+n), every addition rounded by ``round`` (its dtype). */
function pairwiseSum(a, off, n, round) {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res = round(res + a[off + i]);
    return res;
  }
  if (n <= PW_BLOCKSIZE) {
    let r0 = a[off], r1 = a[off + 1], r2 = a[off + 2], r3 = a[off + 3];
    let r4 = a[off + 4], r5 = a[off + 5], r6 = a[off + 6], r7 = a[off + 7];
    let i;
    for (i = 8; i < n - (n % 8); i += 8) {
      const p = off + i;
      r0 = round(r0 + a[p]); r1 = round(r1 + a[p + 1]); r2 = round(r2 + a[p + 2]); r3 = round(r3 + a[p + 3]);
      r4 = round(r4 + a[p + 4]); r5 = round(r5 + a[p + 5]); r6 = round(r6 + a[p + 6]); r7 = round(r7 + a[p + 7]);
    }
    let res = round(round(round(r0 + r1) + round(r2 + r3)) + round(round(r4 + r5) + round(r6 + r7)));
    for (; i < n; i++) res = round(res + a[off + i]);
    return res;
  }
  let n2 = Math.trunc(n / 2);
  n2 -= n2 % 8;
  return round(pairwiseSum(a, off, n2, round) + pairwiseSum(a, off + n2, n - n2, round));
}

const asDouble = (v) => v;

/** NumPy's float32 pairwise sum of a[off .. off+n). */
export function pairwiseSumF32(a, off, n) {
  return pairwiseSum(a, off, n, f);
}

/** NumPy's float64 pairwise sum of a[off .. off+n). */
export function pairwiseSumF64(a, off, n) {
  return pairwiseSum(a, off, n, asDouble);
}

/** np.linspace(0.0, 1.0, n, dtype=np.float32): i * (1 / (n - 1)) in float64, last = 1, then float32. */
export function linspace01(n) {
  const t = new Float32Array(n);
  const step = 1.0 / (n - 1);
  for (let i = 0; i < n; i++) t[i] = i * step + 0.0;
  t[n - 1] = 1;
  return t;
}

/** np.hypot on float32 (glibc hypotf): sqrt of the float64 sum of squares, rounded once. */
export function hypotF32(dx, dy) {
  return f(Math.sqrt(dx * dx + dy * dy));
}

/** cvRound / Java Math.rint / Python round: nearest integer, ties to even. */
export function rint(v) {
  const r = Math.round(v); // ties toward +infinity
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Indices 0..n-1 in a stable order of descending key[i] (NumPy's stable sorts of -key). */
export function argsortDescending(indices, key) {
  return Array.from(indices).sort((i, j) => key[j] - key[i]);
}
