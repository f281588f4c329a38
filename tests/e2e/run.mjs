#!/usr/bin/env node
// The dashboard's browser test (issue 10): a test database on the cluster tests/run.sh started
// ($PGPULSE_TEST_HOME), history preloaded so that the detectors are warm, the live and detect
// consumer and `pgpulse serve` on a free port; then Fleet, a fault for one robot whose tile must
// turn ALERT/ERROR within 2 s, the Robot page's span, and the layout at 1366x768 and 3840x2160
// (no overlapping tiles or panels, nothing wider than the viewport). The learn stage's outputs
// (issue 11) are inserted by SQL as it writes them: the Fleet page ranks robots by their risk,
// the Robot page draws the forecast, the Models page shows a card, a chart and the versions.
// The Reports page (issue 12) runs a canned analysis over a warehouse row inserted the same way.
// Screenshots go to
// tests/e2e/out/. Prints cmocka-style summary lines for tests/run.sh.
// Usage: node tests/e2e/run.mjs (PGPULSE_BIN and PGPULSE_TEST_HOME set, as tests/run.sh does).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const out = path.join(here, 'out');
const CHROMIUM = '/usr/bin/chromium';
const bin = process.env.PGPULSE_BIN || path.join(root, 'pgpulse');
// E2E_CITUS=1: the same, on the Citus cluster tests/run.sh starts ($PGPULSE_TEST_CITUS_HOME), in
// its `pgpulse` database (Citus set up there by `db start --citus`; `init` distributes it).
const citus = process.env.E2E_CITUS === '1';
const home = citus ? process.env.PGPULSE_TEST_CITUS_HOME : process.env.PGPULSE_TEST_HOME;

function summary(passed, failed, skipped) {
  console.log(`[==========] ${passed + failed + skipped} test(s) run.`);
  console.log(`[  PASSED  ] ${passed} test(s).`);
  if (skipped) console.log(`[  SKIPPED ] ${skipped} test(s).`);
  if (failed) console.log(`[  FAILED  ] ${failed} test(s).`);
}
function skip(why) { console.log(`e2e skipped: ${why}`); summary(0, 0, 1); process.exit(0); }

