// The demo page: camera / video / photo -> preprocess (src/preprocess.js, as mln_tf.inference.preprocess)
// -> the .tflite through LiteRT.js -> postprocess + grouping (src/, as mln_tf) -> people drawn.
// Everything the page finds is also kept in window.mlnDemo (JSON-friendly) for tests and tools.
import { createRunner } from './runtime.js';
import { drawPoses } from './draw.js';
import { rgbFromRgba, letterbox } from '../src/preprocess.js';
import { postprocess } from '../src/postprocess.js';
import { PoseTracker } from '../src/tracking.js';
import { NUM_PARTS } from '../src/skeleton.js';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const view = $('view');
const viewCtx = view.getContext('2d');
const work = document.createElement('canvas');
const workCtx = work.getContext('2d', { willReadFrequently: true });
const video = $('video');

const demo = {
  state: { status: 'loading', backend: null, model: null, input_hw: null, finds_people: null },
  messages: [],
  results: [],
  // ?keep=pixels,maps: also keep each frame's RGB pixels / raw network maps (base64) for checks.
  keepPixels: (params.get('keep') ?? '').split(',').includes('pixels'),
  keepMaps: (params.get('keep') ?? '').split(',').includes('maps'),
  ready: null,
  runUrl,
  startCamera,
  stop,
};
window.mlnDemo = demo;

let runner = null;
let inputBuffer = null;
let loop = null; // the running camera/video loop: {stop: bool}
let frameCounter = 0;
let fps = null;

function message(text, kind = 'error') {
  demo.messages.push({ kind, text });
  const div = document.createElement('div');
  div.className = `msg ${kind}`;
  div.textContent = text;
  $('messages').append(div);
  (kind === 'error' ? console.error : console.info)(text);
}

function setStatus(text) {
  demo.state.status = text;
  $('status').textContent = text;
}

async function loadModel() {
  let modelUrl = params.get('model');
  if (!modelUrl) {
    const res = await fetch('models/default.json').catch(() => null);
    if (!res || !res.ok) {
      throw new Error('no model: models/default.json is missing (run `make web-demo`, which exports the .tflite)');
    }
    const info = await res.json();
    modelUrl = `models/${info.file}`;
    demo.state.finds_people = info.finds_people;
    if (!info.finds_people) {
      message(`The default model (${info.file}) is a randomly initialised network: it runs, but finds nobody.`, 'info');
    }
  }
  demo.state.model = modelUrl;
  $('model-name').textContent = modelUrl;
  const options = {
    backend: params.get('backend') ?? 'auto',
    threads: Number(params.get('threads') ?? 0),
    precision: params.get('precision') ?? 'fp32',
  };
  runner = await createRunner(modelUrl, options, (w) => message(w, 'info'));
  demo.state.backend = runner.description;
  demo.state.input_hw = [runner.inputH, runner.inputW];
  inputBuffer = new Float32Array(runner.inputH * runner.inputW * 3);
  $('s-backend').textContent = runner.description;
  setStatus(`ready: ${runner.description}, input ${runner.inputH}x${runner.inputW}`);
}

/**
 * One frame (image, bitmap, video) -> people, drawn on the view canvas; returns the JSON result.
 * With a ``tracker`` (videos and the camera), people keep an ID and their drawn keypoints are smoothed
 * (src/tracking.js, as mln_tf.tracking); ``people`` in the result stays the decoder's output.
 */
async function processFrame(source, width, height, label, tracker = null, timeMs = 0) {
  if (!runner) throw new Error('no model loaded: cannot find people');
  const t0 = performance.now();
  if (work.width !== width || work.height !== height) {
    work.width = width;
    work.height = height;
  }
  workCtx.drawImage(source, 0, 0, width, height);
  const rgba = workCtx.getImageData(0, 0, width, height).data;
  const image = rgbFromRgba(rgba, height, width);
  const pre = letterbox(image, runner.inputH, runner.inputW, 8, undefined, inputBuffer);
  const t1 = performance.now();
  const { heatmaps, pafs } = await runner.run(pre.input);
  const t2 = performance.now();
  if (frameCounter === 0 && runner.description.startsWith('WebGPU') && heatmaps.every((v) => v === 0)) {
    message('The network returned all-zero maps on WebGPU (an adapter without shader-f16 asked for fp16?). '
      + 'Reload with ?backend=wasm.');
  }
  const poses = postprocess(heatmaps, runner.heatmapChannels, pafs, runner.mapH, runner.mapW, pre.transform);
  const t3 = performance.now();
  if (view.width !== width || view.height !== height) {
    view.width = width;
    view.height = height;
  }
  viewCtx.drawImage(work, 0, 0);
  const tracked = tracker ? tracker.update(poses.keypoints, poses.count, timeMs) : null; // timed as draw
  drawPoses(viewCtx, tracked ? { ...poses, keypoints: tracked.keypoints, ids: tracked.ids } : poses, 1);
  const t4 = performance.now();
  const ms = { preprocess: t1 - t0, network: t2 - t1, decode: t3 - t2, draw: t4 - t3, total: t4 - t0 };
  const result = { source: label, frame: frameCounter++, width, height, people: peopleJson(poses), ms };
  if (tracked) result.track_ids = Array.from(tracked.ids);
  result.transform = { ...pre.transform };
  if (demo.keepPixels) result.rgb = base64(image.pixels);
  if (demo.keepMaps) {
    result.maps = { hw: [runner.mapH, runner.mapW], heatmap_channels: runner.heatmapChannels,
      heatmaps: base64(new Uint8Array(heatmaps.buffer)), pafs: base64(new Uint8Array(pafs.buffer)) };
  }
  demo.results.push(result);
  showStats(ms, poses.count);
  return result;
}

