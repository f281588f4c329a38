#!/usr/bin/env node
// bench/serve/load.mjs: the clients of bench/serve (run by bench/serve/run, which owns the
// database, the stages and the server). One JSON object on stdout.
//
//   node load.mjs sse URL N SECONDS           N raw SSE clients: events received, errors
//   node load.mjs api URL RATE SECONDS ROBOT  RATE requests/s of the API mix: latency p50/p95/p99
//   node load.mjs browser URL SECONDS         Chromium on the Fleet page: commit-to-browser
//                                             latency of `robots` events and frame times
//   node load.mjs mixed URL N RATE SECONDS ROBOT   sse and api at once
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
// The server allows 64 connections per client address (as a real one would see viewers from
// many addresses): the SSE clients come from 127.0.0.2-127.0.0.9, the API load from 127.0.0.10,
// the browser from 127.0.0.1.
const agent = new http.Agent({ keepAlive: true, maxSockets: 48, localAddress: '127.0.0.10' });
const sseAddress = (i) => `127.0.0.${2 + (i % 8)}`;

function pct(xs, p) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
function stats(xs) {
  return { n: xs.length, p50: pct(xs, 50), p95: pct(xs, 95), p99: pct(xs, 99), max: xs.length ? Math.max(...xs) : null };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// N EventSource-like clients over raw HTTP: counts events, errors and disconnections.
function sse(url, n, seconds) {
  const res = { clients: n, connected: 0, events: 0, errors: 0, ended: 0 };
  const reqs = [];
  for (let i = 0; i < n; i++) {
    const req = http.get(`${url}api/stream`, { headers: { Accept: 'text/event-stream' }, localAddress: sseAddress(i) }, (r) => {
      if (r.statusCode !== 200) { res.errors++; r.resume(); return; }
      res.connected++;
      // Counted on the bytes, without decoding them: this process must not be what is slow.
      const mark = Buffer.from('\nevent: ');
      let first = true;
      r.on('data', (d) => {
        if (first && d.subarray(0, 7).toString() === 'event: ') res.events++;
        first = false;
        for (let i = d.indexOf(mark); i >= 0; i = d.indexOf(mark, i + 1)) res.events++;
      });
      r.on('end', () => { res.ended++; });
      r.on('error', () => { res.errors++; });
    });
    req.on('error', () => { res.errors++; });
    reqs.push(req);
  }
  return sleep(seconds * 1000).then(() => { for (const r of reqs) r.destroy(); return res; });
}

function get(url) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get(url, { agent }, (r) => {
      let len = 0;
      r.on('data', (d) => { len += d.length; });
      r.on('end', () => resolve({ status: r.statusCode, ms: performance.now() - t0, len }));
    });
    req.on('error', (e) => resolve({ status: 0, ms: performance.now() - t0, err: String(e) }));
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
  });
}

// RATE requests/s, evenly spaced, of the mix: /api/fleet, /api/robots, /api/anomalies?limit=100
// and a robot's last 15 minutes at 500 points.
async function api(url, rate, seconds, robot) {
  const mix = ['api/fleet', 'api/robots', 'api/anomalies?limit=100',
    `api/robots/${robot}/readings?from=${encodeURIComponent(new Date(Date.now() - 15 * 60e3).toISOString())}&points=500`];
  const lat = [], byPath = {}, errors = [];
  const pending = [];
  const t0 = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const p = mix[i % mix.length];
    pending.push(get(url + p).then((r) => {
      if (r.status !== 200) errors.push(`${p}: ${r.status} ${r.err || ''}`);
      lat.push(r.ms);
      (byPath[p.split('?')[0]] ||= []).push(r.ms);
    }));
  }
  await Promise.all(pending);
  const per = {};
  for (const [k, v] of Object.entries(byPath)) per[k] = stats(v);
  return { requests: lat.length, errors: errors.length, error_samples: errors.slice(0, 5), latency_ms: stats(lat), per_path: per };
}

// The Fleet page in Chromium: every `robots` event's arrival (page clock) minus the commit time
// of its newest reading (track_commit_timestamp), and the time between animation frames.
async function browser(url, seconds) {
  const require = createRequire(path.join(root, 'web/package.json'));
  const { chromium } = require('playwright-core');
  const b = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const page = await b.newPage({ viewport: { width: 1920, height: 1080 } });
    await page.addInitScript(() => {
      window.__lat = []; window.__frames = []; window.__nullcommit = 0;
      const ES = window.EventSource;
      window.EventSource = function (u, o) {
        const es = new ES(u, o);
        es.addEventListener('robots', (e) => {
          const now = Date.now();
          try {
            const d = JSON.parse(e.data);
            if (d.commit) window.__lat.push(now - Date.parse(d.commit)); else window.__nullcommit++;
          } catch (err) { /* counted by the page's own handler */ }
        });
        return es;
      };
      window.EventSource.prototype = ES.prototype;
      let last = 0;
      const tick = (t) => { if (last) window.__frames.push(t - last); last = t; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url);
    await sleep(3000); // settle: first fetches, first events
    await page.evaluate(() => { window.__lat = []; window.__frames = []; });
    await sleep(seconds * 1000);
    const r = await page.evaluate(() => ({ lat: window.__lat, frames: window.__frames, nullcommit: window.__nullcommit }));
    return { commit_to_browser_ms: stats(r.lat), frame_ms: stats(r.frames), events_without_commit: r.nullcommit, page_errors: errors };
  } finally {
    await b.close();
  }
}

const [mode, url, ...a] = process.argv.slice(2);
let out;
if (mode === 'sse') out = await sse(url, +a[0], +a[1]);
else if (mode === 'api') out = await api(url, +a[0], +a[1], a[2]);
else if (mode === 'browser') out = await browser(url, +a[0]);
else if (mode === 'mixed') {
  const [s, p] = await Promise.all([sse(url, +a[0], +a[2] + 2), sleep(1000).then(() => api(url, +a[1], +a[2], a[3]))]);
  out = { sse: s, api: p };
} else {
  console.error('usage: load.mjs sse|api|browser|mixed URL ...');
  process.exit(2);
}
console.log(JSON.stringify(out));
process.exit(0);
