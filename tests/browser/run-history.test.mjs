// run-history.test.mjs — qx-mock's run-history page, in a real browser.
//
// Starts build/bin/qx-mock with a known history (fixtures/histories/web-page.ndjson,
// an export of web-page-workflows.json), opens GET / in Debian's headless Chromium
// through playwright-core (the DevTools protocol; no browser is downloaded), and
// checks what a person sees: the rows, a Failure row's error, filters, the detail
// view, the journal tab (its filters, its count badge, an entry's request),
// identity search, totals and chart, a run appearing live, keyboard use,
// the Workflows tab with capture event, a what-if report (qx-mock whatif
// --report) loaded from a file, the Alerts tab, and the admin-token prompt. Screenshots
// go to <build>/browser/.
//
// Page quality: axe-core (node_modules/axe-core, injected with addScriptTag:
// the page sends no Content-Security-Policy, so no bypassCSP is needed) runs
// on every view in light and dark, 1280 and 390 px wide, and any violation of
// any impact fails, as do a page wider than its viewport and a control border
// under 3:1 (WCAG 1.4.11, which axe does not check). The address is followed
// through Back and Forward; quiet live polls must be 304s of a few hundred
// bytes that leave the chart as drawn.
//
//   QX_BIN_DIR=build/bin QX_SOURCE_DIR=. node tests/browser/run-history.test.mjs
//
// Waiting: the page marks what it fills in asynchronously with aria-busy (the
// runs panel, the journal panel, the workflows panel, the alerts panel, the detail dialog). Every check on such
// content waits for the region to be ready and retries until STEP_MS has gone
// by (eventually, assertText, waitForCount); nothing is read once and nothing
// waits a fixed time. Each step starts from the same view (Runs tab, filters
// cleared, no dialog open) and closes what it opened in a finally, so one
// failing check fails its own step only.
//
// QX_BROWSER_API_DELAY_MS=N delays each admin-API answer the page receives by
// a seeded random 0..N ms (QX_BROWSER_SEED, default 1): the same checks must
// pass when the server is slow. ci/stress.sh uses it.
//
// Exit status: 0 all passed, 1 a check failed, 77 skipped (no Chromium or no
// node_modules: run ci/browser-deps.sh), which ctest reports as skipped.
import {spawn, spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import assert from 'node:assert/strict';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = process.env.QX_SOURCE_DIR || path.resolve(HERE, '../..');
const BIN_DIR = process.env.QX_BIN_DIR || path.join(SOURCE_DIR, 'build/bin');
const BUILD_DIR = process.env.QX_BUILD_DIR || path.dirname(BIN_DIR);
const CHROMIUM = process.env.QX_CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(BUILD_DIR, 'browser');
const FIXTURES = path.join(SOURCE_DIR, 'fixtures/histories');
const CONFIG = path.join(FIXTURES, 'web-page-workflows.json');
const HISTORY = path.join(FIXTURES, 'web-page.ndjson');
const SKIP = 77;
const STEP_MS = 15000; // a person would give up on a page slower than this
const API_DELAY_MS = Number(process.env.QX_BROWSER_API_DELAY_MS || 0);
const SEED = Number(process.env.QX_BROWSER_SEED || 1);

const USER = 'api-user@example.com';
const API_TOKEN = 'QX-WEB-PAGE-TOKEN-1';
const TOKENS = {
  csat: '6c1b1e2a-2f7e-4d8e-9a51-0f1d2c3b4a50',
  paused: 'a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d',
};
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-quic'];

function skip(why) {
  console.log(`SKIP: ${why}`);
  process.exit(SKIP);
}

// ---- preconditions -------------------------------------------------------

if (!existsSync(CHROMIUM)) {
  skip(`${CHROMIUM} not found — install Debian's chromium and chromium-driver ` +
       '(ci/browser-deps.sh does)');
}
let chromium;
try {
  ({chromium} = await import(path.join(HERE, 'node_modules/playwright-core/index.mjs')));
} catch (e) {
  skip(`playwright-core is not installed in ${HERE}/node_modules — run ci/browser-deps.sh ` +
       `(npm ci) (${e.code || e.message})`);
}
let AXE_SOURCE;
try {
  AXE_SOURCE = readFileSync(path.join(HERE, 'node_modules/axe-core/axe.min.js'), 'utf8');
} catch (e) {
  skip(`axe-core is not installed in ${HERE}/node_modules — run ci/browser-deps.sh (npm ci) ` +
       `(${e.code || e.message})`);
}
for (const f of [path.join(BIN_DIR, 'qx-mock'), CONFIG, HISTORY]) {
  if (!existsSync(f)) {
    console.error(`missing ${f}`);
    process.exit(1);
  }
}

// ---- helpers -------------------------------------------------------------

const cleanups = [];

/* Starts qx-mock; resolves {url, proc} once it prints its listening line. */
function startMock(args, env = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(path.join(BIN_DIR, 'qx-mock'), args,
      {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']});
    cleanups.push(() => new Promise((done) => {
      if (proc.exitCode !== null) return done();
      proc.once('exit', done);
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
    }));
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`qx-mock did not start: ${err}`)), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /qx-mock listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({url: m[1], proc});
      }
    });
    proc.stderr.on('data', (d) => { err += d; });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`qx-mock exited with ${code}: ${err}`));
    });
  });
}

function basicAuth(user, token) {
  return `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
}

async function postEvent(base, token, body, headers = {}) {
  const resp = await fetch(`${base}/inbound-event/v1/events/json/triggers?urlTokenId=${token}`, {
    method: 'POST',
    headers: {'Content-Type': 'application/json', Authorization: basicAuth(USER, API_TOKEN),
      ...headers},
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {status: resp.status, body: await resp.json()};
}

/* A small seeded generator (mulberry32): the same seed, the same delays. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/* Runs fn (a group of assertions) until it passes or timeout ms have gone by,
 * backing off from 20 to 200 ms between tries; the last failure is the one
 * reported. Everything read from content that arrives asynchronously is
 * checked through this, never read once. */
async function eventually(fn, timeout = STEP_MS) {
  const deadline = Date.now() + timeout;
  let pause = 20;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      const left = deadline - Date.now();
      if (left <= 0) throw e;
      await new Promise((r) => setTimeout(r, Math.min(pause, left)));
      pause = Math.min(pause * 2, 200);
    }
  }
}

/* The text a person reads in locator includes text (runs of white space, such
 * as line breaks between a label and its number, count as one space); retried
 * until it does. */
async function assertText(locator, text) {
  await eventually(async () => {
    const got = (await locator.innerText()).replace(/\s+/g, ' ');
    assert.ok(got.includes(text), `expected ${JSON.stringify(text)} in ${JSON.stringify(got)}`);
  });
}

/* locator matches exactly n elements, retried until it does. */
async function waitForCount(locator, n, what = 'elements') {
  await eventually(async () => assert.equal(await locator.count(), n, `number of ${what}`));
}

const results = [];
/* One numbered check. before() (if any) brings the page to the step's
 * starting view first; a failure there fails this step only. */
async function step(name, fn, before = null) {
  const t0 = Date.now();
  try {
    if (before) await before();
    await fn();
    results.push(true);
    console.log(`ok ${results.length} - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push(false);
    console.log(`not ok ${results.length} - ${name}`);
    console.log(`  ${String(e.stack || e).split('\n').join('\n  ')}`);
  }
}

