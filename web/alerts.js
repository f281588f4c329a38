'use strict';
// Alerts: a filterable feed with Acknowledge; the token is asked for when the server answers 401
// and kept in localStorage.
PP.nav('Alerts');
const tok = document.getElementById('token');
tok.value = localStorage.getItem('pgpulse_token') || '';
tok.onchange = () => localStorage.setItem('pgpulse_token', tok.value);
let rows = [];
async function load() {
  const q = new URLSearchParams({ limit: 500 });
  const lv = document.getElementById('level').value, rb = document.getElementById('robot').value.trim(), f = document.getElementById('from').value;
  if (lv) q.set('level', lv); if (rb) q.set('robot', rb); if (f) q.set('from', new Date(f).toISOString());
  const r = await PP.get('/api/anomalies?' + q);
  rows = r.anomalies || r; draw();
}
function draw() {
  document.getElementById('feed').innerHTML = '<tr><th>level</th><th>robot</th><th>axis</th><th>detector</th><th>reason</th><th>start</th><th>end</th><th></th></tr>' +
    rows.map((e) => `<tr data-id="${e.id}"><td class="lvl-${PP.esc(e.level)}">${PP.esc(e.level)}</td><td><a href="robot.html?id=${e.robot_id}">${e.robot_id}</a></td><td>${e.axis == null ? 'all' : e.axis}</td><td>${PP.esc(e.detector)}</td><td>${PP.esc(e.reason)}</td><td>${PP.time(e.ts_start)}</td><td>${e.open ? 'open' : PP.time(e.ts_end)}</td><td class="ack">${e.ack ? `acknowledged ${PP.time(e.ack.at)} by ${PP.esc(e.ack.by)}${e.ack.note ? ': ' + PP.esc(e.ack.note) : ''}` : `<button data-id="${e.id}">Acknowledge</button>`}</td></tr>`).join('');
}
document.getElementById('feed').onclick = async (ev) => {
  const b = ev.target.closest('button[data-id]'); if (!b) return;
  const h = { 'Content-Type': 'application/json' }; if (tok.value) h.Authorization = 'Bearer ' + tok.value;
  const r = await fetch(`/api/anomalies/${b.dataset.id}/ack`, { method: 'POST', headers: h, body: '{}' });
  if (r.status === 401) { tok.focus(); tok.placeholder = 'token needed'; alert('The server needs a token: enter it in the token field.'); return; }
  if (tok.value) localStorage.setItem('pgpulse_token', tok.value);
  load().catch(console.error);
};
for (const x of ['level', 'robot', 'from']) document.getElementById(x).onchange = () => load().catch(console.error);
load().catch(console.error);
PP.stream({ anomaly: () => load().catch(console.error) });
