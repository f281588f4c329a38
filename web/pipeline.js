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
    table(document.getElementById('stages'), p.stages.map((c) => ({
      consumer: c.name, stages: c.stages, source: c.source, rows: c.rows, position: c.lsn,
      'lag (s)': PP.num(c.lag_seconds, 1), 'WAL held (MB)': c.lag_bytes == null ? '–' : PP.num(c.lag_bytes / 1048576, 1),
      'WAL left': c.slot_wal_left == null ? '–' : PP.num(c.slot_wal_left * 100, 0) + ' %',
      slot: c.slot_status || '–', running: c.active ? 'yes' : 'no', warning: c.warning || '' })));
    document.getElementById('rejtotal').textContent = p.rejects.total;
    table(document.getElementById('rejects'), p.rejects.by_reason.map((x) => ({
      reason: x.reason, rows: x.count, last: PP.time(x.last_at), source: x.last_source })));
  } catch (e) { document.body.classList.add('disconnected'); }
  setTimeout(tick, 2000);
}
tick();
