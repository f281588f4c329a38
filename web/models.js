'use strict';
// Models: the learn stage's tracked models (/api/models) — a card per model with its champion
// and challenger (learner, key figures), the history of a chosen metric for each run (uPlot,
// /api/models/{name}/metrics, downsampled by the server to the chart's width) and the model's
// versions. Polls every 30 s: models change at the pace of the stream's time, not per reading.
PP.nav('Models');
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
// The figures a card shows first, when a version has them; units where they have one.
const KEYS = ['roc_auc', 'pr_auc', 'recall', 'precision', 'lead_h_median', 'logloss'];
const UNIT = { lead_h_median: ' h' };
const COLORS = { champion: '#8ab4f8', challenger: '#2ecc71' };
const OTHER = ['#c792ea', '#f5a623', '#e5484d', '#5b8def'];
let models = [], sel = null, chart = null;
const keyOf = (m) => m.consumer + '/' + m.name;
function fig(k, v) {
  if (typeof v !== 'number') return PP.esc(JSON.stringify(v));
  const pct = k === 'recall' || k === 'precision';
  return pct ? PP.num(v * 100, 1) + ' %' : PP.num(v, Number.isInteger(v) ? 0 : 3) + (UNIT[k] || '');
}
// Up to four figures of a version's metrics: the known ones first, then any other number.
function figures(ms) {
  if (!ms) return '';
  const ks = KEYS.filter((k) => k in ms).concat(Object.keys(ms).filter((k) => !KEYS.includes(k) && typeof ms[k] === 'number')).slice(0, 4);
  return ks.map((k) => `${PP.esc(k)} ${fig(k, ms[k])}`).join(' · ');
}
function role(name, v) {
  return `<tr><td>${name}</td>${v ? `<td>v${v.version}</td><td>${PP.esc(v.model)}</td><td title="${PP.esc(JSON.stringify(v.metrics))}">${figures(v.metrics)}</td>` : '<td colspan="3">none</td>'}</tr>`;
}
function cards() {
  document.getElementById('cards').innerHTML = models.length ? models.map((m) => {
    const recs = m.runs.reduce((s, r) => Math.max(s, r.records || 0), 0);
    return `<div class="panel card${keyOf(m) === sel ? ' on' : ''}" data-model="${PP.esc(keyOf(m))}"><h3>${PP.esc(m.name)}</h3>` +
      `<div class="m">consumer ${PP.esc(m.consumer)} · ${m.versions} version${m.versions === 1 ? '' : 's'} · ${m.runs.length} run${m.runs.length === 1 ? '' : 's'} · ${recs} records</div>` +
      // A model without aliased versions (the forecasters) shows its runs instead.
      `<table>${m.champion || m.challenger ? role('champion', m.champion) + role('challenger', m.challenger)
        : m.runs.slice(0, 2).map((r) => `<tr><td>run</td><td></td><td>${PP.esc(r.model)}</td><td>${PP.esc(r.name)} · ${PP.esc(r.status)}</td></tr>`).join('')}</table></div>`;
  }).join('') : '<div class="panel">No tracked models yet: the learn stage writes them (docs/learn.md).</div>';
}
function current() { return models.find((m) => keyOf(m) === sel); }
function keys() {
  const m = current(), el = document.getElementById('key'), was = el.value;
  const ks = m ? m.keys : [];
  el.innerHTML = ks.map((k) => `<option>${PP.esc(k)}</option>`).join('');
  el.value = ks.includes(was) ? was : (KEYS.find((k) => ks.includes(k)) || ks[0] || '');
}
function label(r) { return r.alias || r.name; }
async function history() {
  const m = current(), key = document.getElementById('key').value, box = document.getElementById('chart');
  document.getElementById('charttitle').textContent = m && key ? `${m.name}: ${key}, champion against challenger` : 'Metric history';
  if (!m || !key) { if (chart) { chart.destroy(); chart = null; } box.textContent = 'no metric logged yet'; return; }
  const w = Math.max(300, box.clientWidth - 20);
  const q = new URLSearchParams({ key, consumer: m.consumer, points: Math.min(5000, Math.round(w)) });
  const d = await PP.get(`/api/models/${encodeURIComponent(m.name)}/metrics?` + q);
  // Champion and challenger first; every run on one time axis (uPlot.join fills the gaps).
  const order = { champion: 0, challenger: 1 };
  const runs = d.runs.filter((r) => r.t.length).sort((a, b) => (order[a.alias] ?? 2) - (order[b.alias] ?? 2));
  const data = runs.length ? uPlot.join(runs.map((r) => [r.t, r.value])) : [[]];
  const series = [{ label: `stream time (${ZONE})` }].concat(runs.map((r, i) => ({
    label: `${label(r)} · ${r.model}`, stroke: COLORS[r.alias] || OTHER[i % OTHER.length], width: 1.5, spanGaps: true,
    points: { show: r.t.length <= 50 },
    value: (u, v) => PP.num(v, 4) })));
  if (chart) chart.destroy();
  box.textContent = '';
  box.dataset.runs = runs.length;
  box.dataset.points = runs.reduce((s, r) => s + r.t.length, 0);
  chart = new uPlot({
    width: w, height: Math.max(200, Math.round(window.innerHeight / 3)),
    axes: [{ stroke: '#8a94a6', grid: { stroke: '#2a313c' }, label: `stream time (${ZONE})` },
      { stroke: '#8a94a6', grid: { stroke: '#2a313c' }, label: key + (UNIT[key] ? ` (${UNIT[key].trim()})` : ''), size: 60 }],
    series,
  }, data, box);
  // One logged time in all (metrics come every 100,000 records): an hour either side of it
  // rather than uPlot's default span of years.
  if (data[0].length === 1) chart.setScale('x', { min: data[0][0] - 3600, max: data[0][0] + 3600 });
}
async function versions() {
  const m = current(), el = document.getElementById('versions');
  document.getElementById('vtitle').textContent = m ? `Versions of ${m.name} (consumer ${m.consumer})` : 'Versions';
  if (!m) { el.innerHTML = ''; return; }
  const d = await PP.get(`/api/models/${encodeURIComponent(m.name)}/versions?` + new URLSearchParams({ consumer: m.consumer, limit: 50 }));
  el.innerHTML = '<tr><th>version</th><th>alias</th><th>learner</th><th>figures</th><th>state</th><th>stream time</th><th>taken</th></tr>' +
    (d.versions.length ? d.versions.map((v) => `<tr><td>v${v.version}</td><td>${PP.esc(v.alias || '')}</td><td>${PP.esc(v.model)}</td><td title="${PP.esc(JSON.stringify(v.metrics))}">${figures(v.metrics)}</td><td>${v.state_bytes < 1024 ? v.state_bytes + ' B' : PP.num(v.state_bytes / 1024, 1) + ' KiB'}</td><td>${PP.esc(new Date(v.stream_ts).toLocaleString())}</td><td>${PP.esc(new Date(v.created_at).toLocaleString())}</td></tr>`).join('')
      : '<tr><td colspan="7">no versions</td></tr>');
}
async function show() { keys(); cards(); await Promise.all([history(), versions()]); }
async function load() {
  try {
    const d = await PP.get('/api/models');
    models = d.models || d;
    document.body.classList.remove('disconnected');
    if (!current()) sel = models.length ? keyOf(models.find((m) => m.champion) || models[0]) : null;
    await show();
  } catch (e) { console.error(e); document.body.classList.add('disconnected'); }
}
document.getElementById('cards').onclick = (ev) => {
  const c = ev.target.closest('[data-model]'); if (!c || c.dataset.model === sel) return;
  sel = c.dataset.model; show().catch(console.error);
};
document.getElementById('key').onchange = () => history().catch(console.error);
window.addEventListener('resize', PP.frame(() => { if (chart) chart.setSize({ width: Math.max(300, document.getElementById('chart').clientWidth - 20), height: chart.height }); }));
load().then(() => setInterval(load, 30000));
