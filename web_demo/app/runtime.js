// The .tflite through LiteRT.js: picks the backend (WebGPU on a real adapter when the model runs
// there, else WASM with as many threads as cross-origin isolation allows), runs one input and
// returns the heatmaps and PAFs as HWC Float32Arrays.
import { loadLiteRt, loadAndCompile, Tensor, supportsFeature } from '@litertjs/core';

const WASM_DIR = new URL('../node_modules/@litertjs/core/wasm/', import.meta.url).href;

/** What a WebGPU adapter is, or null: {adapter, software, f16, description}. */
export async function probeWebGpu() {
  if (!('gpu' in navigator)) return null;
  let adapter = null;
  try {
    adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    return null;
  }
  if (!adapter) return null;
  const info = adapter.info ?? {};
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`.trim();
  // SwiftShader (headless Chromium) and other fallback adapters run shaders on the CPU.
  const software = Boolean(info.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe|software/i.test(text);
  return { adapter, software, f16: adapter.features.has('shader-f16'), description: text || 'unknown adapter' };
}

/**
 * Load LiteRT.js once and compile `modelUrl`. options: backend 'auto'|'wasm'|'webgpu', threads (WASM),
 * precision 'fp32'|'fp16' (WebGPU). Returns a runner; warnings (fallbacks, refusals) go to `warn`.
 */
export async function createRunner(modelUrl, { backend = 'auto', threads = 0, precision = 'fp32' } = {}, warn = () => {}) {
  if (!['auto', 'wasm', 'webgpu'].includes(backend)) throw new Error(`unknown backend '${backend}': use auto, wasm or webgpu`);
  if (!['fp32', 'fp16'].includes(precision)) throw new Error(`unknown precision '${precision}': use fp32 or fp16`);
  const gpu = backend === 'wasm' ? null : await probeWebGpu();
  let useGpu = false;
  if (backend === 'webgpu') {
    if (!gpu) warn('WebGPU was asked for but this browser has no WebGPU adapter: running on WASM (CPU).');
    useGpu = Boolean(gpu);
  } else if (backend === 'auto') {
    useGpu = Boolean(gpu && !gpu.software); // a software adapter is far slower than WASM
  }
  if (useGpu && precision === 'fp16' && !gpu.f16) {
    warn(`fp16 was asked for but the WebGPU adapter (${gpu.description}) lacks shader-f16, where LiteRT.js `
      + 'returns all-zero outputs: refused, running fp32.');
    precision = 'fp32';
  }
  const maxThreads = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8));
  const wantThreads = threads > 0 ? threads : maxThreads;
  // Threads need SharedArrayBuffer (cross-origin isolation) and relaxed SIMD; they exclude JSPI,
  // which WebGPU needs for per-op CPU fallback.
  let loadOptions = {};
  if (useGpu) {
    if ((await supportsFeature('jspi'))?.supported !== false && 'Suspending' in WebAssembly) loadOptions = { jspi: true };
  } else if (wantThreads > 1) {
    const relaxed = await supportsFeature('relaxedSimd');
    if (!globalThis.crossOriginIsolated) {
      warn('Page is not cross-origin isolated (COOP/COEP headers missing): WASM runs on one thread.');
    } else if (!relaxed) {
      warn('This browser lacks WebAssembly relaxed SIMD: WASM runs on one thread.');
    } else {
      loadOptions = { threads: true };
    }
  }
  await loadLiteRt(WASM_DIR, loadOptions);
  const accelerator = useGpu ? 'webgpu' : 'wasm';
  const compileOptions = useGpu ? { accelerator, gpuOptions: { precision }, cpuOptions: { numThreads: 1 } }
    : { accelerator, cpuOptions: { numThreads: loadOptions.threads ? wantThreads : 1 } };
  let bytes;
  try {
    const res = await fetch(modelUrl);
    if (!res.ok) throw new Error(`HTTP ${res.status} (run \`make web-demo\`, which exports the default model)`);
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    throw new Error(`the model ${modelUrl} does not load: ${err.message ?? err}`);
  }
  let model;
  try {
    model = await loadAndCompile(bytes, compileOptions);
  } catch (err) {
    if (!(useGpu && backend === 'auto')) throw new Error(`the model ${modelUrl} does not load: ${err.message ?? err}`);
    // auto: a model that does not compile for WebGPU still runs on the CPU.
    warn(`The model does not compile for WebGPU (${err.message ?? err}): running on WASM (CPU).`);
    useGpu = false;
    compileOptions.accelerator = 'wasm';
    delete compileOptions.gpuOptions;
    compileOptions.cpuOptions = { numThreads: 1 }; // the JSPI build has no threads
    try {
      model = await loadAndCompile(bytes, compileOptions);
    } catch (err2) {
      throw new Error(`the model ${modelUrl} does not load: ${err2.message ?? err2}`);
    }
  }
  const runner = new Runner(model, useGpu ? `WebGPU (${gpu.description}${gpu.software ? ', software' : ''}, ${precision})`
    : `WASM, ${compileOptions.cpuOptions.numThreads} thread${compileOptions.cpuOptions.numThreads > 1 ? 's' : ''}`);
  if (useGpu && !model.isFullyAccelerated) warn('Not every op of the model runs on WebGPU: LiteRT.js runs the rest on WASM.');
  return runner;
}

/** One compiled model: input (1, H, W, 3) float32 -> HWC heatmaps and PAFs. */
export class Runner {
  constructor(model, description) {
    this.model = model;
    this.description = description;
    const inputs = model.getInputDetails();
    if (inputs.length !== 1) throw new Error(`the model has ${inputs.length} inputs; a pose model has one image input`);
    const shape = Array.from(inputs[0].shape);
    if (shape.length !== 4 || shape[0] !== 1 || shape[3] !== 3) {
      throw new Error(`the model's input is ${JSON.stringify(shape)}; expected (1, H, W, 3)`);
    }
    this.inputName = inputs[0].name;
    this.inputH = shape[1];
    this.inputW = shape[2];
    const outputs = model.getOutputDetails();
    const byChannels = (pred) => outputs.findIndex((o) => o.shape.length === 4 && pred(o.shape[3]));
    this.heatmapIndex = byChannels((c) => c === 18 || c === 19);
    this.pafIndex = byChannels((c) => c === 38);
    if (this.heatmapIndex < 0 || this.pafIndex < 0) {
      throw new Error(`the model's outputs ${JSON.stringify(outputs.map((o) => Array.from(o.shape)))} are not `
        + '(1, h, w, 19) heatmaps and (1, h, w, 38) PAFs');
    }
    const hm = outputs[this.heatmapIndex].shape;
    this.mapH = hm[1];
    this.mapW = hm[2];
    this.heatmapChannels = hm[3];
  }

  /** Run one preprocessed input (Float32Array H*W*3) -> {heatmaps, pafs} Float32Arrays (HWC). */
  async run(input) {
    const tensor = new Tensor(input, [1, this.inputH, this.inputW, 3]);
    let outputs;
    try {
      outputs = await this.model.run([tensor]);
    } finally {
      tensor.delete();
    }
    try {
      const heatmaps = new Float32Array(await outputs[this.heatmapIndex].data());
      const pafs = new Float32Array(await outputs[this.pafIndex].data());
      return { heatmaps, pafs };
    } finally {
      for (const t of outputs) t.delete();
    }
  }
}
