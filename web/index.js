'use strict';
// Fleet: KPI tiles, robot tiles coloured by state (ERROR > ALERT > state), sparklines on small
// canvases, the latest episodes. Initial state from the API, then only the stream (no polling),
// except for the learn stage's failure risk (not pushed: it moves every 10 minutes of stream
// time), fetched again every minute while any robot has one. The tiles are ordered by risk
// (highest first) when any robot has one, else by id; the order selector overrides.
PP.nav('Fleet');
const robots = new Map(); // id -> {id,name,state,open:{ALERT,ERROR},hist:[],el,dirty}
const episodes = new Map();
let fleet = null;
const redraw = PP.frame(draw);
function rob(id) {
  let r = robots.get(id);
  if (!r) { r = { id, name: 'robot ' + id, state: 'stale', open: new Map(), hist: [], dirty: true }; robots.set(id, r); }
  return r;
}
function level(r) {
  const ls = [...r.open.values()];
  return ls.includes('ERROR') ? 'ERROR' : ls.includes('ALERT') ? 'ALERT' : r.state;
}
function mag(axes) { return Math.sqrt(axes.reduce((s, v) => s + (v || 0) * (v || 0), 0)); }
function onEpisode(e) {
  episodes.set(e.id, e);
  const r = rob(e.robot_id);
  if (e.open) r.open.set(e.id, e.level); else r.open.delete(e.id);
  r.dirty = true; redraw();
}
function spark(c, h) {
  const w = c.clientWidth, ht = c.clientHeight;
  if (c.width !== w) c.width = w; if (c.height !== ht) c.height = ht;
  const g = c.getContext('2d'); g.clearRect(0, 0, w, ht);
  if (h.length < 2) return;
  const lo = Math.min(...h), hi = Math.max(...h), k = hi > lo ? (ht - 2) / (hi - lo) : 0;
  g.strokeStyle = '#8ab4f8'; g.lineWidth = 1; g.beginPath();
  h.forEach((v, i) => { const x = i * w / 59, y = ht - 1 - (v - lo) * k; i ? g.lineTo(x, y) : g.moveTo(x, y); });
  g.stroke();
}
const order = document.getElementById('order');
let ordered = false; // the order was chosen by the viewer
function byOrder(a, b) {
  if (order.value === 'risk') {
    const ra = a.risk ?? -1, rb = b.risk ?? -1;
    if (ra !== rb) return rb - ra;
  }
  return a.id - b.id;
}
function draw() {
  const grid = document.getElementById('tiles');
  const list = [...robots.values()].sort(byOrder);
  for (const r of list) {
    if (!r.el) {
      r.el = document.createElement('a'); r.el.className = 'tile'; r.el.href = 'robot.html?id=' + r.id;
      r.el.dataset.robot = r.id;
      r.el.innerHTML = '<div class="n"></div><canvas></canvas><div class="m"></div>'; grid.appendChild(r.el);
    }
    if (!r.dirty) continue;
    r.dirty = false;
    const st = level(r);
    r.el.dataset.state = st;
    r.el.firstChild.textContent = `${r.name} · ${st}`;
    spark(r.el.children[1], r.hist);
    const peak = r.axes ? Math.max(...r.axes) : null, ax = r.axes ? r.axes.indexOf(peak) + 1 : 0;
    const risk = r.risk == null ? '' : `risk ${PP.num(r.risk * 100, 0)} % · `;
    r.el.dataset.risk = r.risk == null ? '' : r.risk;
    r.el.lastChild.textContent = risk + (r.axes ? `${PP.num(peak, 1)} A peak · axis ${ax}` : 'no readings yet');
  }
  // Move the tiles into the order only when it changed (appendChild moves an element).
  if (list.some((r, i) => grid.children[i] !== r.el)) for (const r of list) grid.appendChild(r.el);
  if (fleet) {
    // Open episodes counted from the pushed episodes (every open one is loaded at start): they
    // move the moment an episode opens, not at the next fleet tick.
    const eo = { ALERT: 0, ERROR: 0 };
    for (const e of episodes.values()) if (e.open) eo[e.level]++;
    const f = fleet, rb = f.robots || {};
    document.getElementById('kpis').innerHTML = [
      ['rows/s', PP.num(f.rows_per_s, 0)], ['running', rb.running], ['idle', rb.idle], ['stale', rb.stale],
      ['open ALERT', eo.ALERT, 'lvl-ALERT'], ['open ERROR', eo.ERROR, 'lvl-ERROR'], ['lag', PP.num(f.lag_s, 1) + ' s'],
    ].map(([k, v, c]) => `<div class="panel kpi"><div class="v ${c || ''}">${v ?? '–'}</div><div class="k">${k}</div></div>`).join('');
  }
  const eps = [...episodes.values()].sort((a, b) => (b.ts_start > a.ts_start ? 1 : -1)).slice(0, 20);
  document.getElementById('eps').innerHTML = eps.map((e) =>
    `<tr><td class="lvl-${PP.esc(e.level)}">${PP.esc(e.level)}</td><td><a href="robot.html?id=${e.robot_id}">robot ${e.robot_id}</a></td><td>${e.axis == null ? 'all axes' : 'axis ' + e.axis}</td><td>${PP.esc(e.detector)}${e.reason ? ' · ' + PP.esc(e.reason) : ''}</td><td>${PP.time(e.ts_start)}</td><td>${e.open ? 'open' : 'closed'}</td></tr>`).join('');
}
// A robot whose last reading is more than 60 s old is stale (as live_robot_status says); no event
// tells of it, so each fleet tick checks.
function stale() {
  const now = Date.now();
  for (const r of robots.values())
    if (r.ts && r.state !== 'stale' && now - Date.parse(r.ts) > 60e3) { r.state = 'stale'; r.dirty = true; }
}
// Each tile's sparkline starts with its robot's last 15 minutes at 60 points (a few requests at
// a time), then grows from the stream.
async function sparkHistory(list) {
  const next = async () => {
    for (let r; (r = list.shift());) {
      try {
        const d = await PP.get(`/api/robots/${r.id}/readings?points=60`);
        const h = d.t.map((_, i) => mag(d.mean.map((col) => col[i])));
        r.hist = h.concat(r.hist).slice(-60); r.dirty = true;
      } catch (e) { /* a robot without readings keeps an empty line */ }
    }
    redraw();
  };
  await Promise.all([next(), next(), next(), next()]);
}
function risks(rs) {
  for (const x of rs) { const r = rob(x.id); if (r.risk !== (x.risk ?? null)) { r.risk = x.risk ?? null; r.dirty = true; } }
  if (!ordered) order.value = [...robots.values()].some((r) => r.risk != null) ? 'risk' : 'id';
  redraw();
}
order.onchange = () => { ordered = true; redraw(); };
setInterval(() => {
  if ([...robots.values()].some((r) => r.risk != null)) PP.get('/api/robots').then((rs) => risks(rs.robots)).catch(console.error);
}, 60000);
async function init() {
  try {
    const [f, rs, as, op] = await Promise.all([PP.get('/api/fleet'), PP.get('/api/robots'),
      PP.get('/api/anomalies?limit=20'), PP.get('/api/anomalies?open=true&limit=1000')]);
    fleet = f;
    for (const x of rs.robots) {
      const r = rob(x.id); r.name = x.name || r.name; r.state = x.state || 'stale'; r.ts = x.last_ts;
      r.axes = x.axes;
    }
    risks(rs.robots);
    sparkHistory([...robots.values()]);
    for (const e of op.anomalies.concat(as.anomalies).reverse()) onEpisode(e);
  } catch (e) { console.error(e); }
  redraw();
  PP.stream({
    fleet: (f) => { fleet = f; stale(); redraw(); },
    robots: (m) => { for (const x of m.robots) { const r = rob(x.id); r.state = x.state; r.ts = x.ts; r.axes = x.axes; r.hist.push(mag(x.axes)); if (r.hist.length > 60) r.hist.shift(); r.dirty = true; } redraw(); },
    anomaly: onEpisode,
  });
}
init();