function peopleJson(poses) {
  const people = [];
  for (let p = 0; p < poses.count; p++) {
    const keypoints = [];
    for (let j = 0; j < NUM_PARTS; j++) {
      const o = (p * NUM_PARTS + j) * 3;
      keypoints.push([poses.keypoints[o], poses.keypoints[o + 1], poses.keypoints[o + 2]]);
    }
    people.push({ score: poses.scores[p], keypoints });
  }
  return people;
}

function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function showStats(ms, people) {
  const rate = 1000 / ms.total;
  fps = fps === null ? rate : 0.8 * fps + 0.2 * rate;
  $('s-fps').textContent = fps.toFixed(1);
  $('s-pre').textContent = `${ms.preprocess.toFixed(1)} ms`;
  $('s-net').textContent = `${ms.network.toFixed(1)} ms`;
  $('s-dec').textContent = `${ms.decode.toFixed(1)} ms`;
  $('s-draw').textContent = `${ms.draw.toFixed(1)} ms`;
  $('s-people').textContent = String(people);
}

async function runUrl(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url}: HTTP ${res.status}`);
  return runBlob(await res.blob(), url);
}

async function runBlob(blob, label) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error(`${label} is not an image this browser can decode`);
  }
  try {
    return await processFrame(bitmap, bitmap.width, bitmap.height, label);
  } finally {
    bitmap.close();
  }
}

function stop() {
  if (loop) loop.stop = true;
  loop = null;
  const stream = video.srcObject;
  if (stream) for (const track of stream.getTracks()) track.stop();
  video.srcObject = null;
  video.pause();
  $('stop').disabled = true;
}

/** Process frames of the playing video element until stopped (or `maxFrames`); resolves when done. */
async function videoLoop(label, maxFrames = Infinity) {
  const me = { stop: false };
  loop = me;
  $('stop').disabled = false;
  let n = 0;
  let lastTime = -1;
  // people keep their IDs across this video's frames (?track=0 turns it off); time = the video's clock
  const tracker = new URLSearchParams(location.search).get('track') === '0' ? null : new PoseTracker();
  while (!me.stop && n < maxFrames && !video.ended) {
    if (video.readyState >= 2 && video.videoWidth > 0 && video.currentTime !== lastTime) {
      lastTime = video.currentTime;
      await processFrame(video, video.videoWidth, video.videoHeight, `${label}#${n}`, tracker, 1000 * lastTime);
      n++;
    }
    await new Promise((r) => (video.requestVideoFrameCallback ? video.requestVideoFrameCallback(() => r())
      : requestAnimationFrame(() => r())));
  }
  if (loop === me && (video.ended || n >= maxFrames)) stop();
  return n;
}

async function startCamera(maxFrames = Infinity) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('No camera API here: browsers give the camera only to pages served over HTTPS (or localhost).');
  }
  stop();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  } catch (err) {
    if (err.name === 'NotAllowedError') throw new Error('Camera permission was denied: allow it in the browser, or pick a photo or video.');
    if (err.name === 'NotFoundError' || err.name === 'OverconstrainedError') throw new Error('No camera found: pick a photo or video instead.');
    throw new Error(`The camera cannot start: ${err.message ?? err}`);
  }
  video.srcObject = stream;
  await video.play();
  return videoLoop('camera', maxFrames);
}

async function runVideoFile(file) {
  stop();
  video.src = URL.createObjectURL(file);
  try {
    await video.play();
  } catch {
    URL.revokeObjectURL(video.src);
    throw new Error(`${file.name} is not a video this browser can play`);
  }
  return videoLoop(file.name);
}

function guard(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (err) {
      message(err.message ?? String(err));
    }
  };
}

async function listSamples() {
  const res = await fetch('samples/index.json').catch(() => null);
  if (!res || !res.ok) return;
  for (const name of await res.json()) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = name.replace(/\.[a-z]+$/i, '');
    b.title = `run on the bundled image ${name}`;
    b.addEventListener('click', guard(() => runUrl(`samples/${name}`)));
    $('samples').append(b);
  }
}

$('camera').addEventListener('click', guard(() => startCamera()));
$('stop').addEventListener('click', () => stop());
$('file').addEventListener('change', guard(async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  if (file.type.startsWith('video/')) await runVideoFile(file);
  else await runBlob(file, file.name);
}));

demo.ready = (async () => {
  await listSamples();
  try {
    await loadModel();
  } catch (err) {
    setStatus('no model');
    message(err.message ?? String(err));
    demo.state.error = err.message ?? String(err);
  }
})();
