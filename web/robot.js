'use strict';
// Robot: its 8 axes with uPlot (small multiples), the expected band (pred ± 2σ, ± 4σ) from the
// stream, Alert spans shaded orange and Error spans red, the episode history; a past range is
// fetched downsampled to the chart's width (min/max per bucket). The learn stage's forecast one
// reading ahead is drawn dashed over each axis (at the time it is for, on the nearest bucket)
// when the range has forecasts, and the robot's latest failure risk is shown in the title.
PP.nav('');
const id = Number(new URLSearchParams(location.search).get('id'));
document.getElementById('title').textContent = 'Robot ' + id;
const N = 8, MAXPTS = 3000;
let live = true, eps = new Map();
const D = []; // per axis: [t, v, lo, hi, b2lo, b2hi, b4lo, b4hi, forecast]
for (let a = 0; a < N; a++) D.push([[], [], [], [], [], [], [], [], []]);
const charts = [];
const redraw = PP.frame(() => { for (let a = 0; a < N; a++) charts[a].setData(D[a]); drawEps(); });
function spans(u) {
  const g = u.ctx, top = u.bbox.top, h = u.bbox.height;
  for (const e of eps.values()) {
    const t0 = Date.parse(e.ts_start) / 1000, t1 = e.ts_end ? Date.parse(e.ts_end) / 1000 : Date.now() / 1000;
    const x0 = u.valToPos(t0, 'x', true), x1 = Math.max(u.valToPos(t1, 'x', true), x0 + 2);
    g.fillStyle = e.level === 'ERROR' ? 'rgba(229,72,77,.30)' : 'rgba(245,166,35,.28)';
    g.fillRect(x0, top, x1 - x0, h);
  }
}
function zoom(u) {
  if (u.select.width < 5) return;
  const t0 = u.posToVal(u.select.left, 'x'), t1 = u.posToVal(u.select.left + u.select.width, 'x');
  u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
  live = false;
  document.getElementById('from').value = local(t0); document.getElementById('to').value = local(t1);
  range(new Date(t0 * 1000).toISOString(), new Date(t1 * 1000).toISOString()).catch(console.error);
}
// Epoch seconds as the value of a datetime-local input (the browser's zone).
function local(t) {
  const d = new Date(t * 1000);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 19);
}
const els = [];
for (let a = 0; a < N; a++) {
  const el = document.createElement('div'); el.className = 'panel'; el.dataset.axis = a;
  document.getElementById('charts').appendChild(el); els.push(el);
}
function mk(a) {
  const el = els[a];
  const u = new uPlot({
    width: el.clientWidth - 20, height: 160, title: 'axis ' + (a + 1), legend: { show: false },
    axes: [{ stroke: '#8a94a6', grid: { stroke: '#2a313c' } }, { stroke: '#8a94a6', grid: { stroke: '#2a313c' } }],
    series: [{}, { stroke: '#8ab4f8', width: 1.2 }, { stroke: 'rgba(138,180,248,.35)' }, { stroke: 'rgba(138,180,248,.35)' },
      { stroke: 'rgba(46,204,113,.5)', dash: [4, 4] }, { stroke: 'rgba(46,204,113,.5)', dash: [4, 4] },
      { stroke: 'rgba(245,166,35,.4)', dash: [2, 4] }, { stroke: 'rgba(245,166,35,.4)', dash: [2, 4] },
      { stroke: '#c792ea', width: 1.2, dash: [6, 4], spanGaps: true }],
    bands: [{ series: [5, 4], fill: 'rgba(46,204,113,.10)' }, { series: [7, 6], fill: 'rgba(245,166,35,.06)' }],
    // Drag across a chart to see that range (fetched again, downsampled to the chart's width);
    // the cursors of the 8 charts move together.
    cursor: { drag: { x: true, y: false, setScale: false }, sync: { key: 'axes' } },
    hooks: { drawClear: [spans], setSelect: [zoom] },
  }, D[a], el);
  charts.push(u);
}
for (let a = 0; a < N; a++) mk(a);
const fit = () => charts.forEach((u, a) => u.setSize({ width: els[a].clientWidth - 20, height: Math.max(140, Math.round(window.innerHeight / 5)) }));
window.addEventListener('resize', fit);
fit();
function drawEps() {
  const l = [...eps.values()].sort((x, y) => (y.ts_start > x.ts_start ? 1 : -1));
  document.body.dataset.spans = l.map((e) => e.level).join(',');
  document.getElementById('eps').innerHTML = l.map((e) =>
    `<tr><td class="lvl-${PP.esc(e.level)}">${PP.esc(e.level)}</td><td>${PP.esc(e.detector)}</td><td>${e.axis == null ? 'all axes' : 'axis ' + e.axis}</td><td>${PP.esc(e.reason)}</td><td>${PP.time(e.ts_start)} – ${e.open ? 'open' : PP.time(e.ts_end)}</td></tr>`).join('');
}
function push(x) {
  const t = Date.parse(x.ts) / 1000;
  for (let a = 0; a < N; a++) {
    const v = x.axes[a], bb = x.band && x.band[a], b = bb && bb[0] != null && bb[1] != null ? bb : null, d = D[a];
    const row = [t, v, v, v, b ? b[0] - 2 * b[1] : null, b ? b[0] + 2 * b[1] : null, b ? b[0] - 4 * b[1] : null, b ? b[0] + 4 * b[1] : null, null];
    row.forEach((val, i) => { d[i].push(val); if (d[i].length > MAXPTS) d[i].shift(); });
  }
}
// /api/robots/{id}/readings: columns t (epoch s, the bucket's first reading), n, and per axis
// min, max, mean arrays; a bucket of one reading is that reading.
async function range(from, to) {
  const w = Math.max(100, Math.round(charts[0].bbox.width / devicePixelRatio));
  const q = new URLSearchParams({ points: w }); if (from) q.set('from', from); if (to) q.set('to', to);
  const r = await PP.get(`/api/robots/${id}/readings?` + q);
  for (let a = 0; a < N; a++) D[a].forEach((s) => (s.length = 0));
  for (let i = 0; i < r.t.length; i++) {
    for (let a = 0; a < N; a++) {
      const row = [r.t[i], r.mean[a][i], r.min[a][i], r.max[a][i], null, null, null, null, null];
      row.forEach((v, k) => D[a][k].push(v));
    }
  }
  redraw();
  await forecast(r.from, r.to, w).catch(console.error);
}
// /api/robots/{id}/predictions?kind=forecast&horizon=1 over the readings' range: each forecast
// goes on the last bucket at or before the time it is for (forecasts for after the range's
// last reading are left out).
async function forecast(from, to, w) {
  const q = new URLSearchParams({ kind: 'forecast', horizon: 1, from, to, points: w });
  const r = await PP.get(`/api/robots/${id}/predictions?` + q);
  let n = 0;
  for (const s of r.series) {
    const d = D[s.axis - 1];
    if (!d || !d[0].length) continue;
    const ts = d[0], last = ts[ts.length - 1];
    for (let i = 0; i < s.target.length; i++) {
      const g = s.target[i];
      if (g < ts[0] || g > last) continue;
      let lo = 0, hi = ts.length - 1;
      while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (ts[mid] <= g) lo = mid; else hi = mid - 1; }
      d[8][lo] = s.value[i]; n++;
    }
  }
  document.body.dataset.forecasts = n;
  redraw();
}
async function risk() {
  const r = await PP.get(`/api/robots/${id}/predictions?kind=risk`);
  const s = r.series[0];
  if (!s || !s.value.length) return;
  const k = s.value.length - 1;
  document.getElementById('title').textContent = `Robot ${id} · failure risk ${PP.num(s.value[k] * 100, 0)} % within ${PP.num(s.horizon / 3600, 0)} h (at ${PP.time(s.t[k] * 1000)})`;
}
async function loadEps() {
  const r = await PP.get(`/api/anomalies?robot=${id}&limit=200`);
  for (const e of (r.anomalies || r)) eps.set(e.id, e);
  redraw();
}
document.getElementById('go').onclick = () => {
  live = false;
  const f = document.getElementById('from').value, t = document.getElementById('to').value;
  range(f && new Date(f).toISOString(), t && new Date(t).toISOString()).catch(console.error);
};
document.getElementById('live').onclick = () => { live = true; range().catch(console.error); };
Promise.all([range().catch(console.error), loadEps().catch(console.error), risk().catch(console.error)]).then(() => PP.stream({
  robots: (m) => { if (!live) return; for (const x of m.robots) if (x.id === id) push(x); redraw(); },
  anomaly: (e) => { if (e.robot_id === id) { eps.set(e.id, e); redraw(); } },
}));
