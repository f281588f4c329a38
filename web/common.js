// common.js: the SSE client (reconnects by itself, resumes with Last-Event-ID: the browser's
// EventSource sends it on its own reconnects; a new EventSource after an error passes it as
// ?last_event_id), fetch helpers and formatting shared by the pages.
'use strict';
const PP = {
  async get(url) {
    const r = await fetch(url, { headers: { Accept: 'application/json' } });
    if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
    return r.json();
  },
  stream(handlers) {
    let es = null, last = '', retry = 500;
    const open = () => {
      es = new EventSource('/api/stream' + (last ? '?last_event_id=' + encodeURIComponent(last) : ''));
      es.onopen = () => { retry = 500; document.body.classList.remove('disconnected'); };
      es.onerror = () => {
        document.body.classList.add('disconnected');
        if (es.readyState === EventSource.CLOSED) { setTimeout(open, retry); retry = Math.min(retry * 2, 10000); }
      };
      for (const [name, fn] of Object.entries(handlers))
        es.addEventListener(name, (ev) => { if (ev.lastEventId) last = ev.lastEventId; try { fn(JSON.parse(ev.data)); } catch (e) { console.error(e); } });
    };
    open();
  },
  // Runs fn once per animation frame at most, however often it is asked for.
  frame(fn) { let want = false; return () => { if (!want) { want = true; requestAnimationFrame(() => { want = false; fn(); }); } }; },
  num(v, d = 1) { return v == null || isNaN(v) ? '–' : Number(v).toFixed(d); },
  time(t) { return t ? new Date(t).toLocaleTimeString() : '–'; },
  esc(s) { return String(s ?? '').replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';'); },
  nav(on) {
    const pages = [['index.html', 'Fleet'], ['alerts.html', 'Alerts'], ['pipeline.html', 'Pipeline'], ['models.html', 'Models'], ['reports.html', 'Reports']];
    document.querySelector('header').innerHTML = '<h1>pgpulse</h1>' + pages.map(([h, n]) =>
      `<a href="${h}" class="${n === on ? 'on' : ''}">${n}</a>`).join('');
  },
};
