'use strict';
// Pipeline: each stage's rows, position and lag, the slot's WAL retained, ingest rejects;
// /api/pipeline every 2 s (this page polls; the fleet page does not).
PP.nav('Pipeline');
function cell(v) { return `<td>${PP.esc(typeof v === 'object' && v !== null ? JSON.stringify(v) : v)}</td>`; }
function table(el, list) {
  if (!list || !list.length) { el.innerHTML = '<tr><td>none</td></tr>'; return; }
  const keys = Object.keys(list[0]);
  el.innerHTML = '<tr>' + keys.map((k) => `<th>${PP.esc(k)}</th>`).join('') + '</tr>' + list.map((r) => '<tr>' + keys.map((k) => cell(r[k])).join('') + '</tr>').join('');
}
async function tick() {
  try {
    const p = await PP.get('/api/pipeline');
    document.body.classList.remove('disconnected');
    table(document.getElementById('stages'), p.consumers || p.stages || []);
    const rj = p.rejects || [];
    table(document.getElementById('rejects'), Array.isArray(rj) ? rj : Object.entries(rj).map(([reason, n]) => ({ reason, rows: n })));
  } catch (e) { document.body.classList.add('disconnected'); }
  setTimeout(tick, 2000);
}
tick();
