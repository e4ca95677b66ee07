// A minimal .npz / .npy reader for the golden vectors (Node only): zip members stored or
// deflated, little-endian C-order arrays of f2 (widened to float32), f4, f8, i4, i8, u1, b1.
import { inflateRawSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

/** Every member of an .npz file as {name: {dtype, shape, data}}. */
export function readNpz(path) {
  const buf = readFileSync(path);
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${path}: not a zip/npz file`);
  const entries = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = {};
  for (let e = 0; e < entries; e++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${path}: bad central directory`);
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28), extraLen = buf.readUInt16LE(p + 30), commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + csize);
    const data = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : null;
    if (!data) throw new Error(`${path}: ${name} uses unsupported zip method ${method}`);
    out[name.replace(/\.npy$/, '')] = parseNpy(data, `${path}:${name}`);
  }
  return out;
}

function parseNpy(b, where) {
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${where}: not an .npy member`);
  const major = b[6];
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const offset = major === 1 ? 10 : 12;
  const header = b.toString('latin1', offset, offset + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${where}: Fortran order unsupported`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, v) => a * v, 1);
  const body = b.subarray(offset + headerLen);
  const bytes = new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length));
  let data;
  switch (descr) {
    case '<f2': data = halfToFloat(new Uint16Array(bytes.buffer, 0, count)); break;
    case '<f4': data = new Float32Array(bytes.buffer, 0, count); break;
    case '<f8': data = new Float64Array(bytes.buffer, 0, count); break;
    case '<i4': data = new Int32Array(bytes.buffer, 0, count); break;
    case '<i8': data = Float64Array.from(new BigInt64Array(bytes.buffer, 0, count), Number); break;
    case '|u1': case '|b1': data = new Uint8Array(bytes.buffer, 0, count); break;
    default: throw new Error(`${where}: dtype ${descr} unsupported`);
  }
  return { dtype: descr, shape, data };
}

/** IEEE half -> float32 (exact). */
function halfToFloat(h) {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const v = h[i], sign = v & 0x8000 ? -1 : 1, exp = (v >> 10) & 0x1f, frac = v & 0x3ff;
    out[i] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}