async function newBrowser() {
  // A fresh profile for every run: nothing remembered from an earlier one.
  const profile = mkdtempSync(path.join(tmpdir(), 'qx-browser-'));
  cleanups.push(async () => rmSync(profile, {recursive: true, force: true}));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: {width: 1280, height: 900},
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  cleanups.unshift(() => ctx.close());
  ctx.setDefaultTimeout(STEP_MS);
  if (API_DELAY_MS > 0) {
    const next = seeded(SEED);
    await ctx.route((u) => u.pathname.startsWith('/_qx/v1/'), async (route) => {
      await new Promise((r) => setTimeout(r, Math.floor(next() * API_DELAY_MS)));
      await route.continue();
    });
  }
  return ctx;
}

// ---- what the fixture holds ----------------------------------------------

const configWorkflows = JSON.parse(readFileSync(CONFIG, 'utf8')).workflows;
const fixtureRuns = readFileSync(HISTORY, 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l));
const failures = fixtureRuns.filter((r) => r.status === 'FAILURE');
const byWorkflow = (id) => fixtureRuns.filter((r) => r.workflowId === id);
assert.ok(fixtureRuns.length >= 25 && fixtureRuns.length <= 49,
  'the fixture and the runs the test adds fit one page of 50');
assert.ok(failures.length >= 2, 'the fixture has failures');
assert.ok(!fixtureRuns.some((r) => r.status === 'RUNNING'), 'the fixture has no RUNNING run');
const aFailure = failures[0];
const aSuccess = fixtureRuns.find((r) => r.status === 'SUCCESS' && r.tasks && r.tasks.length > 1);
/* A run's identity values as qx-mock records them for identity= search:
 * the payload's identityMap ids, the event data's email, extRef, externalId. */
function identitiesOf(run) {
  const out = [];
  const im = run.payload && run.payload.identityMap;
  if (im && typeof im === 'object') {
    for (const list of Object.values(im)) {
      if (!Array.isArray(list)) continue;
      for (const e of list) if (e && typeof e.id === 'string' && e.id) out.push(e.id);
    }
  }
  const ed = run.eventData && typeof run.eventData === 'object' ? run.eventData : {};
  for (const k of ['email', 'extRef', 'externalId']) {
    if (typeof ed[k] === 'string' && ed[k]) out.push(ed[k]);
  }
  return out.map((v) => v.toLowerCase());
}
const workflowOfToken = (token) => configWorkflows.find((w) => w.urlTokenId === token).id;

// ---- the test ------------------------------------------------------------

