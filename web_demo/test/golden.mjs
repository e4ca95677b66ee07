// The golden vectors of android_demo/tools/write_golden.py (GOLDEN_DIR overrides the folder,
// e.g. for its --fuzz sets), and the conversions from their JSON to the port's objects.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpz } from './npz.mjs';
import { groupingConfig } from '../src/grouping.js';
import { makeTransform, postprocessConfig } from '../src/postprocess.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const GOLDEN_DIR = process.env.GOLDEN_DIR
  ? resolve(process.env.GOLDEN_DIR) : join(ROOT, 'android_demo/decoder/src/test/resources/golden');
export const index = JSON.parse(readFileSync(join(GOLDEN_DIR, 'index.json'), 'utf8'));
if (index.format !== 1) throw new Error(`golden index format ${index.format}, this reader knows 1`);

export function cases(kind) {
  return index.cases.filter((c) => c.kind === kind);
}

export function load(file) {
  return readNpz(join(GOLDEN_DIR, file));
}

export function loadFromRoot(file) {
  return readNpz(join(ROOT, file));
}

export function transform(c) {
  const t = c.transform;
  return makeTransform({ imageH: t.image_hw[0], imageW: t.image_hw[1], inputH: t.input_hw[0], inputW: t.input_hw[1],
    scaleX: t.scale[0], scaleY: t.scale[1], contentH: t.content_hw[0], contentW: t.content_hw[1] });
}

export function postprocessOf(c) {
  return postprocessConfig({ grouping: groupingConfig(c.config.grouping), upsample: c.config.upsample,
    stride: c.config.stride });
}

/** Largest |want - got| over two equal-length arrays. */
export function maxDiff(want, got) {
  if (want.length !== got.length) throw new Error(`array length ${got.length}, expected ${want.length}`);
  let d = 0;
  for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(want[i] - got[i]));
  return d;
}
