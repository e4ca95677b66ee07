#!/usr/bin/env node
// Drive the demo page in headless Chromium (playwright-core, the system's browser: nothing is
// downloaded): run it on the bundled images and on frames of Chromium's fake camera playing a
// .y4m video, and write what the page found (people, timings, and the RGB pixels of every frame,
// so that Python can run mln_tf.inference.estimate_poses on exactly the same frames) as JSON.
//   node tools/browser_run.mjs --url http://127.0.0.1:PORT/ --out results.json [--video frames.y4m]
import { chromium } from 'playwright-core';
import { existsSync, writeFileSync, renameSync } from 'node:fs';
import { parseArgs } from 'node:util';

const HELP = `usage: node tools/browser_run.mjs --url URL --out FILE [options]
  --url URL            the served demo page (serve.mjs)
  --out FILE           JSON written here (atomically)
  --query Q            extra page options, e.g. "backend=wasm&threads=2"
  --images a.jpg,...   bundled sample names to run (default: all the page lists)
  --video FILE.y4m     fake camera video (Chromium's --use-file-for-fake-video-capture)
  --camera-frames N    frames to take from the fake camera (default 4; 0 = none)
  --screenshot FILE    PNG of the page after the image with the most people
  --repeat N           run each image N times (timings; default 1)
  --chromium PATH      browser binary (default $CHROMIUM or /usr/bin/chromium)
  --webgpu             allow WebGPU in headless Chromium (--enable-unsafe-webgpu)
  --no-pixels          do not return frame pixels and maps
  --bad-input          instead: a missing model, a text file, a broken video, no camera (and with
                       --webgpu, fp16 on WebGPU); writes the messages the page showed for each`;

async function main() {
  let a;
  try {
    a = parseArgs({ options: {
      url: { type: 'string' }, out: { type: 'string' }, query: { type: 'string', default: '' },
      images: { type: 'string' }, video: { type: 'string' }, 'camera-frames': { type: 'string', default: '4' },
      screenshot: { type: 'string' }, repeat: { type: 'string', default: '1' }, chromium: { type: 'string' },
      webgpu: { type: 'boolean' }, 'no-pixels': { type: 'boolean' }, 'bad-input': { type: 'boolean' },
      help: { type: 'boolean' },
    } }).values;
  } catch (err) {
    console.error(`${err.message}\n${HELP}`);
    return 2;
  }
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  if (!a.url || !a.out) {
    console.error(`--url and --out are required\n${HELP}`);
    return 2;
  }
  const executablePath = a.chromium ?? process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    console.error(`no Chromium at ${executablePath} (apt-get install chromium)`);
    return 1;
  }
  if (a['bad-input']) return badInput(a, executablePath);
  const cameraFrames = Number(a['camera-frames']);
  const args = ['--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];
  if (a.video) args.push(`--use-file-for-fake-video-capture=${a.video}`);
  if (a.webgpu) args.push('--enable-unsafe-webgpu', '--enable-features=Vulkan');
  const browser = await chromium.launch({ executablePath, headless: true, args });
  const out = { state: null, messages: [], console: [], images: [], camera: [], version: browser.version() };
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') out.console.push(`${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => out.console.push(`pageerror: ${e.message}`));
    const query = [a['no-pixels'] ? '' : 'keep=pixels,maps', a.query].filter(Boolean).join('&');
    await page.goto(`${a.url}${query ? `?${query}` : ''}`);
    await page.waitForFunction(() => window.mlnDemo && window.mlnDemo.ready, null, { timeout: 30000 });
    await page.evaluate(() => window.mlnDemo.ready);
    out.state = await page.evaluate(() => window.mlnDemo.state);
    out.crossOriginIsolated = await page.evaluate(() => globalThis.crossOriginIsolated);
    if (out.state.error) throw new Error(`page: ${out.state.error}`);
    const images = a.images ? a.images.split(',') : await page.evaluate(async () => (await fetch('samples/index.json')).json());
    for (const name of images) {
      for (let r = 0; r < Number(a.repeat); r++) {
        const res = await page.evaluate((n) => window.mlnDemo.runUrl(`samples/${n}`), name);
        if (r > 0) {
          delete res.rgb;
          delete res.maps;
        }
        out.images.push(res);
      }
    }
    if (a.screenshot && out.images.length) {
      const best = out.images.reduce((b, r) => (r.people.length > b.people.length ? r : b));
      await page.evaluate((n) => window.mlnDemo.runUrl(n), best.source);
      await page.screenshot({ path: a.screenshot, fullPage: true });
      out.screenshot = { path: a.screenshot, image: best.source, people: best.people.length };
    }
    if (cameraFrames > 0) {
      const before = await page.evaluate(() => window.mlnDemo.results.length);
      await page.evaluate((n) => window.mlnDemo.startCamera(n), cameraFrames);
      out.camera = await page.evaluate((b) => window.mlnDemo.results.slice(b), before);
    }
    out.messages = await page.evaluate(() => window.mlnDemo.messages);
  } finally {
    await browser.close();
  }
  writeFileSync(`${a.out}.tmp`, JSON.stringify(out));
  renameSync(`${a.out}.tmp`, a.out);
  const people = (rs) => rs.map((r) => r.people.length).join(',');
  console.log(`${out.state.backend}; images: ${out.images.length} (people ${people(out.images)}); `
    + `camera frames: ${out.camera.length} (people ${people(out.camera)}); messages: ${out.messages.length}`);
  return 0;
}