let exitCode = 0;
try {
  mkdirSync(SHOTS, {recursive: true});
  const {url} = await startMock(['--config', CONFIG, '--listen', '127.0.0.1:0',
    '--history', HISTORY, '--seed', '11']);

  // Requests that start no run, for the journal tab.
  const bad = [
    await postEvent(url, '00000000-0000-4000-8000-000000000000', {a: 1}),
    await postEvent(url, TOKENS.csat, {a: 1}, {Authorization: basicAuth(USER, 'WRONG-TOKEN')}),
    await postEvent(url, TOKENS.csat, '{"identityMap": '),
    await postEvent(url, TOKENS.paused, {identityMap: {Email: [{id: 'x@example.com'}]}}),
  ];
  assert.deepEqual(bad.map((b) => b.status), [404, 401, 400, 200]);
  const journal = (await (await fetch(`${url}/_qx/v1/requests`)).json()).requests;
  assert.equal(journal.length, bad.length, 'each bad request is journalled');

  const ctx = await newBrowser();
  const page = ctx.pages()[0] || await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const offsite = [];
  page.on('request', (r) => { if (!r.url().startsWith(url)) offsite.push(r.url()); });

  let storedRuns = fixtureRuns.length; // grows as steps add runs
  const rows = page.locator('#runs tr[data-id]');
  const waitRows = (n) => waitForCount(rows, n, 'run rows');
  /* The region (by id) has rendered what was last asked of it. */
  const ready = (id) => page.locator(`#${id}[aria-busy="false"]`).waitFor({state: 'attached'});

  /* The data-id of the row whose control has the focus (null: none). */
  const focusedRow = () => page.evaluate(() => {
    const tr = document.activeElement && document.activeElement.closest('tr[data-id]');
    return tr ? tr.dataset.id : null;
  });

  /* The detail dialog, open on run id and rendered (not "Loading"). */
  async function detailOf(id) {
    const dlg = page.locator('#detail[open][aria-busy="false"]');
    await dlg.waitFor();
    await assertText(page.locator('#detail-title'), `Run ${id}`);
    return dlg;
  }
  /* Closes the detail dialog if it is open (a step's finally). */
  async function closeDetail() {
    await page.evaluate(() => {
      const dlg = document.getElementById('detail');
      if (dlg.open) dlg.close();
    });
    await page.locator('#detail[open]').waitFor({state: 'detached'});
  }
  /* The view every step starts from: no dialog, the Runs tab, filters and
   * paging cleared, every stored run listed. */
  async function baseView() {
    await closeDetail();
    if (await page.getAttribute('#tab-runs', 'aria-selected') !== 'true') {
      await page.click('#tab-runs');
    }
    await page.click('#filters button[type="reset"]');
    await ready('panel-runs');
    await waitRows(storedRuns);
  }

  await page.goto(url);

  await step('the page lists every run of the history, newest first', async () => {
    assert.equal(await page.title(), 'qx-mock · run history');
    await ready('panel-runs');
    await waitRows(fixtureRuns.length);
    const newest = [...fixtureRuns].sort((a, b) => b.receivedAt.localeCompare(a.receivedAt))[0];
    assert.equal(await rows.first().getAttribute('data-id'), newest.id);
    await assertText(page.locator('#runs-caption'), `${fixtureRuns.length} matching`);
    // Status is text, not colour alone.
    const statuses = await rows.locator('td:nth-child(3)').allInnerTexts();
    for (const s of statuses) assert.match(s, /^(✓|✗|…)?\s*(Success|Failure|Running)$/);
  });

  await step('a Failure row shows its status and error text', async () => {
    const row = page.locator(`#runs tr[data-id="${aFailure.id}"]`);
    await assertText(row.locator('td:nth-child(3)'), 'Failure');
    await eventually(async () => {
      assert.equal((await row.locator('td:nth-child(5)').innerText()).trim(), aFailure.error);
      const identity = aFailure.eventData.email ?? aFailure.eventData.externalId;
      assert.equal((await row.locator('td:nth-child(4)').innerText()).trim(), identity);
    });
    await waitForCount(page.locator('#runs tr[data-status="FAILURE"]'), failures.length,
      'Failure rows');
  }, baseView);

  await step('totals and the runs-per-minute chart cover the history', async () => {
    const success = fixtureRuns.length - failures.length;
    await eventually(async () => {
      const totals = (await page.locator('#totals').innerText()).replace(/\s+/g, ' ');
      assert.match(totals, new RegExp(`Total ${fixtureRuns.length}\\b`));
      assert.match(totals, new RegExp(`Success ${success}\\b`));
      assert.match(totals, new RegExp(`Failure ${failures.length}\\b`));
      assert.match(totals, /Running 0\b/);
      assert.equal(await page.locator('#chart-title').innerText(), 'Runs per minute');
      assert.ok(await page.locator('#chart svg rect.bar-SUCCESS').count() > 5);
      assert.ok(await page.locator('#chart svg rect.bar-FAILURE').count() >= 1);
      const label = await page.locator('#chart svg').getAttribute('aria-label');
      assert.match(label, new RegExp(`${fixtureRuns.length} runs`));
    });
    await page.screenshot({path: path.join(SHOTS, 'run-history-list.png')});
    await page.screenshot({path: path.join(SHOTS, 'run-history-list-full.png'), fullPage: true});
  }, baseView);

  await step('the status filter leaves only Failure rows', async () => {
    await page.selectOption('#f-status', 'FAILURE');
    await ready('panel-runs');
    await waitRows(failures.length);
    await eventually(async () => {
      const texts = await rows.locator('td:nth-child(3)').allInnerTexts();
      assert.ok(texts.every((t) => t.includes('Failure')), `statuses ${texts}`);
    });
    await assertText(page.locator('#totals'), `Total ${failures.length}`);
    assert.match(page.url(), /status=FAILURE/);
  }, baseView);

  await step('the workflow filter narrows further, and Clear filters restores all', async () => {
    const wf = aFailure.workflowId;
    const want = byWorkflow(wf).filter((r) => r.status === 'FAILURE').length;
    assert.ok(want < failures.length, 'the fixture has failures in several workflows');
    await page.selectOption('#f-status', 'FAILURE');
    await page.selectOption('#f-workflow', wf);
    await ready('panel-runs');
    await waitRows(want);
    await page.selectOption('#f-status', '');
    await ready('panel-runs');
    await waitRows(byWorkflow(wf).length);
    await page.click('#filters button[type="reset"]');
    await ready('panel-runs');
    await waitRows(fixtureRuns.length);
  }, baseView);

  await step('the time range filter keeps the runs inside it', async () => {
    // The first ten minutes of the history, in the page's local time (UTC here).
    const t0 = Date.parse(fixtureRuns[0].receivedAt);
    const t1 = t0 + 10 * 60e3;
    const inside = fixtureRuns.filter((r) => Date.parse(r.receivedAt) < t1).length;
    assert.ok(inside < fixtureRuns.length);
    const local = (ms) => new Date(ms).toISOString().slice(0, 19);
    await page.fill('#f-since', local(t0));
    await page.locator('#f-since').dispatchEvent('change');
    await page.fill('#f-until', local(t1));
    await page.locator('#f-until').dispatchEvent('change');
    await ready('panel-runs');
    await waitRows(inside);
    assert.equal(await page.locator('#f-range').inputValue(), 'custom');
  }, baseView);

  await step('the address keeps the view: an edited hash, Back and Forward show it', async () => {
    await page.evaluate(() => { location.hash = '#status=FAILURE'; });
    await ready('panel-runs');
    await waitRows(failures.length);
    assert.equal(await page.locator('#f-status').inputValue(), 'FAILURE');
    await page.click('#tab-requests');
    await ready('panel-requests');
    assert.match(page.url(), /tab=requests/);
    await page.goBack(); // the runs, failures only
    await eventually(async () =>
      assert.equal(await page.getAttribute('#tab-runs', 'aria-selected'), 'true'));
    await ready('panel-runs');
    await waitRows(failures.length);
    await page.goBack(); // before the edit: every run
    await ready('panel-runs');
    await waitRows(storedRuns);
    assert.equal(await page.locator('#f-status').inputValue(), '');
    await page.goForward();
    await ready('panel-runs');
    await waitRows(failures.length);
    assert.equal(await page.locator('#f-status').inputValue(), 'FAILURE');
  }, baseView);

  await step('the chart\'s caption names its bucket in words: "Runs per day", "per 2 days"',
    async () => {
      const t0 = Date.parse(fixtureRuns[0].receivedAt);
      const local = (ms) => new Date(ms).toISOString().slice(0, 19);
      // 300 days in at most 500 bars: a bar is a day; 700 days: two.
      for (const [days, title] of [[300, 'Runs per day'], [700, 'Runs per 2 days']]) {
        await page.fill('#f-since', local(t0 - days * 86400e3));
        await page.locator('#f-since').dispatchEvent('change');
        await page.fill('#f-until', local(t0 + 3600e3));
        await page.locator('#f-until').dispatchEvent('change');
        await ready('panel-runs');
        await eventually(async () => {
          assert.equal(await page.locator('#chart-title').innerText(), title);
          const label = await page.locator('#chart svg').getAttribute('aria-label');
          assert.match(label, new RegExp(`per ${title.slice('Runs per '.length)}\\.$`));
          assert.doesNotMatch(label, /\b1 days\b/);
        });
      }
    }, baseView);

  await step('paging: 25 per page, Older and Newer', async () => {
    await page.selectOption('#f-limit', '25');
    await ready('panel-runs');
    await waitRows(25);
    const firstPage = await rows.evaluateAll((trs) => trs.map((t) => t.dataset.id));
    await page.locator('#runs-older:enabled').click();
    await ready('panel-runs');
    await waitRows(fixtureRuns.length - 25);
    const second = await rows.evaluateAll((trs) => trs.map((t) => t.dataset.id));
    assert.ok(second.every((id) => !firstPage.includes(id)), 'pages do not overlap');
    assert.ok(await page.locator('#runs-older').isDisabled());
    await page.locator('#runs-newer:enabled').click();
    await ready('panel-runs');
    await waitRows(25);
    await eventually(async () =>
      assert.equal(await rows.first().getAttribute('data-id'), firstPage[0]));
  }, baseView);

  await step('the keyboard opens a run with Enter and closes it with Escape', async () => {
    try {
      // Tab from the last filter reaches the runs (one row's button is in the
      // Tab order), a button named by its time and the run it opens.
      await page.focus('#filters button[type="reset"]');
      await page.keyboard.press('Tab');
      assert.equal(await focusedRow(), await rows.first().getAttribute('data-id'));
      const first = await rows.first().getAttribute('data-id');
      await rows.first().getByRole('button', {name: `open run ${first}`}).waitFor();
      await page.keyboard.press('ArrowDown');
      const second = await rows.nth(1).getAttribute('data-id');
      assert.equal(await focusedRow(), second);
      await page.keyboard.press('Enter');
      await detailOf(second);
      await page.keyboard.press('Escape');
      await page.locator('#detail[open]').waitFor({state: 'detached'});
      assert.equal(await focusedRow(), second);
    } finally {
      await closeDetail();
    }
  }, baseView);

  await step('the detail view shows payload, event data, conditions and tasks', async () => {
    try {
      await page.click(`#runs tr[data-id="${aFailure.id}"]`);
      const dlg = await detailOf(aFailure.id);
      await assertText(page.locator('#detail-title'), 'Failure');
      await assertText(dlg.locator('.facts'), aFailure.error);
      const payload = dlg.locator('section.payload');
      const email = aFailure.payload.identityMap.Email[0].id;
      await assertText(payload, '"identityMap"');
      await assertText(payload, JSON.stringify(email));
      // Collapsible: folding the top level hides the identity.
      await payload.getByRole('button', {name: 'Collapse all'}).click();
      await payload.getByText(JSON.stringify(email)).waitFor({state: 'hidden'});
      await payload.getByRole('button', {name: 'Expand all'}).click();
      await payload.getByText(JSON.stringify(email)).waitFor({state: 'visible'});
      // Each condition with its outcome, each task with status and error.
      const condRows = dlg.locator('table:has(caption:text("Each condition")) tbody tr');
      await waitForCount(condRows, aFailure.conditions.length, 'condition rows');
      for (let i = 0; i < aFailure.conditions.length; i++) {
        await assertText(condRows.nth(i), aFailure.conditions[i].met ? 'Met' : 'Not met');
      }
      const taskRows = dlg.locator('table:has(caption:text("Tasks in the order")) tbody tr');
      await waitForCount(taskRows, aFailure.tasks.length, 'task rows');
      for (let i = 0; i < aFailure.tasks.length; i++) {
        const t = aFailure.tasks[i];
        await assertText(taskRows.nth(i), {SUCCESS: 'Success', FAILURE: 'Failure',
          SKIPPED: 'Skipped'}[t.status]);
        if (t.error) await assertText(taskRows.nth(i), t.error);
      }
      await assertText(dlg, 'Timing');
      await page.screenshot({path: path.join(SHOTS, 'run-history-detail.png')});
      await page.locator('#detail section.payload').scrollIntoViewIfNeeded();
      await page.screenshot({path: path.join(SHOTS, 'run-history-detail-payload.png')});
    } finally {
      await closeDetail();
    }
  }, baseView);

  await step('a successful run\'s detail lists its event data', async () => {
    try {
      await page.click(`#runs tr[data-id="${aSuccess.id}"]`);
      const dlg = await detailOf(aSuccess.id);
      const fields = dlg.locator('table:has(caption:text("Fields captured")) tbody tr');
      await waitForCount(fields, Object.keys(aSuccess.eventData).length, 'event data rows');
      for (const [k, v] of Object.entries(aSuccess.eventData)) {
        const row = fields.filter({has: page.locator('th', {hasText: k})});
        await assertText(row, typeof v === 'string' ? v : JSON.stringify(v));
      }
      await page.keyboard.press('Escape');
      await page.locator('#detail[open]').waitFor({state: 'detached'});
    } finally {
      await closeDetail();
    }
  }, baseView);

  await step('identity search on the runs tab finds runs by any part of an email or id', async () => {
    // Part of the first email of the fixture, in another case.
    const email = fixtureRuns.flatMap(identitiesOf).find((v) => v.includes('@'));
    const needle = email.slice(0, email.indexOf('@') + 1).toUpperCase();
    const expected = fixtureRuns.filter((r) =>
      identitiesOf(r).some((v) => v.includes(needle.toLowerCase())));
    assert.ok(expected.length >= 1 && expected.length < fixtureRuns.length,
      `"${needle}" narrows the fixture`);
    await page.fill('#f-identity', needle);
    await page.press('#f-identity', 'Enter');
    await ready('panel-runs');
    await waitRows(expected.length);
    await eventually(async () => {
      const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
      assert.deepEqual(ids.sort(), expected.map((r) => r.id).sort());
    });
    await assertText(page.locator('#runs-caption'), `${expected.length} matching`);
    assert.match(page.url(), /identity=/);
    await page.fill('#f-identity', 'no-such-person-anywhere');
    await page.press('#f-identity', 'Enter');
    await ready('panel-runs');
    await waitRows(0);
    await assertText(page.locator('#runs'), 'No runs match these filters.');
  }, baseView);

  await step('the journal tab shows why requests started no run', async () => {
    await page.click('#tab-requests');
    await ready('panel-requests');
    const jrows = page.locator('#requests tr[data-id]');
    await waitForCount(jrows, journal.length, 'journal rows');
    await eventually(async () => {
      const shown = (await jrows.locator('td.reason').allInnerTexts()).map((s) => s.trim());
      assert.deepEqual(shown, journal.map((j) => j.reason).reverse(), 'newest first');
      assert.ok(shown.some((r) => /disabled/.test(r)), 'a disabled workflow is explained');
      const statuses = await jrows.locator('td:nth-child(4)').allInnerTexts();
      assert.deepEqual(statuses.map(Number), [200, 400, 401, 404]);
    });
    await assertText(page.locator('#requests-caption'),
      `newest first — ${journal.length} entries matching`);
    await page.screenshot({path: path.join(SHOTS, 'run-history-journal.png')});
    await page.click('#tab-runs');
    await ready('panel-runs');
    await waitRows(storedRuns);
  }, baseView);

  await step('the alerts tab lists what senders posted, newest first', async () => {
    const post = async (alert) => {
      const r = await fetch(`${url}/_qx/v1/alerts`, {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify(alert)});
      assert.equal(r.status, 201);
    };
    const alert = {type: 'activationSkippedRateExceeded', scope: 'run', destination: 'CSAT e2e',
      rate: 50, threshold: 1, activations: 6, skipped: 3,
      skippedReasons: {noMappedIdentity: 0, hashedEmailOnly: 0, consentDenied: 3}};
    await post(alert);
    await post({...alert, scope: 'window', destination: 'Onboarding', rate: 2.5,
      activations: 10000, skipped: 250,
      skippedReasons: {noMappedIdentity: 200, hashedEmailOnly: 50, consentDenied: 0}});
    try {
      await page.click('#tab-alerts');
      await ready('panel-alerts');
      const arows = page.locator('#alerts tr[data-id]');
      await waitForCount(arows, 2, 'alert rows');
      await eventually(async () => {
        const first = await arows.first().innerText();
        assert.match(first, /Onboarding/);
        assert.match(first, /250 of 10,000/);
        assert.match(first, /noMappedIdentity 200, hashedEmailOnly 50/);
        const second = await arows.nth(1).innerText();
        assert.match(second, /Activation skipped rate exceeded \(run\)/);
        assert.match(second, /50 % \(threshold 1 %\)/);
        assert.match(second, /consentDenied 3/);
      });
      await page.screenshot({path: path.join(SHOTS, 'run-history-alerts.png')});
    } finally {
      await fetch(`${url}/_qx/v1/alerts`, {method: 'DELETE'});
    }
  }, baseView);

  /* The journal tab with its filters cleared, every entry listed. */
  async function journalTab() {
    if (await page.getAttribute('#tab-requests', 'aria-selected') !== 'true') {
      await page.click('#tab-requests');
    }
    await page.click('#jfilters button[type="reset"]');
    await ready('panel-requests');
    await waitForCount(page.locator('#requests tr[data-id]'), journal.length, 'journal rows');
  }

  await step('the journal tab\'s badge counts the requests that started no run, live', async () => {
    const count = page.locator('#requests-count');
    await assertText(count, String(journal.length));
    // A new refusal shows on the badge while the Runs tab is open.
    const resp = await postEvent(url, '00000000-0000-4000-8000-00000000beef', {b: 2});
    assert.equal(resp.status, 404);
    journal.push({reason: resp.body.meta.error.errorMessage, status: 404});
    await assertText(count, String(journal.length));
    assert.equal(await page.getAttribute('#tab-runs', 'aria-selected'), 'true');
  }, baseView);

  await step('journal filters: status, reason and workflow, with the total', async () => {
    const jrows = page.locator('#requests tr[data-id]');
    const caption = page.locator('#requests-caption');
    await page.selectOption('#j-status', '401');
    await ready('panel-requests');
    await waitForCount(jrows, 1, 'journal rows with status 401');
    await assertText(jrows.first().locator('td:nth-child(4)'), '401');
    await assertText(caption, '— 1 entry matching');
    await page.selectOption('#j-status', '404');
    await ready('panel-requests');
    await waitForCount(jrows, 2, 'journal rows with status 404');
    await assertText(caption, '— 2 entries matching');
    await page.click('#jfilters button[type="reset"]');
    await ready('panel-requests');
    await waitForCount(jrows, journal.length, 'journal rows');
    await page.fill('#j-reason', 'DISABLED');
    await page.press('#j-reason', 'Enter');
    await ready('panel-requests');
    await waitForCount(jrows, 1, 'journal rows whose reason says disabled');
    await assertText(jrows.first().locator('td.reason'), 'disabled');
    await page.click('#jfilters button[type="reset"]');
    await ready('panel-requests');
    await page.selectOption('#j-workflow', workflowOfToken(TOKENS.csat));
    await ready('panel-requests');
    // The wrong token and the invalid JSON went to that workflow.
    await waitForCount(jrows, 2, 'journal rows of one workflow');
    await eventually(async () => {
      const statuses = await jrows.locator('td:nth-child(4)').allInnerTexts();
      assert.deepEqual(statuses.map(Number), [400, 401]);
    });
    assert.match(page.url(), /jworkflow=/);
    await page.screenshot({path: path.join(SHOTS, 'run-history-journal-filtered.png')});
  }, async () => { await baseView(); await journalTab(); });

  await step('a journal entry opens with its request line, headers and body', async () => {
    try {
      const row = page.locator('#requests tr[data-id]').filter({hasText: '401'});
      await waitForCount(row, 1, 'the 401 row');
      const id = await row.getAttribute('data-id');
      await row.getByRole('button', {name: `open request ${id}`}).focus();
      await page.keyboard.press('Enter');
      const dlg = page.locator('#detail[open][aria-busy="false"]');
      await dlg.waitFor();
      await assertText(page.locator('#detail-title'), `Request ${id}`);
      await assertText(page.locator('#detail-title'), 'HTTP 401');
      await assertText(dlg.locator('pre.request-line'),
        `POST /inbound-event/v1/events/json/triggers?urlTokenId=${TOKENS.csat}`);
      const headers = dlg.locator('table.headers tbody tr');
      await eventually(async () => {
        const names = (await headers.locator('th').allInnerTexts()).map((h) => h.toLowerCase());
        assert.ok(names.includes('content-type'), `headers: ${names}`);
        assert.ok(!names.includes('authorization'), 'credentials are never shown');
      });
      await assertText(dlg.locator('pre.body'), '{"a":1}');
      await page.screenshot({path: path.join(SHOTS, 'run-history-journal-entry.png')});
      await page.keyboard.press('Escape');
      await page.locator('#detail[open]').waitFor({state: 'detached'});
      assert.equal(await focusedRow(), id);
    } finally {
      await closeDetail();
    }
  }, async () => { await baseView(); await journalTab(); });

  await step('a run posted while the page is open appears without a reload', async () => {
    await page.evaluate(() => { window.qxNoReload = true; });
    const email = `live-${Date.now()}@example.com`;
    const resp = await postEvent(url, TOKENS.csat,
      {person: {name: {firstName: 'Live'}}, identityMap: {Email: [{id: email}]}});
    assert.equal(resp.status, 200);
    storedRuns++;
    const runId = resp.body.result.runId;
    const row = page.locator(`#runs tr[data-id="${runId}"]`);
    await row.waitFor(); // the page's own polling brings it
    await waitRows(storedRuns);
    await eventually(async () => {
      assert.equal(await rows.first().getAttribute('data-id'), runId, 'newest first');
      assert.equal((await row.locator('td:nth-child(4)').innerText()).trim(), email);
    });
    await assertText(row.locator('td:nth-child(3)'), 'Success');
    assert.equal(await page.evaluate(() => window.qxNoReload), true, 'the page was not reloaded');
    await assertText(page.locator('#totals'), `Total ${storedRuns}`);
  }, baseView);

  await step('a live poll that finds nothing new costs a few hundred bytes and redraws nothing',
    async () => {
      // Each admin-API answer the page got: the bytes of its status line and
      // headers as received, and of its body as sent (Content-Length). (A
      // 304's request is reported as aborted, not finished: the page never
      // reads its empty body, so answers are counted as they arrive.)
      const seen = [];
      const onDone = async (resp) => {
        if (!new URL(resp.url()).pathname.startsWith('/_qx/v1/')) return;
        const headers = await resp.headersArray();
        const head = headers.reduce((a, h) => a + h.name.length + h.value.length + 4, 20);
        const length = headers.find((h) => h.name.toLowerCase() === 'content-length');
        seen.push({url: resp.url(), status: resp.status(),
          bytes: head + Number(length ? length.value : 0),
          encoding: (await resp.allHeaders())['content-encoding'] || ''});
      };
      const isList = (s) => new URL(s.url).pathname === '/_qx/v1/runs';
      page.on('response', onDone);
      try {
        // Something new: the next poll brings it, as summaries, compressed.
        const resp = await postEvent(url, TOKENS.csat,
          {identityMap: {Email: [{id: `quiet-${Date.now()}@example.com`}]}});
        assert.equal(resp.status, 200);
        storedRuns++;
        await waitRows(storedRuns);
        await eventually(async () => assert.ok(seen.some((s) => isList(s) && s.status === 200)));
        const fresh = seen.find((s) => isList(s) && s.status === 200);
        assert.match(fresh.url, /fields=summary/);
        assert.equal(fresh.encoding, 'gzip');
        // The poll after it finds nothing new: quiet from there on.
        const after = seen.indexOf(fresh);
        await eventually(async () =>
          assert.ok(seen.slice(after).some((s) => isList(s) && s.status === 304)));
        await page.evaluate(() => { window.qxChart = document.querySelector('#chart svg'); });
        const from = seen.length;
        await eventually(async () => {
          const polls = seen.slice(from).filter(isList).length;
          assert.ok(polls >= 3, `${polls} polls of the list so far`);
        }, 4 * STEP_MS);
        const quiet = seen.slice(from);
        for (const s of quiet) assert.equal(s.status, 304, `${s.url} answered ${s.status}`);
        const polls = quiet.filter(isList).length;
        const perPoll = quiet.reduce((a, s) => a + s.bytes, 0) / polls;
        assert.ok(perPoll < 1500, `${Math.round(perPoll)} bytes a poll`);
        assert.equal(await page.evaluate(() =>
          document.querySelector('#chart svg') === window.qxChart), true,
        'the chart was not drawn again');
        console.log(`  # ${polls} quiet polls, ${Math.round(perPoll)} bytes each ` +
          `(${quiet.length} requests)`);
      } finally {
        page.off('response', onDone);
      }
    }, baseView);

  await step('the page has an icon, and /favicon.ico is no 404', async () => {
    assert.match(await page.getAttribute('link[rel="icon"]', 'href'), /^data:image\/svg\+xml,/);
    const r = await fetch(`${url}/favicon.ico`);
    assert.equal(r.status, 204);
  });

  await step('a run marked as a duplicate links to the run it repeats', async () => {
    // qx-mock marks a run whose payload repeats an earlier one with
    // duplicateOf; an imported history keeps the mark.
    const dup = {...aSuccess, id: 'RUN_duplicate_test', duplicateOf: aSuccess.id,
      requestId: '00000000-0000-4000-8000-00000000d0d0',
      receivedAt: new Date(Date.now() - 1000).toISOString(),
      finishedAt: new Date(Date.now() - 990).toISOString()};
    const resp = await fetch(`${url}/_qx/v1/import`, {method: 'POST',
      headers: {'Content-Type': 'application/x-ndjson'}, body: `${JSON.stringify(dup)}\n`});
    assert.equal(resp.status, 200, await resp.text());
    storedRuns++;
    try {
      const row = page.locator('#runs tr[data-id="RUN_duplicate_test"]');
      await row.waitFor();
      await assertText(row, 'duplicate');
      await row.click();
      const dlg = await detailOf('RUN_duplicate_test');
      await assertText(dlg.locator('.facts'), `Duplicate of ${aSuccess.id}`);
      await dlg.getByRole('button', {name: aSuccess.id}).click();
      await detailOf(aSuccess.id);
      await page.keyboard.press('Escape');
      await page.locator('#detail[open]').waitFor({state: 'detached'});
    } finally {
      await closeDetail();
    }
  }, baseView);

  /* The Workflows tab, rendered. */
  async function workflowsTab() {
    await page.click('#tab-workflows');
    await ready('panel-workflows');
    await waitForCount(page.locator('#workflows tr[data-id]'), configWorkflows.length,
      'workflow rows');
  }

  await step('the Workflows tab lists each workflow with its JSON event URL', async () => {
    await workflowsTab();
    for (const wf of configWorkflows) {
      const row = page.locator(`#workflows tr[data-id="${wf.id}"]`);
      await eventually(async () => {
        const cells = (await row.locator('td').allInnerTexts()).map((s) => s.trim());
        assert.equal(cells[0], wf.id);
        assert.equal(cells[1], wf.name || wf.id);
        assert.equal(cells[2], wf.enabled === false ? 'No' : 'Yes');
        assert.equal(cells[3], wf.authRequired === false ? 'No' : 'Yes');
        assert.equal(cells[4],
          `${url}/inbound-event/v1/events/json/triggers?urlTokenId=${wf.urlTokenId}`);
      });
      await row.getByRole('button', {name: 'Capture a sample'}).waitFor();
    }
    assert.match(page.url(), /tab=workflows/);
  }, baseView);

  await step('Capture a sample waits for one request and lists its fields', async () => {
    await workflowsTab();
    const row = page.locator(`#workflows tr[data-id="WF_csat_purchase"]`);
    await row.getByRole('button', {name: 'Capture a sample'}).click();
    await ready('panel-workflows');
    await assertText(row, 'Waiting for a sample');
    const email = `capture-${Date.now()}@example.com`;
    const resp = await postEvent(url, TOKENS.csat,
      {person: {name: {'first name': 'Cap'}}, identityMap: {Email: [{id: email}]}});
    assert.equal(resp.status, 200);
    assert.deepEqual(resp.body.result, {captured: true, workflowId: 'WF_csat_purchase'});
    journal.push({reason: 'captured as sample'}); // no run: storedRuns stays
    // The page's own polling brings the sample.
    const fields = page.locator('section.capture[data-id="WF_csat_purchase"] tbody tr');
    await waitForCount(fields, 2, 'captured fields');
    await eventually(async () => {
      const cells = await fields.evaluateAll((trs) => trs.map((tr) =>
        [...tr.children].map((c) => c.textContent.trim())));
      assert.deepEqual(cells, [["$.person.name['first name']", 'Cap', 'string'],
        ['$.identityMap.Email[0].id', email, 'string']]);
    });
    await assertText(row, 'Sample captured');
    await page.screenshot({path: path.join(SHOTS, 'run-history-workflows.png')});
  }, baseView);

  await step('a what-if report shows each changed run, recorded and replayed side by side',
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'qx-whatif-'));
      cleanups.push(async () => rmSync(dir, {recursive: true, force: true}));
      const report = path.join(dir, 'whatif.json');
      const whatif = path.join(SOURCE_DIR, 'fixtures/whatif');
      const run = spawnSync(path.join(BIN_DIR, 'qx-mock'), ['whatif',
        '--history', path.join(whatif, 'history.ndjson'),
        '--config', path.join(whatif, 'changes/jsonpath-typo.json'), '--report', report],
      {encoding: 'utf8'});
      assert.equal(run.status, 1, `qx-mock whatif: ${run.stderr}`);
      const changed = JSON.parse(readFileSync(report, 'utf8')).entries
        .filter((e) => e.verdict === 'changed');
      assert.equal(changed.length, 3);

      await page.click('#tab-whatif');
      await page.setInputFiles('#whatif-file', report);
      await ready('panel-whatif');
      await assertText(page.locator('#whatif-summary'), '9 unchanged, 3 changed');
      const sections = page.locator('#whatif-runs section.whatif-entry');
      await waitForCount(sections, 3, 'changed runs');
      const first = page.locator(`#whatif-runs section[data-id="${changed[0].id}"]`);
      await assertText(first.locator('h2'), `CHANGED ${changed[0].id} (WF_csat_email)`);
      const email = first.locator('tr', {has: page.locator('th', {hasText: 'eventData.email'})});
      await eventually(async () => {
        assert.deepEqual((await email.locator('td').allInnerTexts()).map((t) => t.trim()),
          [changed[0].recorded.eventData.email, 'null']);
        assert.equal(await email.getAttribute('class'), 'differs');
        const same = first.locator('tr',
          {has: page.locator('th', {hasText: 'eventData.touchpoint'})});
        assert.equal(await same.getAttribute('class'), null);
      });
      await page.screenshot({path: path.join(SHOTS, 'run-history-whatif.png')});
      await page.click('#tab-runs');
      await ready('panel-runs');
      await waitRows(storedRuns);
    }, baseView);

  /* A what-if report of the fixture (qx-mock whatif --report), made once. */
  let whatifReportPath = null;
  function whatifReport() {
    if (whatifReportPath) return whatifReportPath;
    const dir = mkdtempSync(path.join(tmpdir(), 'qx-whatif-'));
    cleanups.push(async () => rmSync(dir, {recursive: true, force: true}));
    const report = path.join(dir, 'whatif.json');
    const whatif = path.join(SOURCE_DIR, 'fixtures/whatif');
    const run = spawnSync(path.join(BIN_DIR, 'qx-mock'), ['whatif',
      '--history', path.join(whatif, 'history.ndjson'),
      '--config', path.join(whatif, 'changes/jsonpath-typo.json'), '--report', report],
    {encoding: 'utf8'});
    assert.equal(run.status, 1, `qx-mock whatif: ${run.stderr}`);
    whatifReportPath = report;
    return report;
  }

  /* axe-core's violations on the page as it is now, every impact level,
   * one line each: where, rule id, impact, the target selectors. The page
   * sends no Content-Security-Policy, so axe goes in as an ordinary script
   * (addScriptTag with the file's text; no bypassCSP needed). */
  async function axeViolations(where) {
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
      await page.addScriptTag({content: AXE_SOURCE});
    }
    const found = await page.evaluate(async () => {
      const r = await window.axe.run(document, {resultTypes: ['violations']});
      return r.violations.map((v) => ({id: v.id, impact: v.impact,
        targets: v.nodes.map((n) => n.target.join(' ')), help: v.help}));
    });
    return found.map((v) => `${where}: ${v.id} (${v.impact}) ${v.help} — ` +
      v.targets.slice(0, 6).join(', ') + (v.targets.length > 6 ? ` and ${v.targets.length - 6} more` : ''));
  }

  /* Controls whose border is under 3:1 against what is behind them (WCAG
   * 1.4.11: axe-core does not check non-text contrast). Checkboxes and
   * radios are drawn by the browser; disabled controls are exempt. */
  async function weakControlBorders(where) {
    const weak = await page.evaluate(() => {
      const rgba = (c) => (c.match(/[\d.]+/g) || []).map(Number);
      const lum = (c) => {
        const f = (v) => {
          const x = v / 255;
          return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
      };
      const ratio = (a, b) => {
        const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
        return (hi + 0.05) / (lo + 0.05);
      };
      const behind = (node) => {
        for (let n = node.parentElement; n; n = n.parentElement) {
          const c = rgba(getComputedStyle(n).backgroundColor);
          if (c.length === 3 || c[3] > 0) return c;
        }
        return [255, 255, 255];
      };
      const out = new Set();
      const controls = document.querySelectorAll('button, select, ' +
        'input:not([type="checkbox"]):not([type="radio"])');
      for (const c of controls) {
        const st = getComputedStyle(c);
        if (c.disabled || !c.checkVisibility() || st.borderTopStyle === 'none' ||
            parseFloat(st.borderTopWidth) === 0) continue;
        const border = rgba(st.borderTopColor);
        if (border.length === 4 && border[3] === 0) continue; // no border shown
        const r = ratio(border, behind(c));
        if (r < 3) out.add(`${c.id ? `#${c.id}` : c.tagName.toLowerCase()} ${r.toFixed(2)}:1`);
      }
      return [...out];
    });
    return weak.length ? [`${where}: control borders under 3:1: ${weak.join(', ')}`] : [];
  }

  /* Whether the page scrolls sideways (a table wider than a phone). */
  async function sidewaysScroll(where) {
    const [doc, view] = await page.evaluate(() =>
      [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    return doc > view ? [`${where}: the page is ${doc} px wide in a ${view} px viewport`] : [];
  }

  /* The views a person can reach, each brought up from the base view and
   * rendered: [name, show]. */
  const AUDITED_VIEWS = [
    ['runs', async () => {}],
    ['a run\'s detail', async () => {
      await rows.filter({hasText: 'Failure'}).first().click();
      await page.locator('#detail[open][aria-busy="false"]').waitFor();
      await assertText(page.locator('#detail-title'), 'Run ');
    }],
    ['filtered runs', async () => {
      await page.selectOption('#f-status', 'FAILURE');
      await ready('panel-runs');
      await waitRows(failures.length);
    }],
    ['the journal', async () => { await journalTab(); }],
    ['a journal entry\'s detail', async () => {
      await journalTab();
      await page.locator('#requests tr[data-id]').first().click();
      await page.locator('#detail[open][aria-busy="false"]').waitFor();
      await assertText(page.locator('#detail-title'), 'Request ');
    }],
    ['the Workflows tab', async () => { await workflowsTab(); }],
    ['the What-if tab', async () => {
      await page.click('#tab-whatif');
      await page.setInputFiles('#whatif-file', whatifReport());
      await ready('panel-whatif');
      await waitForCount(page.locator('#whatif-runs section.whatif-entry'), 3, 'changed runs');
    }],
    ['the Alerts tab', async () => {
      await page.click('#tab-alerts');
      await ready('panel-alerts');
      await waitForCount(page.locator('#alerts tr[data-id]'), 1, 'alert rows');
    }],
  ];

  for (const [scheme, width] of [['light', 1280], ['dark', 1280], ['light', 390], ['dark', 390]]) {
    await step(`axe-core finds no violation on any view (${scheme}, ${width} px wide)`, async () => {
      const found = [];
      const alert = await fetch(`${url}/_qx/v1/alerts`, {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({type: 'activationSkippedRateExceeded', scope: 'run',
          destination: 'Audit', rate: 50, threshold: 1, activations: 2, skipped: 1,
          skippedReasons: {consentDenied: 1}})});
      assert.equal(alert.status, 201);
      await page.emulateMedia({colorScheme: scheme, reducedMotion: 'reduce'});
      await page.setViewportSize({width, height: 900});
      try {
        for (const [name, show] of AUDITED_VIEWS) {
          await baseView();
          await show();
          const where = `${name} (${scheme}, ${width} px)`;
          found.push(...await axeViolations(where), ...await sidewaysScroll(where),
            ...await weakControlBorders(where));
          if (name.endsWith('detail')) {
            const dialogWide = await page.evaluate(() => {
              const d = document.getElementById('detail');
              return [...d.querySelectorAll('table')].filter((t) => {
                const box = t.parentElement;
                return t.getBoundingClientRect().right > d.getBoundingClientRect().right + 1 &&
                  getComputedStyle(box).overflowX === 'visible';
              }).length;
            });
            if (dialogWide) found.push(`${where}: ${dialogWide} table(s) clipped by the dialog`);
          }
          await page.screenshot({path: path.join(SHOTS,
            `audit-${name.replace(/\W+/g, '-')}-${scheme}-${width}.png`)});
        }
      } finally {
        await closeDetail();
        await page.setViewportSize({width: 1280, height: 900});
        await page.emulateMedia({colorScheme: null, reducedMotion: null});
        await fetch(`${url}/_qx/v1/alerts`, {method: 'DELETE'});
      }
      assert.deepEqual(found, [], `violations:\n${found.join('\n')}`);
    }, baseView);
  }

  await step('the page loads nothing from outside and raises no script error', async () => {
    assert.deepEqual(offsite, []);
    assert.deepEqual(pageErrors, []);
  });

  // With --admin-token-env the API wants a token: the page asks for it.
  await step('with an admin token the page asks for it, then shows the runs', async () => {
    const secret = 'web-page-admin-secret';
    const guarded = await startMock(['--config', CONFIG, '--listen', '127.0.0.1:0',
      '--history', HISTORY, '--admin-token-env', 'QX_TEST_ADMIN_TOKEN'],
    {QX_TEST_ADMIN_TOKEN: secret});
    const p2 = await ctx.newPage();
    try {
      await p2.goto(guarded.url);
      await p2.locator('#token-dialog[open]').waitFor();
      await p2.fill('#token-input', 'wrong');
      await p2.click('#token-dialog button[value="ok"]');
      await assertText(p2.locator('#token-message'), 'refused');
      await p2.locator('#token-dialog[open]').waitFor();
      await p2.fill('#token-input', secret);
      await p2.click('#token-dialog button[value="ok"]');
      await p2.locator('#panel-runs[aria-busy="false"]').waitFor();
      await waitForCount(p2.locator('#runs tr[data-id]'), fixtureRuns.length, 'run rows');
      assert.equal(await p2.evaluate(() => sessionStorage.getItem('qx-mock.adminToken')),
        secret);
    } finally {
      await p2.close();
    }
  });
  // refusedJournalPerMinute: refusals past it fold into a summary entry; the
  // badge counts the requests, the table the entries.
  await step('the badge counts summarised refusals, and the journal says how many', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qx-summary-'));
    cleanups.push(async () => rmSync(dir, {recursive: true, force: true}));
    const cfg = {...JSON.parse(readFileSync(CONFIG, 'utf8')), refusedJournalPerMinute: 1};
    const cfgPath = path.join(dir, 'config.json');
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const folded = await startMock(['--config', cfgPath, '--listen', '127.0.0.1:0']);
    for (let i = 0; i < 4; i++) {
      const r = await postEvent(folded.url, '00000000-0000-4000-8000-0000000f01d0', {i});
      assert.equal(r.status, 404);
    }
    const api = await (await fetch(`${folded.url}/_qx/v1/requests`)).json();
    assert.equal(api.totalRequests, 4);
    const p4 = await ctx.newPage();
    try {
      await p4.goto(`${folded.url}/#tab=requests`);
      await p4.locator('#panel-requests[aria-busy="false"]').waitFor();
      await assertText(p4.locator('#requests-count'), '4');
      await waitForCount(p4.locator('#requests tr[data-id]'), api.total, 'journal entries');
      await assertText(p4.locator('#requests-caption'), '(4 requests, summaries counted)');
      if (api.total === 2) await assertText(p4.locator('#requests'), '×3'); // within a minute
    } finally {
      await p4.close();
    }
  });
  // historyRetentionDays: a run past it is evicted, and the totals say so.
  await step('runs past historyRetentionDays are gone and counted as evicted', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qx-retention-'));
    cleanups.push(async () => rmSync(dir, {recursive: true, force: true}));
    const cfg = {...JSON.parse(readFileSync(CONFIG, 'utf8')), historyRetentionDays: 0.00002};
    const cfgPath = path.join(dir, 'config.json'); // about 1.7 s of history
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const short = await startMock(['--config', cfgPath, '--listen', '127.0.0.1:0']);
    const resp = await postEvent(short.url, TOKENS.csat,
      {identityMap: {Email: [{id: 'gone@example.com'}]}});
    assert.equal(resp.status, 200);
    const runId = resp.body.result.runId;
    // The scheduler's sweep evicts it: its id then answers 410.
    await eventually(async () => {
      const r = await fetch(`${short.url}/_qx/v1/runs/${runId}`);
      assert.equal(r.status, 410);
    }, 30000);
    const p3 = await ctx.newPage();
    try {
      await p3.goto(short.url);
      await p3.locator('#panel-runs[aria-busy="false"]').waitFor();
      await assertText(p3.locator('#totals'), 'Evicted 1');
      await waitForCount(p3.locator('#runs tr[data-id]'), 0, 'run rows');
    } finally {
      await p3.close();
    }
  });

} catch (e) {
  console.log(`not ok - setup: ${e.stack || e}`);
  exitCode = 1;
} finally {
  for (const c of cleanups) {
    try {
      await c();
    } catch (e) {
      // already gone
    }
  }
}

const passed = results.filter(Boolean).length;
const failed = results.length - passed;
console.log(`screenshots: ${SHOTS}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || exitCode ? 1 : 0);
