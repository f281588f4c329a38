'use strict';
// Reports: the canned analyses of the warehouse (GET /api/query lists them, GET /api/query/{name}
// answers, as `pgpulse query` does). Pick one, a range of stream time (local time in the
// inputs, sent as UTC) and optionally a robot; the rows show as a table, the same rows as CSV
// behind the link, and the analysis's documentation (what it reads, its columns) under it.
// The choice is kept in the address (?q=&from=&to=&robot=), so a view can be shared.
PP.nav('Reports');
let list = [];
const $ = (id) => document.getElementById(id);
// datetime-local <-> ISO 8601 UTC.
function toIso(v) { return v ? new Date(v).toISOString() : ''; }
function toLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}
function params() {
  const p = new URLSearchParams();
  const from = toIso($('from').value), to = toIso($('to').value), robot = $('robot').value;
  if (from) p.set('from', from);
  if (to) p.set('to', to);
  if (robot) p.set('robot', robot);
  return p;
}
function cell(v) {
  if (v === null || v === undefined) return '<td class="null">–</td>';
  if (typeof v === 'number') return `<td class="num">${PP.esc(Number.isInteger(v) ? v : Number(v.toPrecision(6)))}</td>`;
  return `<td>${PP.esc(v)}</td>`;
}
function show(name, rows) {
  $('rtitle').textContent = `${name}: ${rows.length} row${rows.length === 1 ? '' : 's'}`;
  if (!rows.length) { $('rows').innerHTML = '<tr><td>no rows in this range</td></tr>'; return; }
  const keys = Object.keys(rows[0]);
  $('rows').innerHTML = '<tr>' + keys.map((k) => `<th>${PP.esc(k)}</th>`).join('') + '</tr>' +
    rows.map((r) => '<tr>' + keys.map((k) => cell(r[k])).join('') + '</tr>').join('');
}
async function run() {
  const name = $('name').value, q = list.find((x) => x.name === name);
  if (!q) return;
  const p = params();
  $('summary').textContent = q.summary;
  $('doc').textContent = q.doc;
  const csv = new URLSearchParams(p);
  csv.set('format', 'csv');
  $('csv').href = `/api/query/${encodeURIComponent(name)}?${csv}`;
  $('csv').download = `${name}.csv`;
  const here = new URLSearchParams(p);
  here.set('q', name);
  history.replaceState(null, '', '?' + here);
  try {
    const r = await fetch(`/api/query/${encodeURIComponent(name)}?${p}`, { headers: { Accept: 'application/json' } });
    const body = await r.json();
    document.body.classList.toggle('disconnected', r.status === 503);
    if (!r.ok) { $('rtitle').textContent = `${name}: ${body.error || 'HTTP ' + r.status}`; $('rows').innerHTML = ''; return; }
    show(name, body);
    document.body.dataset.rows = String(body.length);
  } catch (e) { document.body.classList.add('disconnected'); }
}
async function init() {
  try { list = await PP.get('/api/query'); } catch (e) { document.body.classList.add('disconnected'); setTimeout(init, 2000); return; }
  document.body.classList.remove('disconnected');
  $('name').innerHTML = list.map((q) => `<option value="${PP.esc(q.name)}">${PP.esc(q.name)}</option>`).join('');
  const u = new URLSearchParams(location.search);
  if (u.get('q') && list.some((q) => q.name === u.get('q'))) $('name').value = u.get('q');
  $('from').value = toLocal(u.get('from'));
  $('to').value = toLocal(u.get('to'));
  $('robot').value = u.get('robot') || '';
  $('form').addEventListener('submit', (ev) => { ev.preventDefault(); run(); });
  $('name').addEventListener('change', run);
  run();
}
init();