/** Messages shown on the page (text of #messages) after `action`, waiting until one more appears. */
async function messagesAfter(page, action) {
  const before = await page.locator('#messages .msg').count();
  await action();
  await page.waitForFunction((n) => document.querySelectorAll('#messages .msg').length > n, before, { timeout: 60000 });
  return page.locator('#messages .msg').allTextContents();
}

async function badInput(a, executablePath) {
  const out = {};
  const open = async (browser, query) => {
    const page = await browser.newPage();
    await page.goto(`${a.url}?${query}`);
    await page.waitForFunction(() => window.mlnDemo && window.mlnDemo.ready, null, { timeout: 30000 });
    await page.evaluate(() => window.mlnDemo.ready);
    return page;
  };
  // No camera device at all (no fake one): the camera button must say so.
  let browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  try {
    let page = await open(browser, 'backend=wasm&model=models/missing.tflite');
    out.missing_model = await page.locator('#messages .msg').allTextContents();
    out.missing_model_status = await page.locator('#status').textContent();
    out.missing_model_sample = await messagesAfter(page, () => page.locator('#samples button').first().click());
    page = await open(browser, 'backend=wasm');
    out.text_file = await messagesAfter(page, () => page.setInputFiles('#file',
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') }));
    out.broken_video = await messagesAfter(page, () => page.setInputFiles('#file',
      { name: 'clip.mp4', mimeType: 'video/mp4', buffer: Buffer.alloc(4096, 7) }));
    out.no_camera = await messagesAfter(page, () => page.click('#camera'));
    // The page still works after all that.
    out.after = await page.evaluate(async () => (await window.mlnDemo.runUrl('samples/000000197388.jpg')).people.length);
  } finally {
    await browser.close();
  }
  if (a.webgpu) {
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
    try {
      const page = await open(browser, 'backend=webgpu&precision=fp16');
      out.fp16 = await page.locator('#messages .msg').allTextContents();
      out.fp16_backend = await page.evaluate(() => window.mlnDemo.state.backend);
    } finally {
      await browser.close();
    }
  }
  writeFileSync(`${a.out}.tmp`, JSON.stringify(out, null, 1));
  renameSync(`${a.out}.tmp`, a.out);
  console.log(JSON.stringify(out, null, 1));
  return 0;
}

main().then((code) => process.exit(code), (err) => {
  console.error(`browser run failed: ${err.stack ?? err}`);
  process.exit(1);
});