if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is absent (make deps installs chromium)`);
if (!existsSync(path.join(root, 'web/node_modules/playwright-core'))) skip('web/node_modules is absent (make deps)');
if (citus && !home) skip('Citus is not installed (make deps-citus)');
if (!home || !existsSync(path.join(home, 'port'))) skip('no test cluster ($PGPULSE_TEST_HOME, as tests/run.sh starts)');
const help = spawnSync(bin, ['serve', '--help'], { encoding: 'utf8' });
if (help.error || /unknown command/i.test((help.stderr || '') + (help.stdout || ''))) skip(`${bin} has no serve command`);

const require = createRequire(path.join(root, 'web/package.json'));
const { chromium } = require('playwright-core');

const port = Number(readFileSync(path.join(home, 'port'), 'utf8').trim());
const dbname = citus ? 'pgpulse' : `test_e2e_${process.pid}`;
const admin = `host=127.0.0.1 port=${port} user=pgpulse dbname=pgpulse passfile=${home}/pgpass`;
const conninfo = `host=127.0.0.1 port=${port} user=pgpulse dbname=${dbname} passfile=${home}/pgpass`;
const children = [];
let browser = null, userDir = null;

function run(args, opts = {}) {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 60000, ...opts });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.error || ''}${r.stderr}`);
  return r.stdout;
}
function psql(db, sql) { return run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', db, '-c', sql]); }
// A long-running child; resolves with the first stdout line matching re (bounded wait).
function start(args, re, ms) {
  const c = spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let buf = '', err = '';
  c.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${args[1]}: no "${re}" within ${ms} ms: ${err}`)), ms);
    c.on('exit', (code) => { clearTimeout(t); reject(new Error(`${args[1]} exited (${code}): ${err}`)); });
    c.stdout.on('data', (d) => {
      buf += d; const m = buf.match(re);
      if (m) { clearTimeout(t); resolve(m); }
    });
    if (!re) { clearTimeout(t); resolve(null); }
  });
}
function iso(ms) { return new Date(ms).toISOString(); }
async function until(fn, ms, what) {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`no ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Every element of sel inside page: none overlaps another, none passes the viewport's right edge.
async function layout(page, w, h, name) {
  await page.setViewportSize({ width: w, height: h });
  await page.waitForTimeout(0);
  const bad = await page.evaluate(() => {
    const out = [], vw = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > vw) out.push(`page scrolls horizontally (${document.documentElement.scrollWidth} > ${vw})`);
    const groups = [...document.querySelectorAll('.grid, .kpis, .charts, main, .two')];
    for (const g of groups) {
      const els = [...g.children].filter((e) => e.offsetParent !== null);
      const bs = els.map((e) => e.getBoundingClientRect());
      bs.forEach((b, i) => {
        if (b.right > vw + 0.5) out.push(`${els[i].className || els[i].tagName} passes the right edge (${b.right} > ${vw})`);
        for (let j = i + 1; j < bs.length; j++) {
          const c = bs[j];
          if (b.left < c.right - 0.5 && c.left < b.right - 0.5 && b.top < c.bottom - 0.5 && c.top < b.bottom - 0.5)
            out.push(`${els[i].className} overlaps ${els[j].className}`);
        }
      });
    }
    return out;
  });
  await page.screenshot({ path: path.join(out, `${name}-${w}x${h}.png`) });
  if (bad.length) throw new Error(`${name} at ${w}x${h}: ${bad.slice(0, 5).join('; ')}`);
}

const results = [];
async function test(name, fn) {
  const t0 = Date.now();
  console.log(`[ RUN      ] ${name}`);
  try { await fn(); console.log(`[       OK ] ${name} (${Date.now() - t0} ms)`); results.push(true); }
  catch (e) { console.log(`[  ERROR   ] ${name}: ${e.stack || e}`); console.log(`[  FAILED  ] ${name}`); results.push(false); }
}

// What the learn stage writes (sql/010_learn.sql), fixed values: risks 5 %, 20 %, 42 % for the
// first three robots (the fourth has none), the first robot's 1-ahead forecasts every 10 s over
// its last 10 minutes, a failure_risk model with a champion and a challenger run, 300 roc_auc
// values each and three versions.
function learnRows(robot) {
  psql(conninfo, `INSERT INTO prediction SELECT 'pipeline', ${robot} + r, now() - interval '5 minutes', 'risk', 0, 86400,
    now() + interval '1 day', (ARRAY[0.05, 0.2, 0.42])[r + 1], 1 FROM generate_series(0, 2) r`);
  psql(conninfo, `INSERT INTO prediction SELECT 'pipeline', ${robot}, t, 'forecast', a, 1, t + interval '1 second', 10 + a, NULL
    FROM (SELECT generate_series(max(ts) - interval '10 minutes', max(ts) - interval '10 seconds', interval '10 seconds') t
            FROM reading WHERE robot_id = ${robot}) g, generate_series(1, 8) a`);
  psql(conninfo, `INSERT INTO experiment (name) VALUES ('failure_risk');
    INSERT INTO run (run_id, experiment_id, consumer, name, model, params, status, records, stream_start, stream_end)
      SELECT md5(k), 1, 'pipeline', 'failure_risk/' || k, m, '{}', 'RUNNING', 3000, now() - interval '50 minutes', now()
        FROM (VALUES ('champion', 'logistic'), ('challenger', 'forest')) v(k, m);
    INSERT INTO run_metric SELECT md5(k), 'roc_auc', g * 10, now() - interval '50 minutes' + g * interval '10 seconds',
        CASE k WHEN 'champion' THEN 0.6 + g / 1000.0 ELSE 0.55 + g / 900.0 END
      FROM generate_series(1, 300) g, (VALUES ('champion'), ('challenger')) v(k);
    INSERT INTO model_version (consumer, name, version, run_id, model, state, metrics, alias, stream_ts) VALUES
      ('pipeline', 'failure_risk', 1, md5('champion'), 'logistic', '\\x0102', '{"roc_auc": 0.7}', NULL, now() - interval '30 minutes'),
      ('pipeline', 'failure_risk', 2, md5('champion'), 'logistic', '\\x010203', '{"roc_auc": 0.9, "recall": 0.8}', 'champion', now()),
      ('pipeline', 'failure_risk', 3, md5('challenger'), 'forest', '\\x01', '{"roc_auc": 0.88}', 'challenger', now())`);
}

async function main() {
  mkdirSync(out, { recursive: true });
  if (!citus) psql(admin, `CREATE DATABASE ${dbname}`);
  run([bin, 'init', '--db', conninfo]);
  const robot = 1001, now = Date.now();
  // The consumer first: a new consumer reads what commits after its slot exists.
  start([bin, 'consume', '--db', conninfo, '--stages', 'live,detect', '--name', 'pipeline'], null, 0);
  // Streaming, as the C tests' harness_wait_slot checks it: the slot made and recorded (mode
  // 'stream'; stream_consumer names the slot before it exists, and rows committed before the
  // slot's consistent point are not the consumer's) and a process reading it.
  await until(() => psql(conninfo, "SELECT count(*) FROM stream_consumer c JOIN stream_checkpoint k USING (consumer) " +
    "JOIN pg_replication_slots s ON s.slot_name = c.slot_name WHERE c.consumer = 'pipeline' AND k.source = 'local' " +
    "AND k.mode = 'stream' AND s.active").trim() === '1',
    60000, 'the consumer streaming from its slot');
  // 50 minutes of history for 4 robots, no faults, so that the detectors are warm (they judge
  // nothing in a robot's first ~1,000 readings).
  run([bin, 'gen', '--robots', '4', '--first-robot', String(robot), '--faults', 'none', '--seed', '7',
    '--start', iso(now - 50 * 60e3), '--duration', String(50 * 60 - 5), '--speedup', 'max', '--db', conninfo], { timeout: 120000 });
  const total = psql(conninfo, 'SELECT count(*) FROM reading').trim();
  await until(() => psql(conninfo, 'SELECT coalesce(sum(rows_total), 0) FROM live_robot').trim() === total, 60000, 'the consumer to catch up');
  learnRows(robot);
  const m = await start([bin, 'serve', '--db', conninfo, '--listen', '127.0.0.1:0'], /serving (http:\/\/\S+)/, 20000);
  const url = m[1].replace(/\/?$/, '/');

  userDir = mkdtempSync(path.join(tmpdir(), 'pgpulse-e2e-'));
  browser = await chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1366, height: 768 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const page = browser.pages()[0] || await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  await test('fleet_shows_the_robots', async () => {
    await page.goto(url);
    await page.waitForSelector(`.tile[data-robot="${robot}"]`, { timeout: 15000 });
    await page.waitForFunction(() => document.querySelectorAll('.tile').length >= 4, null, { timeout: 15000 });
    await page.screenshot({ path: path.join(out, 'fleet.png') });
  });

  await test('fault_turns_the_tile_alert_within_2s', async () => {
    // 4 s of readings after the robot's last one, every axis at three times its largest current
    // so far plus 20 A: far outside anything it did.
    const [last, ...mx] = psql(conninfo, `SELECT extract(epoch FROM max(ts)) * 1000, ${[1, 2, 3, 4, 5, 6, 7, 8].map((a) => `max(axis${a})`).join(', ')} FROM reading WHERE robot_id = ${robot}`).trim().split('|').map(Number);
    const rows = [];
    for (let i = 1; i <= 40; i++) rows.push(`(${robot}, '${iso(last + i * 100)}', ${mx.map((v, a) => (3 * v + 20 + ((i * 7 + a) % 5)).toFixed(3)).join(', ')})`);
    psql(conninfo, `INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8) VALUES ${rows.join(',')}`);
    const t0 = Date.now();
    await page.waitForSelector(`.tile[data-robot="${robot}"][data-state="ALERT"], .tile[data-robot="${robot}"][data-state="ERROR"]`, { timeout: 2000 });
    console.log(`tile turned ${await page.getAttribute(`.tile[data-robot="${robot}"]`, 'data-state')} in ${Date.now() - t0} ms`);
    await page.screenshot({ path: path.join(out, 'fleet-alert.png') });
  });

  await test('robot_page_draws_the_span', async () => {
    await page.goto(`${url}robot.html?id=${robot}`);
    await page.waitForFunction(() => /ALERT|ERROR/.test(document.body.dataset.spans || ''), null, { timeout: 10000 });
    await page.waitForSelector('.uplot', { timeout: 5000 });
    await page.screenshot({ path: path.join(out, 'robot.png') });
  });

  await test('robot_page_zooms_to_a_dragged_range', async () => {
    // Dragging across a chart fetches that range again, downsampled by the server.
    const box = await page.locator('.uplot .u-over').first().boundingBox();
    const asked = page.waitForRequest((r) => /\/api\/robots\/\d+\/readings\?.*from=.*to=/.test(r.url()), { timeout: 5000 });
    await page.mouse.move(box.x + box.width * 0.2, box.y + 10);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + 10, { steps: 5 });
    await page.mouse.up();
    const r = await (await asked).response();
    if (r.status() !== 200) throw new Error(`the range request answered ${r.status()}`);
    if (!(await page.inputValue('#from')) || !(await page.inputValue('#to'))) throw new Error('the range is not shown in from/to');
  });

  await test('alerts_acknowledge', async () => {
    await page.goto(url + 'alerts.html');
    const button = page.locator('#feed button[data-id]').first();
    await button.waitFor({ timeout: 5000 });
    const id = await button.getAttribute('data-id');
    await button.click();
    await page.waitForSelector(`#feed tr[data-id="${id}"] td.ack:has-text("acknowledged")`, { timeout: 5000 });
    const n = psql(conninfo, `SELECT count(*) FROM anomaly_ack WHERE anomaly_id = ${id}`).trim();
    if (n !== '1') throw new Error(`episode ${id}: ${n} acknowledgements stored`);
  });

  await test('fleet_orders_by_risk', async () => {
    await page.goto(url);
    await page.waitForFunction(() => document.querySelectorAll('.tile[data-risk]:not([data-risk=""])').length >= 3, null, { timeout: 10000 });
    const tiles = await page.$$eval('.tile', (ts) => ts.map((t) => [Number(t.dataset.robot), t.querySelector('.m').textContent]));
    const ids = tiles.slice(0, 4).map((t) => t[0]);
    if (ids.join() !== [robot + 2, robot + 1, robot, robot + 3].join()) throw new Error(`tiles in order ${ids}`);
    if (!/risk 42 %/.test(tiles[0][1])) throw new Error(`the first tile says '${tiles[0][1]}'`);
    if (await page.inputValue('#order') !== 'risk') throw new Error('the order is not by risk');
    await page.selectOption('#order', 'id');
    await page.waitForFunction((r) => Number(document.querySelector('.tile').dataset.robot) === r, robot, { timeout: 2000 });
  });

  await test('robot_page_draws_the_forecast', async () => {
    await page.goto(`${url}robot.html?id=${robot}`);
    await page.waitForFunction(() => Number(document.body.dataset.forecasts || 0) > 0, null, { timeout: 10000 });
    await page.waitForFunction(() => /failure risk 5 %/.test(document.getElementById('title').textContent), null, { timeout: 5000 });
  });

  await test('models_page_shows_card_chart_versions', async () => {
    await page.goto(url + 'models.html');
    await page.waitForSelector('.card[data-model="pipeline/failure_risk"]', { timeout: 10000 });
    const card = await page.textContent('.card[data-model="pipeline/failure_risk"]');
    if (!/v2/.test(card) || !/logistic/.test(card) || !/forest/.test(card) || !/recall 80\.0 %/.test(card)) throw new Error(`card: ${card}`);
    await page.waitForSelector('#chart[data-runs="2"] .uplot canvas', { timeout: 10000 });
    if (await page.inputValue('#key') !== 'roc_auc') throw new Error('the metric is not roc_auc');
    const rows = await page.$$eval('#versions tr', (rs) => rs.length);
    if (rows !== 4) throw new Error(`${rows - 1} versions shown`);
    await page.screenshot({ path: path.join(out, 'models.png') });
  });

  // The Reports page: the warehouse's hourly fact for the first robot (as the warehouse stage
  // writes it: 3,600 readings, 900 active), the utilisation analysis picked and run for it.
  await test('reports_page_runs_an_analysis', async () => {
    const axes = [1, 2, 3, 4, 5, 6, 7, 8];
    psql(conninfo, `INSERT INTO dw.fact_reading_hour (robot_id, hour, rows, active, ${axes.map((a) => `n${a}, s${a}, q${a}, mn${a}, mx${a}, h${a}`).join(', ')})
      VALUES (${robot}, '2026-01-01 10:00Z', 3600, 900, ${axes.map(() => `900, 900000000, 900000000000000, 0, 1, '{2700,${349 * 4294967296 + 900}}'`).join(', ')})`);
    await page.goto(`${url}reports.html?q=utilisation&robot=${robot}`);
    await page.waitForFunction(() => document.body.dataset.rows === '1', null, { timeout: 10000 });
    const row = await page.textContent('#rows');
    if (!/0\.25/.test(row) || !/0\.75/.test(row)) throw new Error(`row: ${row}`);
    const href = await page.getAttribute('#csv', 'href');
    if (!/format=csv/.test(href) || !new RegExp(`robot=${robot}`).test(href)) throw new Error(`csv link: ${href}`);
    if (!/Reads dw\.fact_reading_hour/.test(await page.textContent('#doc'))) throw new Error('no documentation');
    await page.screenshot({ path: path.join(out, 'reports.png') });
  });

  await test('layout_at_laptop_and_wall_sizes', async () => {
    for (const [p, n] of [['', 'fleet'], [`robot.html?id=${robot}`, 'robot'], ['alerts.html', 'alerts'], ['pipeline.html', 'pipeline'], ['models.html', 'models'], ['reports.html?q=utilisation', 'reports']]) {
      await page.goto(url + p);
      await page.waitForLoadState('load');
      await layout(page, 1366, 768, n);
      await layout(page, 3840, 2160, n);
    }
  });

  await test('no_page_errors', async () => { if (errors.length) throw new Error(errors.join('; ')); });
}

let code = 0;
try { await main(); } catch (e) { console.log(`e2e setup failed: ${e.stack || e}`); results.push(false); }
finally {
  if (browser) await browser.close().catch(() => {});
  for (const c of children) c.kill('SIGTERM');
  if (userDir) rmSync(userDir, { recursive: true, force: true });
  if (!citus) {
    try { psql(admin, `DROP DATABASE IF EXISTS ${dbname} WITH (FORCE)`); } catch (e) { console.log(String(e)); }
  }
}
const passed = results.filter(Boolean).length, failed = results.length - passed;
summary(passed, failed, 0);
code = failed ? 1 : 0;
process.exit(code);
