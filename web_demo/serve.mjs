#!/usr/bin/env node
// Static server for the demo with the cross-origin-isolation headers (COOP/COEP) that two-thread
// WASM needs. Serves this folder, and the bundled COCO images under /samples/ (with index.json).
//   node serve.mjs [--host 127.0.0.1] [--port 8080] [--cert cert.pem --key key.pem] [--samples DIR]
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { readFileSync, readdirSync, statSync, createReadStream } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { networkInterfaces } from 'node:os';

const HERE = dirname(fileURLToPath(import.meta.url));
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.map': 'application/json',
  '.tflite': 'application/octet-stream', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png',
  '.webp': 'image/webp', '.mp4': 'video/mp4', '.webm': 'video/webm', '.y4m': 'application/octet-stream',
};
const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-cache',
};
const IMAGE = /\.(jpe?g|png|webp)$/i;

const HELP = `usage: node serve.mjs [options]
  --host HOST      address to listen on (default 127.0.0.1; 0.0.0.0 to reach it from a phone on the same network)
  --port PORT      port (default 8080; 0 picks a free one)
  --cert FILE      TLS certificate (PEM): serve HTTPS, which a phone's browser needs for the camera
  --key FILE       TLS private key (PEM), with --cert
  --samples DIR    images offered as samples (default ../mln_tf/bundled/coco_val2017_mini)
  --help           this text`;

function main() {
  let args;
  try {
    args = parseArgs({ options: {
      host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '8080' },
      cert: { type: 'string' }, key: { type: 'string' }, samples: { type: 'string' }, help: { type: 'boolean' },
    } }).values;
  } catch (err) {
    console.error(`${err.message}\n${HELP}`);
    process.exit(2);
  }
  if (args.help) {
    console.log(HELP);
    return;
  }
  const port = Number(args.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be 0..65535, got ${args.port}`);
    process.exit(2);
  }
  if (Boolean(args.cert) !== Boolean(args.key)) {
    console.error('--cert and --key go together');
    process.exit(2);
  }
  const samples = resolve(args.samples ?? join(HERE, '..', 'mln_tf', 'bundled', 'coco_val2017_mini'));
  const handler = (req, res) => serve(req, res, samples);
  const server = args.cert
    ? createHttps({ cert: readFileSync(args.cert), key: readFileSync(args.key) }, handler)
    : createHttp(handler);
  server.on('error', (err) => {
    console.error(`cannot serve on ${args.host}:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, args.host, () => {
    const scheme = args.cert ? 'https' : 'http';
    const actual = server.address().port;
    console.log(`serving ${scheme}://${args.host === '0.0.0.0' ? '127.0.0.1' : args.host}:${actual}/`);
    if (/^(127\.|localhost$|::1$)/.test(args.host)) {
      console.log('  (this machine only: --host 0.0.0.0 serves phones on the same network; their browsers give the '
        + 'camera only to HTTPS pages, so add --cert/--key, see web_demo/README.md)');
    }
    if (args.host === '0.0.0.0') {
      for (const addrs of Object.values(networkInterfaces())) {
        for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) console.log(`  from a phone: ${scheme}://${a.address}:${actual}/`);
      }
      if (!args.cert) console.log('  (a phone\'s browser gives the camera only to HTTPS pages: add --cert/--key; photos and videos work over HTTP)');
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
}

function send(res, status, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, { ...HEADERS, 'Content-Type': type });
  res.end(body);
}

function serve(req, res, samples) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
  let path;
  try {
    path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    return send(res, 400, 'bad path\n');
  }
  let root = HERE;
  if (path === '/samples/index.json') {
    let names = [];
    try {
      names = readdirSync(samples).filter((n) => IMAGE.test(n)).sort();
    } catch { /* no samples folder: an empty list */ }
    return send(res, 200, JSON.stringify(names), TYPES['.json']);
  }
  if (path.startsWith('/samples/')) {
    root = samples;
    path = path.slice('/samples'.length);
  }
  if (path.endsWith('/')) path += 'index.html';
  const file = resolve(join(root, path));
  if (file !== root && !file.startsWith(root + sep)) return send(res, 403, 'forbidden\n');
  let st;
  try {
    st = statSync(file);
  } catch {
    return send(res, 404, `not found: ${path}\n`);
  }
  if (!st.isFile()) return send(res, 404, `not found: ${path}\n`);
  res.writeHead(200, { ...HEADERS, 'Content-Type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': st.size });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).pipe(res);
}

main();
