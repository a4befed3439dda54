/*
 * app.js — the run-history page of qx-mock. Plain JavaScript, no dependency.
 *
 * The page keeps no history of its own: each view is one small request to
 * the admin API, so it stays fast however many runs are stored (the server
 * filters, pages and counts; the browser never loads everything):
 *
 *   list of runs     GET /_qx/v1/runs?fields=summary&order=desc&limit=N
 *                    [&cursor=C]+filters[&identity=] (summaries: no payload,
 *                    conditions or tasks); paging keeps the stack of cursors
 *                    visited, so "Newer" goes back exactly;
 *   totals, chart    GET /_qx/v1/stats?bucketMs=60000+filters (GROUP BY in
 *                    SQLite; not narrowed by identity, which /stats lacks);
 *   one run          GET /_qx/v1/runs/{id};
 *   journal          GET /_qx/v1/requests?order=desc[&cursor=C]+filters
 *                    (httpStatus, reason, workflowId), with its totals;
 *   journal count    GET /_qx/v1/requests?limit=1: the tab's badge, on every
 *                    refresh of any view (totalRequests, summaries counted);
 *   one request      GET /_qx/v1/requests/{id}, in the run's dialog;
 *   workflows        GET /_qx/v1/workflows and, for each, GET .../{id}/capture;
 *                    "Capture a sample" is POST /_qx/v1/workflows/{id}/capture;
 *   what-if report   a file the person picks (`qx-mock whatif --report`), read
 *                    with File.text(): nothing is fetched or sent.
 *   alerts           GET /_qx/v1/alerts (newest first; what senders posted).
 *
 * While "Live updates" is on, the visible view is fetched again every
 * POLL_MS, so runs appear while a sender streams. A poll that finds nothing
 * new costs little: every GET sends the ETag of its last answer
 * (If-None-Match), qx-mock answers 304 with no body when the answer is the
 * same, and the page then keeps what it shows (the list, the chart) as it is.
 * Bodies come gzip-compressed.
 *
 * The view is kept in the address (#tab=requests&status=FAILURE...): each
 * change of tab or filter is an entry of the browser's history, and Back,
 * Forward or an edited address bring that view back (hashchange). When qx-mock was started
 * with --admin-token-env the API answers 401: the page then asks for the
 * token, keeps it in sessionStorage and retries with "Authorization: Bearer".
 *
 * Whatever is filled in asynchronously says when it is ready: the runs panel,
 * the journal panel, the workflows panel, the alerts panel and the detail dialog carry
 * aria-busy="true" from the moment a person asks for new content (a filter, a page, a tab, a
 * run or a journal entry) until
 * that content is rendered or its error shown. Assistive technology waits on
 * it, and so do the browser tests. Background polls that find nothing new do
 * not mark anything busy.
 *
 * Everything from the server is put in the page as text (textContent), never
 * as markup.
 */
'use strict';
(function () {
  const API = '/_qx/v1';
  const POLL_MS = 2000;
  const HIDDEN_POLL_MS = 10000;
  const CHART_BUCKET_MS = 60000;
  const TOKEN_KEY = 'qx-mock.adminToken';
  const STATUSES = ['SUCCESS', 'FAILURE', 'RUNNING'];
  const STATUS_TEXT = {SUCCESS: 'Success', FAILURE: 'Failure', RUNNING: 'Running',
    SKIPPED: 'Skipped'};
  const STATUS_MARK = {SUCCESS: '✓', FAILURE: '✗', RUNNING: '…', SKIPPED: '–'};
  const RANGE_MS = {'15m': 15 * 60e3, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3};
  const JSON_OPEN_DEPTH = 6; /* payload levels shown unfolded */

  const $ = (id) => document.getElementById(id);

  /* el('td', {class: 'x', title: 'y'}, 'text', node, null) — children may be
   * strings (text), nodes, or null/false (skipped). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  /* text with a line-break opportunity (<wbr>) after each / ? & = : a path
   * or URL wraps between its parts rather than every few characters. */
  function breakable(text) {
    const out = [];
    for (const part of String(text).split(/(?<=[/?&=])/)) {
      if (out.length) out.push(el('wbr'));
      out.push(part);
    }
    return out;
  }

  /* Tables scroll sideways in a box of their own, so a wide one never makes
   * the page scroll (a phone is 390 px wide). While a box overflows it is a
   * region named by its table's caption and in the Tab order, so the
   * keyboard can scroll it too; the observer follows each box and table. */
  const scrollWatch = new ResizeObserver((entries) => {
    for (const e of entries) fitScroller(e.target.closest('.table-scroll'));
  });

  function fitScroller(box) {
    if (!box) return;
    if (box.scrollWidth > box.clientWidth + 1) {
      const caption = box.querySelector('caption');
      box.tabIndex = 0;
      box.setAttribute('role', 'region');
      if (caption && caption.id) box.setAttribute('aria-labelledby', caption.id);
      else box.setAttribute('aria-label', caption ? caption.textContent.trim() : 'Table');
    } else {
      for (const a of ['tabindex', 'role', 'aria-labelledby', 'aria-label']) box.removeAttribute(a);
    }
  }

  /* Puts each table.grid under root in its scroll box (once). */
  function wrapTables(root) {
    for (const table of root.querySelectorAll('table.grid')) {
      if (table.parentElement.classList.contains('table-scroll')) continue;
      const box = document.createElement('div');
      box.className = 'table-scroll';
      table.replaceWith(box);
      box.append(table);
      scrollWatch.observe(box);
      scrollWatch.observe(table);
    }
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  /* ---- formatting ---------------------------------------------------- */

  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function fmtTime(iso, withMs) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return withMs ? `${s}.${pad(d.getMilliseconds(), 3)}` : s;
  }

  function fmtClock(ms, withDate) {
    const d = new Date(ms);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    return withDate ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}` : hm;
  }

  function fmtDuration(ms) {
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60e3) return `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s`;
    if (ms < 3600e3) return `${Math.round(ms / 60e3)} min`;
    if (ms < 86400e3) return `${+(ms / 3600e3).toFixed(1)} h`;
    const days = +(ms / 86400e3).toFixed(1);
    return `${days} day${days === 1 ? '' : 's'}`;
  }

  /* A chart bucket in words: "minute", "2 minutes", "day", "2 weeks". */
  const BUCKET_UNITS = [[604800e3, 'week'], [86400e3, 'day'], [3600e3, 'hour'],
    [60e3, 'minute'], [1e3, 'second']];
  function bucketName(ms) {
    for (const [unit, name] of BUCKET_UNITS) {
      if (ms % unit === 0) return ms === unit ? name : `${ms / unit} ${name}s`;
    }
    return `${ms} ms`;
  }

  const bucketTitle = (bucketMs) => `Runs per ${bucketName(bucketMs)}`;

  const fmtCount = (n) => Number(n || 0).toLocaleString('en-US');

  function tzText() {
    const off = -new Date().getTimezoneOffset();
    const sign = off >= 0 ? '+' : '-';
    return `UTC${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  }

  function badge(status) {
    const s = String(status || '');
    return el('span', {class: `badge ${s}`},
      el('span', {'aria-hidden': 'true'}, STATUS_MARK[s] || ''),
      STATUS_TEXT[s] || s);
  }

  /* The person a run is about: the event data's email, else its external
   * id, else the first id of the payload's identityMap (AEP's shape). */
  function identityOf(run) {
    if (typeof run.identity === 'string') return run.identity; /* a summary says it */
    const ed = run.eventData && typeof run.eventData === 'object' ? run.eventData : {};
    for (const k of ['email', 'externalId', 'extRef']) {
      const v = ed[k];
      if ((typeof v === 'string' && v !== '') || typeof v === 'number') return String(v);
    }
    const im = run.payload && run.payload.identityMap;
    if (im && typeof im === 'object') {
      for (const ns of Object.keys(im)) {
        const list = im[ns];
        if (Array.isArray(list) && list[0] && list[0].id !== undefined && list[0].id !== null) {
          return String(list[0].id);
        }
      }
    }
    return '';
  }

  function workflowLabel(id, name) {
    if (name) return name;
    const wf = state.workflows.get(id);
    return wf && wf.name ? wf.name : (id || '');
  }

  /* ---- the admin API ----------------------------------------------------- */

  let tokenPrompt = null;

  /* Shows the token form once however many requests were refused; resolves
   * true when the person entered a token. */
  function askToken(refused) {
    if (tokenPrompt) return tokenPrompt;
    tokenPrompt = new Promise((resolve) => {
      const dlg = $('token-dialog');
      $('token-message').textContent = refused
        ? 'That token was refused. Enter the admin token qx-mock was started with ' +
          '(the value of the variable named by --admin-token-env).'
        : 'This qx-mock protects its admin API with a token (--admin-token-env). Enter it ' +
          'to see the run history; it is kept in this tab\'s session storage only.';
      $('token-input').value = '';
      dlg.addEventListener('close', () => {
        const value = $('token-input').value.trim();
        const ok = dlg.returnValue === 'ok' && value !== '';
        if (ok) sessionStorage.setItem(TOKEN_KEY, value);
        $('token-input').value = '';
        tokenPrompt = null;
        resolve(ok);
      }, {once: true});
      dlg.returnValue = '';
      dlg.showModal();
    });
    return tokenPrompt;
  }

  /* The last answer of each GET with its ETag, the most recent ETAG_KEEP
   * paths: a 304 hands back the very same object, so a renderer can tell
   * "nothing changed" by identity. */
  const ETAG_KEEP = 64;
  const answers = new Map(); /* path -> {etag, body} */

  async function api(path, method = 'GET') {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = {Accept: 'application/json'};
    if (token) headers.Authorization = `Bearer ${token}`;
    const kept = method === 'GET' ? answers.get(path) : undefined;
    if (kept) headers['If-None-Match'] = kept.etag;
    let resp;
    try {
      resp = await fetch(path, {method, headers, cache: 'no-store'});
    } catch (e) {
      throw new Error('qx-mock does not answer (is it still running?)');
    }
    if (resp.status === 401) {
      if (token) sessionStorage.removeItem(TOKEN_KEY);
      if (!(await askToken(Boolean(token)))) throw new Error('An admin token is required.');
      return api(path, method);
    }
    if (resp.status === 304 && kept) return kept.body;
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (!resp.ok) {
      const msg = body && body.meta && body.meta.error && body.meta.error.errorMessage;
      throw new Error(msg ? `${msg} (HTTP ${resp.status})` : `HTTP ${resp.status} for ${path}`);
    }
    const etag = resp.headers.get('ETag');
    if (method === 'GET' && etag && body !== null) {
      answers.delete(path);
      answers.set(path, {etag, body});
      if (answers.size > ETAG_KEEP) answers.delete(answers.keys().next().value);
    }
    return body;
  }

  /* ---- state and filters ------------------------------------------------- */

  const state = {
    tab: 'runs',
    runCursors: [0],     /* cursor of each page visited; the last is shown */
    runNext: null,
    reqCursors: [0],
    reqNext: null,
    reqCount: null,      /* the journal's requests in all (the tab's badge) */
    workflows: new Map(), /* id -> {id, name, ...} */
    seen: null,          /* run ids shown on the first page (for highlighting) */
    shownSig: '',
    reqSig: '',
    alertSig: '',
    wfSig: '',
    timer: 0,
    gen: 0,              /* bumped per refresh; stale answers are dropped */
    detailId: null,
    detailKind: 'run',   /* what the dialog shows: 'run' or 'request' */
    lastStats: null,     /* [answer, range] of the last /stats, to redraw on resize */
    drawn: null,         /* {agg, key}: the /stats answer the chart shows, and its range */
    address: null,       /* the hash the view was last saved to or read from */
    rovingId: null,      /* the run row in the Tab order */
  };

  function parseLocal(value) {
    if (!value) return null;
    const t = new Date(value).getTime();
    return Number.isNaN(t) ? null : t;
  }

  function toLocalInput(ms) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  /* The time range in ms since the epoch; null ends are open. */
  function timeRange() {
    const v = $('f-range').value;
    if (RANGE_MS[v]) return {since: Date.now() - RANGE_MS[v], until: null, sliding: true};
    if (v === 'custom') {
      return {since: parseLocal($('f-since').value), until: parseLocal($('f-until').value),
        sliding: false};
    }
    return {since: null, until: null, sliding: false};
  }

  function filterParams(range) {
    const p = new URLSearchParams();
    if ($('f-workflow').value) p.set('workflowId', $('f-workflow').value);
    if ($('f-status').value) p.set('status', $('f-status').value);
    if (range.since !== null) p.set('since', String(range.since));
    if (range.until !== null) p.set('until', String(range.until));
    return p;
  }

  /* The filters live in the address (#status=FAILURE&...) so a view can be
   * reloaded or shared; each new view is an entry of the history (Back
   * returns to the one before), except the first, which replaces. */
  function saveHash(replace) {
    const p = new URLSearchParams();
    const put = (k, v, dflt) => { if (v && v !== dflt) p.set(k, v); };
    put('tab', state.tab, 'runs');
    put('workflow', $('f-workflow').value);
    put('status', $('f-status').value);
    put('range', $('f-range').value, 'all');
    if ($('f-range').value === 'custom') {
      put('since', $('f-since').value);
      put('until', $('f-until').value);
    }
    put('identity', $('f-identity').value.trim());
    put('limit', $('f-limit').value, '50');
    put('jstatus', $('j-status').value);
    put('jreason', $('j-reason').value.trim());
    put('jworkflow', $('j-workflow').value);
    const h = p.toString();
    const hash = h ? `#${h}` : '';
    if (hash !== location.hash) {
      const url = hash || location.pathname + location.search;
      if (replace) history.replaceState(null, '', url);
      else history.pushState(null, '', url);
    }
    state.address = location.hash;
  }

  /* Every filter at its default (what the address leaves out). */
  function clearFilters() {
    for (const id of ['f-workflow', 'f-status', 'f-since', 'f-until', 'f-identity', 'j-status',
      'j-reason', 'j-workflow']) $(id).value = '';
    $('f-range').value = 'all';
    $('f-limit').value = '50';
  }

  /* The address changed by Back, Forward or an edit: show the view it names. */
  function followAddress() {
    if (location.hash === state.address) return; /* our own pushState */
    /* An in-page link (the skip link's #runs-table) names no view. */
    if (location.hash.length > 1 && document.getElementById(location.hash.slice(1))) return;
    clearFilters();
    const tab = loadHash();
    state.address = location.hash;
    state.runCursors = [0];
    state.seen = null;
    state.shownSig = '';
    state.reqCursors = [0];
    state.reqSig = '';
    if ($('detail').open) $('detail').close();
    if (tab !== state.tab) selectTab(tab, false, true);
    else refresh();
  }

  function loadHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const setSelect = (id, v) => {
      if (!v) return;
      const sel = $(id);
      if (![...sel.options].some((o) => o.value === v)) sel.append(el('option', {value: v}, v));
      sel.value = v;
    };
    setSelect('f-workflow', p.get('workflow'));
    if (['SUCCESS', 'FAILURE', 'RUNNING'].includes(p.get('status'))) {
      $('f-status').value = p.get('status');
    }
    if (p.get('range') && [...$('f-range').options].some((o) => o.value === p.get('range'))) {
      $('f-range').value = p.get('range');
    }
    if (p.get('since')) $('f-since').value = p.get('since');
    if (p.get('until')) $('f-until').value = p.get('until');
    if (['25', '50', '100'].includes(p.get('limit'))) $('f-limit').value = p.get('limit');
    if (p.get('identity')) $('f-identity').value = p.get('identity');
    if ([...$('j-status').options].some((o) => o.value === p.get('jstatus'))) {
      $('j-status').value = p.get('jstatus');
    }
    if (p.get('jreason')) $('j-reason').value = p.get('jreason');
    setSelect('j-workflow', p.get('jworkflow'));
    return ['requests', 'workflows', 'whatif', 'alerts'].includes(p.get('tab')) ? p.get('tab')
      : 'runs';
  }

  /* Changes an element's text only when it differs, so polling does not
   * make assistive technology read the same text again. */
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  /* Marks a region as being filled in (true) or ready (false). */
  function setBusy(node, busy) {
    node.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function setError(message) {
    const box = $('error');
    box.hidden = !message;
    setText(box, message || '');
  }

  /* ---- the refresh loop -------------------------------------------------- */

  function schedule() {
    clearTimeout(state.timer);
    state.timer = 0;
    if ($('live').checked) {
      state.timer = setTimeout(() => refresh({poll: true}),
        document.hidden ? HIDDEN_POLL_MS : POLL_MS);
    }
  }

  const TABS = ['runs', 'requests', 'workflows', 'whatif', 'alerts'];
  const PANELS = TABS.map((t) => `panel-${t}`);

  /* Fetches and renders the visible view. Unless this is a background poll,
   * the view's panel is busy until the newest refresh has rendered (an older
   * one still in flight is dropped, so only the newest may clear it). */
  async function refresh(opts) {
    clearTimeout(state.timer);
    const gen = ++state.gen;
    if (!(opts && opts.poll)) setBusy($(`panel-${state.tab}`), true);
    const counted = refreshRequestCount();
    try {
      if (state.tab === 'runs') await refreshRuns(gen);
      else if (state.tab === 'requests') await refreshRequests(gen);
      else if (state.tab === 'workflows') await refreshWorkflows(gen);
      else if (state.tab === 'alerts') await refreshAlerts(gen);
      /* the what-if tab shows a file: nothing to fetch */
      await counted;
      if (gen === state.gen) {
        setError(null);
        $('live-status').textContent = $('live').checked
          ? `Updated ${fmtTime(new Date().toISOString())}` : 'Paused';
      }
    } catch (e) {
      if (gen === state.gen) setError(e.message);
    }
    if (gen === state.gen) {
      for (const id of PANELS) setBusy($(id), false);
      schedule();
    }
  }

  /* A journal filter changed: back to its first page. */
  function restartRequests() {
    state.reqCursors = [0];
    state.reqSig = '';
    saveHash();
    refresh();
  }

  /* A filter changed: back to the first page. */
  function restart() {
    state.runCursors = [0];
    state.seen = null;
    state.shownSig = '';
    saveHash();
    refresh();
  }

  async function refreshRuns(gen) {
    const range = timeRange();
    if (range.since !== null && range.until !== null && range.since >= range.until) {
      throw new Error('The time range is empty: "From" must be before "To".');
    }
    const list = filterParams(range);
    const stats = new URLSearchParams(list);
    stats.set('bucketMs', String(CHART_BUCKET_MS));
    const identity = $('f-identity').value.trim();
    if (identity) list.set('identity', identity);
    list.set('fields', 'summary');
    list.set('order', 'desc');
    list.set('limit', $('f-limit').value);
    const cursor = state.runCursors[state.runCursors.length - 1];
    if (cursor) list.set('cursor', String(cursor));

    const [page, agg] = await Promise.all([
      api(`${API}/runs?${list}`),
      api(`${API}/stats?${stats}`).catch((e) => ({error: e.message})),
    ]);
    if (gen !== state.gen) return;
    renderRuns(page);
    renderStats(agg, range);
  }

  /* ---- the list of runs -------------------------------------------------- */

  /* The control that opens a row: a button named by the time it shows and
   * what it opens ("2026-03-02 09:00:00, open run RUN_x"). One button of a
   * table is in the Tab order (rowNavigation moves it). */
  function rowOpener(iso, what) {
    return el('button', {type: 'button', class: 'row-open', tabindex: '-1'},
      el('time', {datetime: iso, title: iso}, fmtTime(iso)),
      el('span', {class: 'sr-only'}, `, ${what}`));
  }

  const openerOf = (tr) => (tr ? tr.querySelector('button.row-open') : null);

  function runRow(run, fresh) {
    let errorCell;
    if (run.error) {
      errorCell = el('td', {class: 'error-text'}, run.error);
    } else if (run.conditionsMet === false) {
      errorCell = el('td', {class: 'note'}, 'Conditions not met: no task ran');
    } else {
      errorCell = el('td', {});
    }
    if (run.duplicateOf) errorCell.append(el('span', {class: 'tag'}, 'duplicate'));
    const wfName = workflowLabel(run.workflowId, run.workflowName);
    return el('tr', {
      'data-id': run.id,
      'data-status': run.status,
      class: fresh ? 'fresh' : null,
    },
    el('td', {class: 'time'}, rowOpener(run.receivedAt, `open run ${run.id}`)),
    el('td', {title: run.workflowId}, wfName),
    el('td', {}, badge(run.status)),
    el('td', {class: 'identity'}, identityOf(run)),
    errorCell);
  }

  function renderRuns(page) {
    const runs = Array.isArray(page.runs) ? page.runs : [];
    const firstPage = state.runCursors.length === 1;
    state.runNext = page.nextCursor || null;

    const total = Number(page.total || 0);
    const who = $('f-identity').value.trim();
    setText($('runs-caption'), 'Workflow runs, newest first' +
      (who ? ` of identities containing “${who}”` : '') + ` — ${fmtCount(total)} matching` +
      (runs.length ? `, showing ${fmtCount(runs.length)}` : ''));
    setText($('runs-page'), `Page ${state.runCursors.length}` +
      (total ? ` of ${fmtCount(Math.max(1, Math.ceil(total / Number($('f-limit').value))))}` : ''));
    $('runs-newer').disabled = firstPage;
    $('runs-older').disabled = !state.runNext;

    /* Redraw only when something shown changed, and give the focus back to
     * the row that had it, so polling never disturbs a keyboard user. */
    const sig = runs.map((r) => `${r.id}:${r.status}:${r.finishedAt || ''}`).join('|') +
      `#${total}`;
    if (sig === state.shownSig) return;
    state.shownSig = sig;

    const active = document.activeElement;
    const focusedId = active && active.closest && active.closest('#runs tr[data-id]')
      ? active.closest('tr').dataset.id : null;

    let newCount = 0;
    const rows = runs.map((run) => {
      const fresh = firstPage && state.seen !== null && !state.seen.has(run.id);
      if (fresh) newCount++;
      return runRow(run, fresh);
    });
    if (firstPage) state.seen = new Set(runs.map((r) => r.id));
    if (!rows.length) {
      rows.push(el('tr', {}, el('td', {class: 'empty', colspan: '5'},
        total ? 'No more runs on this page.' : 'No runs match these filters.')));
    }
    $('runs').replaceChildren(...rows);
    /* One row is in the Tab order (the last one used, else the first);
     * the arrows move between rows. */
    const keep = focusedId || state.rovingId;
    const kept = keep && $('runs').querySelector(`tr[data-id="${CSS.escape(keep)}"]`);
    const current = openerOf(kept || $('runs').querySelector('tr[data-id]'));
    if (current) current.tabIndex = 0;
    if (focusedId && current) current.focus({preventScroll: true});
    if (newCount) {
      $('announce').textContent = `${newCount} new run${newCount === 1 ? '' : 's'}`;
    }
  }

  /* ---- totals and chart -------------------------------------------------- */

  /* Draws the totals and the chart, unless the answer is the one drawn (a
   * 304 hands back the same object) over the same range and width: a poll
   * that finds nothing new leaves the chart as it is. force: redraw anyway
   * (the window was resized). */
  function renderStats(agg, range, force) {
    state.lastStats = [agg, range];
    const totals = $('totals');
    const chart = $('chart');
    const key = JSON.stringify([range.since, range.until, chart.clientWidth]);
    if (!force && !range.sliding && state.drawn && state.drawn.agg === agg &&
        state.drawn.key === key) return;
    state.drawn = {agg, key};
    if (!agg || agg.error) {
      totals.replaceChildren();
      chart.replaceChildren(el('p', {class: 'empty'},
        `Totals and chart unavailable: ${agg ? agg.error : 'no answer'}`));
      return;
    }
    const t = agg.totals || {};
    const sum = STATUSES.reduce((a, s) => a + Number(t[s] || 0), 0);
    const items = [
      el('li', {}, 'Total ', el('strong', {}, fmtCount(sum))),
      ...STATUSES.map((s) => el('li', {},
        el('span', {class: `swatch ${s}`, 'aria-hidden': 'true'}),
        `${STATUS_TEXT[s]} `, el('strong', {}, fmtCount(t[s])))),
    ];
    /* Runs past historyRetentionDays are gone, as in Qualtrics after 30 days. */
    if (Number(agg.evicted) > 0) {
      items.push(el('li', {class: 'evicted', title: 'Runs removed by historyRetentionDays'},
        'Evicted ', el('strong', {}, fmtCount(agg.evicted))));
    }
    totals.replaceChildren(...items);

    const bucketMs = Number(agg.bucketMs || CHART_BUCKET_MS);
    $('chart-title').textContent = bucketTitle(bucketMs);
    const buckets = (agg.buckets || []).map((b) => ({
      start: Date.parse(b.start), SUCCESS: Number(b.SUCCESS || 0),
      FAILURE: Number(b.FAILURE || 0), RUNNING: Number(b.RUNNING || 0),
    })).filter((b) => !Number.isNaN(b.start));
    if (!buckets.length) {
      chart.replaceChildren(el('p', {class: 'empty'}, 'No runs in this range.'));
      return;
    }
    chart.replaceChildren(drawChart(buckets, bucketMs, range, chart.clientWidth));
  }

  /* A round top for the y axis whose half is a whole number too. */
  function niceMax(v) {
    if (v <= 2) return 2;
    if (v <= 10) return v + (v % 2);
    const mag = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= v) return m * mag;
    return 10 * mag;
  }

  /* Stacked bars, one per bucket over the shown range: Success at the
   * bottom, then Failure (hatched), then Running (dotted). */
  function drawChart(buckets, bucketMs, range, width) {
    /* Drawn at the box's own width, one unit a pixel, so text is not stretched. */
    const W = Math.max(320, Math.round(width || 960)), H = 150, L = 40, R = 8, T = 8, B = 22;
    let from = range.since !== null ? range.since : buckets[0].start;
    let to = range.until !== null ? range.until
      : range.sliding ? Math.max(Date.now(), buckets[buckets.length - 1].start + bucketMs)
        : buckets[buckets.length - 1].start + bucketMs;
    from = Math.floor(from / bucketMs) * bucketMs;
    to = Math.max(from + bucketMs, Math.ceil(to / bucketMs) * bucketMs);
    const slots = Math.min(1000, Math.round((to - from) / bucketMs));
    const plotW = W - L - R, plotH = H - T - B;
    const bw = plotW / slots;
    const gap = bw > 6 ? 1.5 : bw > 3 ? 0.5 : 0;
    let peak = 0;
    for (const b of buckets) peak = Math.max(peak, b.SUCCESS + b.FAILURE + b.RUNNING);
    const top = niceMax(peak);
    const y = (v) => T + plotH - (v / top) * plotH;

    const defs = svg('defs', {},
      svg('pattern', {id: 'hatch-FAILURE', width: 5, height: 5, patternUnits: 'userSpaceOnUse',
        patternTransform: 'rotate(45)'},
      svg('rect', {class: 'hatch-bg-FAILURE', width: 5, height: 5}),
      svg('line', {class: 'hatch-line-FAILURE', x1: 0, y1: 0, x2: 0, y2: 5})),
      svg('pattern', {id: 'dots-RUNNING', width: 4, height: 4, patternUnits: 'userSpaceOnUse'},
        svg('rect', {class: 'dots-bg-RUNNING', width: 4, height: 4}),
        svg('circle', {class: 'dots-dot-RUNNING', cx: 2, cy: 2, r: 0.9})));

    const grid = svg('g', {});
    for (const v of [0, top / 2, top]) {
      grid.append(svg('line', {class: 'grid-line', x1: L, x2: W - R, y1: y(v), y2: y(v)}));
      const label = Number.isInteger(v) ? String(v) : v.toFixed(1);
      grid.append(svg('text', {class: 'axis', x: L - 6, y: y(v) + 4, 'text-anchor': 'end'},
        label));
    }

    const bars = svg('g', {});
    for (const b of buckets) {
      const slot = Math.floor((b.start - from) / bucketMs);
      if (slot < 0 || slot >= slots) continue;
      const x = L + slot * bw + gap / 2;
      const g = svg('g', {}, svg('title', {},
        `${fmtClock(b.start, to - from > 86400e3)}: ` +
        STATUSES.map((s) => `${STATUS_TEXT[s]} ${b[s]}`).join(', ')));
      let base = 0;
      for (const s of STATUSES) {
        if (!b[s]) continue;
        g.append(svg('rect', {class: `bar-${s}`, x, width: Math.max(0.5, bw - gap),
          y: y(base + b[s]), height: y(base) - y(base + b[s])}));
        base += b[s];
      }
      bars.append(g);
    }

    const withDate = to - from > 86400e3 ||
      new Date(from).toDateString() !== new Date(to).toDateString();
    const axis = svg('g', {});
    const ticks = [[from, 'start'], [from + (to - from) / 2, 'middle'], [to, 'end']];
    for (const [t, anchor] of ticks) {
      axis.append(svg('text', {class: 'axis', x: L + ((t - from) / (to - from)) * plotW,
        y: H - 6, 'text-anchor': anchor}, fmtClock(t, withDate)));
    }

    const sum = buckets.reduce((a, b) => a + b.SUCCESS + b.FAILURE + b.RUNNING, 0);
    return svg('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
      'aria-label': `${bucketTitle(bucketMs)} from ${fmtTime(new Date(from).toISOString())} ` +
        `to ${fmtTime(new Date(to).toISOString())}: ${sum} runs, at most ${peak} per ` +
        `${bucketName(bucketMs)}.`},
    defs, grid, bars, axis);
  }

  /* ---- the detail view ------------------------------------------------- */

  function jsonLeaf(v) {
    if (v === null) return el('span', {class: 'z'}, 'null');
    switch (typeof v) {
      case 'string': return el('span', {class: 's'}, JSON.stringify(v));
      case 'number': return el('span', {class: 'n'}, String(v));
      case 'boolean': return el('span', {class: 'b'}, String(v));
      default: return el('span', {}, JSON.stringify(v));
    }
  }

  /* A JSON value as nested <details>: pretty-printed, each object and array
   * folds on its own. */
  function jsonTree(value, key, depth) {
    const keyPart = key === null ? null : el('span', {class: 'k'}, JSON.stringify(key));
    const sep = key === null ? null : ': ';
    if (value === null || typeof value !== 'object') {
      return el('div', {}, keyPart, sep, jsonLeaf(value));
    }
    const isArr = Array.isArray(value);
    const entries = isArr ? value.map((v) => [null, v]) : Object.entries(value);
    const [open, close] = isArr ? ['[', ']'] : ['{', '}'];
    if (!entries.length) return el('div', {}, keyPart, sep, `${open}${close}`);
    const unit = isArr ? (entries.length === 1 ? 'item' : 'items')
      : (entries.length === 1 ? 'key' : 'keys');
    const det = el('details', {open: depth < JSON_OPEN_DEPTH},
      el('summary', {}, keyPart, sep, open,
        el('span', {class: 'c'}, ` ${entries.length} ${unit} `)),
      el('ul', {}, ...entries.map(([k, v]) => el('li', {}, jsonTree(v, k, depth + 1)))),
      close);
    return det;
  }

  function jsonBlock(value, label) {
    const box = el('div', {class: 'json mono', role: 'group', 'aria-label': label},
      jsonTree(value, null, 0));
    const setAll = (open) => box.querySelectorAll('details').forEach((d) => { d.open = open; });
    const tools = el('div', {class: 'tools'},
      el('button', {type: 'button', onclick: () => setAll(true)}, 'Expand all'),
      el('button', {type: 'button', onclick: () => setAll(false)}, 'Collapse all'),
      el('button', {type: 'button', onclick: (ev) => {
        const text = JSON.stringify(value, null, 2);
        const done = () => { ev.target.textContent = 'Copied'; };
        if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => {});
      }}, 'Copy JSON'));
    return [tools, box];
  }

  function fact(label, ...value) {
    return [el('dt', {}, label), el('dd', {}, ...value)];
  }

  function valueText(v) {
    if (v === undefined) return '';
    if (typeof v === 'string') return v;
    return JSON.stringify(v);
  }

  function renderDetail(run) {
    $('detail-title').replaceChildren(`Run ${run.id} `, badge(run.status));
    const body = [];
    const received = Date.parse(run.receivedAt);
    const finished = run.finishedAt ? Date.parse(run.finishedAt) : NaN;
    const timing = Number.isNaN(finished)
      ? `still running (delay ${fmtCount(run.delayMs || 0)} ms)`
      : `finished ${fmtCount(finished - received)} ms after it was received ` +
        `(configured delay ${fmtCount(run.delayMs || 0)} ms)`;
    const facts = [
      ...fact('Workflow', workflowLabel(run.workflowId, run.workflowName), ' ',
        el('code', {}, run.workflowId || '')),
      ...fact('Status', badge(run.status)),
      ...fact('Identity', identityOf(run) || '—'),
      ...fact('Received', el('time', {datetime: run.receivedAt}, fmtTime(run.receivedAt, true)),
        el('span', {class: 'muted'}, ` (${run.receivedAt})`)),
      ...fact('Finished', run.finishedAt
        ? el('time', {datetime: run.finishedAt}, fmtTime(run.finishedAt, true)) : '—'),
      ...fact('Timing', timing),
      ...fact('Request id', el('code', {}, run.requestId || '—')),
      ...fact('API user', run.user || '— (no credentials)'),
    ];
    if (run.duplicateOf) {
      facts.push(...fact('Duplicate of',
        el('button', {type: 'button', class: 'link mono',
          onclick: () => openDetail(run.duplicateOf)}, run.duplicateOf),
        el('span', {class: 'muted'}, ' (the same payload was sent before)')));
    }
    if (run.error) facts.push(...fact('Error', el('span', {class: 'met-no'}, run.error)));
    body.push(el('dl', {class: 'facts'}, ...facts));

    /* Event data */
    body.push(el('h3', {}, 'Event data'));
    const ed = run.eventData && typeof run.eventData === 'object' ? Object.entries(run.eventData)
      : [];
    body.push(ed.length
      ? el('table', {class: 'grid'},
        el('caption', {}, 'Fields captured from the payload'),
        el('thead', {}, el('tr', {}, el('th', {scope: 'col'}, 'Field'),
          el('th', {scope: 'col'}, 'Value'))),
        el('tbody', {}, ...ed.map(([k, v]) => el('tr', {},
          el('th', {scope: 'row'}, el('code', {}, k)),
          el('td', {class: 'mono'}, v === null ? 'null (no match)' : valueText(v))))))
      : el('p', {class: 'muted'}, 'No event data configured.'));

    /* Conditions */
    const conds = Array.isArray(run.conditions) ? run.conditions : [];
    body.push(el('h3', {}, 'Conditions'));
    if (conds.length) {
      body.push(el('p', {class: run.conditionsMet === false ? 'met-no' : 'met-yes'},
        run.conditionsMet === false ? 'Not all conditions hold: no task ran.'
          : 'All conditions hold.'));
      body.push(el('table', {class: 'grid'},
        el('caption', {}, 'Each condition and its outcome'),
        el('thead', {}, el('tr', {}, ...['Field', 'Operator', 'Expected', 'Actual', 'Outcome']
          .map((h) => el('th', {scope: 'col'}, h)))),
        el('tbody', {}, ...conds.map((c) => el('tr', {},
          el('th', {scope: 'row'}, el('code', {}, c.field || '')),
          el('td', {}, c.op || ''),
          el('td', {class: 'mono'}, c.value === undefined ? '—' : valueText(c.value)),
          el('td', {class: 'mono'}, c.actual === null ? 'null' : valueText(c.actual)),
          el('td', {class: c.met ? 'met-yes' : 'met-no'},
            c.met ? '✓ Met' : '✗ Not met'))))));
    } else {
      body.push(el('p', {class: 'muted'}, 'No conditions: every event runs the tasks.'));
    }

    /* Tasks */
    const tasks = Array.isArray(run.tasks) ? run.tasks : [];
    body.push(el('h3', {}, 'Tasks'));
    if (tasks.length) {
      body.push(el('table', {class: 'grid'},
        el('caption', {}, 'Tasks in the order they ran'),
        el('thead', {}, el('tr', {}, ...['#', 'Task', 'Status', 'Error', 'Inputs and result']
          .map((h) => el('th', {scope: 'col'}, h)))),
        el('tbody', {}, ...tasks.map((task, i) => el('tr', {},
          el('th', {scope: 'row'}, String(i + 1)),
          el('td', {}, el('code', {}, task.type || '')),
          el('td', {}, badge(task.status)),
          el('td', {class: task.error ? 'error-text' : ''}, task.error || ''),
          el('td', {}, el('details', {},
            el('summary', {}, 'Show'),
            el('div', {class: 'json mono'},
              jsonTree({inputs: task.inputs, result: task.result}, null, 0)))))))));
    } else {
      body.push(el('p', {class: 'muted'},
        run.conditionsMet === false ? 'No task ran: the conditions did not hold.'
          : 'No tasks.'));
    }

    /* Payload */
    body.push(el('h3', {}, 'Trigger payload'));
    body.push(el('section', {class: 'payload', 'aria-label': 'Trigger payload'},
      ...jsonBlock(run.payload, 'Trigger payload as JSON')));

    $('detail-body').replaceChildren(...body);
    wrapTables($('detail-body'));
  }

  /* Opens the dialog at once, busy with "Loading run …" until the run is in;
   * only the answer for the run asked last is rendered. */
  async function openDetail(id) {
    const dlg = $('detail');
    state.detailId = id;
    state.detailKind = 'run';
    setBusy(dlg, true);
    $('detail-title').textContent = `Loading run ${id}…`;
    $('detail-body').replaceChildren(el('p', {class: 'muted'}, 'Loading…'));
    if (!dlg.open) dlg.showModal();
    try {
      const run = await api(`${API}/runs/${encodeURIComponent(id)}`);
      if (state.detailId === id) renderDetail(run);
    } catch (e) {
      if (state.detailId === id) {
        $('detail-title').textContent = `Run ${id}`;
        $('detail-body').replaceChildren(el('p', {class: 'error', role: 'alert'}, e.message));
      }
    }
    if (state.detailId === id) setBusy(dlg, false);
  }

  /* ---- the request journal --------------------------------------------- */

  /* The journal's count for the tab's badge: every request that started no
   * run, a summary entry counting the requests it stands for. Refreshed with
   * every view, polls included; a failure leaves the last count. */
  async function refreshRequestCount() {
    let page;
    try {
      page = await api(`${API}/requests?limit=1`);
    } catch (e) {
      return;
    }
    const n = Number(page.totalRequests || 0);
    if (n === state.reqCount) return;
    state.reqCount = n;
    const badgeEl = $('requests-count');
    badgeEl.hidden = n === 0;
    setText(badgeEl, fmtCount(n));
    badgeEl.title = `${fmtCount(n)} request${n === 1 ? '' : 's'} started no run`;
  }

  function requestParams() {
    const p = new URLSearchParams({order: 'desc', limit: $('f-limit').value});
    if ($('j-status').value) p.set('httpStatus', $('j-status').value);
    const reason = $('j-reason').value.trim();
    if (reason) p.set('reason', reason);
    if ($('j-workflow').value) p.set('workflowId', $('j-workflow').value);
    const cursor = state.reqCursors[state.reqCursors.length - 1];
    if (cursor) p.set('cursor', String(cursor));
    return p;
  }

  function requestRow(r) {
    const count = Number(r.count || 1);
    const reason = el('td', {class: 'reason'}, r.reason || '');
    if (r.summary) {
      reason.append(el('span', {class: 'tag', title: 'A summary entry: refusals past ' +
        'refusedJournalPerMinute from this address in this minute'}, `×${fmtCount(count)}`));
    }
    return el('tr', {'data-id': r.id || null},
    el('td', {class: 'time'}, r.id ? rowOpener(r.receivedAt, `open request ${r.id}`)
      : el('time', {datetime: r.receivedAt, title: r.receivedAt}, fmtTime(r.receivedAt))),
    el('td', {}, r.method || ''),
    el('td', {class: 'path mono'}, ...breakable(r.path || '')),
    el('td', {}, String(r.httpStatus === undefined ? '' : r.httpStatus)),
    reason,
    el('td', {}, r.workflowId ? workflowLabel(r.workflowId) : '—'));
  }

  async function refreshRequests(gen) {
    const page = await api(`${API}/requests?${requestParams()}`);
    if (gen !== state.gen) return;
    const list = Array.isArray(page.requests) ? page.requests : [];
    state.reqNext = page.nextCursor || null;
    const total = Number(page.total || 0);
    const requests = Number(page.totalRequests || 0);
    const limit = Number($('f-limit').value);
    $('requests-prev').disabled = state.reqCursors.length === 1;
    $('requests-next').disabled = !state.reqNext;
    setText($('requests-page'), `Page ${state.reqCursors.length}` +
      (total ? ` of ${fmtCount(Math.max(1, Math.ceil(total / limit)))}` : ''));
    setText($('requests-caption'),
      `Requests that started no run, newest first — ${fmtCount(total)} ` +
      `entr${total === 1 ? 'y' : 'ies'} matching` +
      (requests !== total ? ` (${fmtCount(requests)} requests, summaries counted)` : ''));
    const sig = list.map((r) => `${r.id}:${r.count}`).join('|') + `#${total}`;
    if (sig === state.reqSig && $('requests').children.length) return;
    state.reqSig = sig;
    const active = document.activeElement;
    const focusedId = active && active.closest && active.closest('#requests tr[data-id]')
      ? active.closest('tr').dataset.id : null;
    const rows = list.map(requestRow);
    if (!rows.length) {
      const filtered = $('j-status').value || $('j-reason').value.trim() ||
        $('j-workflow').value;
      rows.push(el('tr', {}, el('td', {class: 'empty', colspan: '6'},
        filtered ? 'No request matches these filters.' : 'Every request so far started a run.')));
    }
    $('requests').replaceChildren(...rows);
    const current = openerOf((focusedId &&
      $('requests').querySelector(`tr[data-id="${CSS.escape(focusedId)}"]`)) ||
      $('requests').querySelector('tr[data-id]'));
    if (current) current.tabIndex = 0;
    if (focusedId && current) current.focus({preventScroll: true});
  }

  /* A journal entry in the detail dialog: the request line, its headers
   * (the server never keeps credentials) and the body kept. */
  function renderRequestDetail(r) {
    $('detail-title').replaceChildren(`Request ${r.id} `,
      el('span', {class: 'badge FAILURE'}, `HTTP ${r.httpStatus}`));
    const facts = [
      ...fact('Received', el('time', {datetime: r.receivedAt}, fmtTime(r.receivedAt, true)),
        el('span', {class: 'muted'}, ` (${r.receivedAt})`)),
      ...fact('HTTP status', String(r.httpStatus)),
      ...fact('Reason', r.reason || '—'),
      ...fact('Workflow', r.workflowId ? workflowLabel(r.workflowId) : '—', ' ',
        r.workflowId ? el('code', {}, r.workflowId) : null),
      ...fact('Client address', r.clientAddress || '—'),
      ...fact('Request id', el('code', {}, r.id)),
    ];
    if (r.summary) {
      facts.push(...fact('Summary', `stands for ${fmtCount(r.count)} requests from this ` +
        'address, status and minute (past refusedJournalPerMinute); this is the first of them'));
    }
    const body = [el('dl', {class: 'facts'}, ...facts)];

    body.push(el('h3', {}, 'Request line'));
    body.push(el('pre', {class: 'request-line mono'}, `${r.method || '?'} ${r.path || ''}`));

    body.push(el('h3', {}, 'Headers'));
    const headers = r.headers && typeof r.headers === 'object' ? Object.entries(r.headers) : [];
    body.push(headers.length
      ? el('table', {class: 'grid headers'},
        el('caption', {}, 'Headers as received, credentials left out' +
          (r.headersTruncated ? ' (some were left out for size)' : '')),
        el('thead', {}, el('tr', {}, el('th', {scope: 'col'}, 'Name'),
          el('th', {scope: 'col'}, 'Value'))),
        el('tbody', {}, ...headers.map(([k, v]) => el('tr', {},
          el('th', {scope: 'row'}, el('code', {}, k)),
          el('td', {class: 'mono'}, valueText(v))))))
      : el('p', {class: 'muted'}, 'No headers kept for this entry.'));

    body.push(el('h3', {}, 'Body'));
    if (r.body === null || r.body === undefined) {
      body.push(el('p', {class: 'muted'}, r.bodyBytes === null
        ? 'No body kept (over 100 KB, dropped as it arrived, or none recorded).'
        : 'No body kept.'));
    } else {
      if (r.bodyTruncated) {
        body.push(el('p', {class: 'muted'}, `The first ${fmtCount(r.body.length)} characters ` +
          `of ${fmtCount(r.bodyBytes)} bytes sent.`));
      }
      body.push(el('pre', {class: 'body mono', 'aria-label': 'Request body'}, r.body));
    }
    $('detail-body').replaceChildren(...body);
    wrapTables($('detail-body'));
  }

  /* Opens the dialog on journal entry id, busy until it is in. */
  async function openRequest(id) {
    const dlg = $('detail');
    state.detailId = id;
    state.detailKind = 'request';
    setBusy(dlg, true);
    $('detail-title').textContent = `Loading request ${id}…`;
    $('detail-body').replaceChildren(el('p', {class: 'muted'}, 'Loading…'));
    if (!dlg.open) dlg.showModal();
    try {
      const entry = await api(`${API}/requests/${encodeURIComponent(id)}`);
      if (state.detailId === id) renderRequestDetail(entry);
    } catch (e) {
      if (state.detailId === id) {
        $('detail-title').textContent = `Request ${id}`;
        $('detail-body').replaceChildren(el('p', {class: 'error', role: 'alert'}, e.message));
      }
    }
    if (state.detailId === id) setBusy(dlg, false);
  }

  /* ---- alerts ------------------------------------------------------------ */

  const ALERT_TEXT = {activationSkippedRateExceeded: 'Activation skipped rate exceeded'};

  /* "consentDenied 3, hashedEmailOnly 1": the reasons that count, in order. */
  function reasonsText(reasons) {
    const parts = Object.entries(reasons || {}).filter(([, n]) => Number(n) > 0)
      .map(([k, n]) => `${k} ${fmtCount(n)}`);
    return parts.length ? parts.join(', ') : '—';
  }

  async function refreshAlerts(gen) {
    const body = await api(`${API}/alerts?limit=100`);
    if (gen !== state.gen) return;
    const list = Array.isArray(body.alerts) ? body.alerts : [];
    setText($('alerts-caption'), `Alerts, newest first — ${fmtCount(list.length)} shown of ` +
      `${fmtCount(body.received || 0)} received`);
    const sig = list.map((a) => a.id).join('|');
    if (sig === state.alertSig && $('alerts').children.length) return;
    state.alertSig = sig;
    const rows = list.map((a) => el('tr', {'data-id': a.id},
      el('td', {class: 'time'},
        el('time', {datetime: a.receivedAt, title: a.receivedAt}, fmtTime(a.receivedAt))),
      el('td', {class: 'alert-type', title: a.type},
        ALERT_TEXT[a.type] || a.type, a.scope ? ` (${a.scope})` : ''),
      el('td', {}, a.destination || '—'),
      el('td', {class: 'num'}, a.activations !== undefined
        ? `${fmtCount(a.skipped)} of ${fmtCount(a.activations)}` : '—'),
      el('td', {class: 'num rate'}, typeof a.rate === 'number'
        ? `${a.rate} % (threshold ${a.threshold} %)` : '—'),
      el('td', {class: 'reasons'}, reasonsText(a.skippedReasons))));
    if (!rows.length) {
      rows.push(el('tr', {}, el('td', {class: 'empty', colspan: '6'},
        'No alert so far.')));
    }
    $('alerts').replaceChildren(...rows);
  }

  /* ---- workflows and capture event ---------------------------------------- */

  const yesNo = (b) => (b ? 'Yes' : 'No');
  const captureUrl = (id) => `${API}/workflows/${encodeURIComponent(id)}/capture`;
  const eventUrl = (wf) => `${location.origin}/inbound-event/v1/events/json/triggers?urlTokenId=` +
    encodeURIComponent(wf.urlTokenId);

  async function refreshWorkflows(gen) {
    const body = await api(`${API}/workflows`);
    const list = Array.isArray(body.workflows) ? body.workflows : [];
    const captures = await Promise.all(list.map((wf) => api(captureUrl(wf.id))));
    if (gen !== state.gen) return;
    const sig = JSON.stringify([list.map((wf) => wf.id), captures]);
    if (sig === state.wfSig && $('workflows').children.length) return;
    state.wfSig = sig;
    const focused = document.activeElement && document.activeElement.dataset.capture;
    $('workflows').replaceChildren(...list.map((wf, i) => workflowRow(wf, captures[i])));
    $('captures').replaceChildren(...list.map((wf, i) => capturedFields(wf, captures[i]))
      .filter(Boolean));
    wrapTables($('captures'));
    if (focused) {
      const again = $('workflows').querySelector(`button[data-capture="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  function workflowRow(wf, cap) {
    const status = cap.armed
      ? `Waiting for a sample until ${fmtTime(cap.expiresAt)}`
      : (cap.sample ? 'Sample captured (fields below)' : 'No sample yet');
    return el('tr', {'data-id': wf.id},
      el('td', {class: 'mono'}, wf.id),
      el('td', {}, wf.name || wf.id),
      el('td', {}, yesNo(wf.enabled)),
      el('td', {}, yesNo(wf.authRequired)),
      el('td', {class: 'url mono'}, ...breakable(eventUrl(wf))),
      el('td', {},
        el('button', {type: 'button', 'data-capture': wf.id},
          cap.armed ? 'Capture again' : 'Capture a sample'),
        el('span', {class: 'capture-status', role: 'status'}, status)));
  }

  function capturedFields(wf, cap) {
    if (!cap.sample) return null;
    const fields = Array.isArray(cap.fields) ? cap.fields : [];
    const title = `Fields of the sample captured for ${workflowLabel(wf.id, wf.name)}`;
    return el('section', {class: 'capture', 'data-id': wf.id},
      el('table', {class: 'grid fields'},
        el('caption', {}, title),
        el('thead', {}, el('tr', {},
          el('th', {scope: 'col'}, 'Path'), el('th', {scope: 'col'}, 'Value'),
          el('th', {scope: 'col'}, 'Type'))),
        el('tbody', {}, ...(fields.length ? fields.map((f) => el('tr', {},
          el('th', {scope: 'row', class: 'mono'}, f.path),
          el('td', {class: 'mono'}, valueText(f.value)),
          el('td', {}, f.type))) : [el('tr', {}, el('td', {class: 'empty', colspan: '3'},
          'The sample has no fields.'))]))));
  }

  /* "Capture a sample": arm, then show the workflow waiting for it. */
  async function armCapture(id) {
    state.gen++;
    setBusy($('panel-workflows'), true);
    try {
      await api(captureUrl(id), 'POST');
      state.wfSig = '';
    } catch (e) {
      setError(e.message);
    }
    refresh();
  }

  /* ---- what-if report ---------------------------------------------------- */

  /* The fields of a replay's outcome, in order: [name, value] (value
   * undefined when that side has none). */
  function outcomeFields(o) {
    if (!o || typeof o !== 'object') return [];
    if (!('status' in o) || 'httpStatus' in o) {
      return [['httpStatus', o.httpStatus], ['reason', o.reason]];
    }
    const fields = [['status', o.status], ['conditionsMet', o.conditionsMet]];
    for (const [k, v] of Object.entries(o.eventData || {})) fields.push([`eventData.${k}`, v]);
    (o.tasks || []).forEach((t, i) => fields.push([`tasks[${i}]`, t]));
    fields.push(['error', o.error]);
    return fields;
  }

  function whatifValue(v) {
    if (v === undefined) return el('span', {class: 'muted'}, '(absent)');
    if (v && typeof v === 'object' && 'type' in v && 'status' in v) {
      return `${v.type} ${v.status}${v.error ? `: ${v.error}` : ''}`;
    }
    return typeof v === 'string' ? v : JSON.stringify(v);
  }

  /* One entry that differs: its line, then recorded and replayed side by
   * side, the rows that differ marked. */
  function whatifEntry(e) {
    const recorded = new Map(outcomeFields(e.recorded));
    const replayed = new Map(outcomeFields(e.replayed));
    const names = [...new Set([...recorded.keys(), ...replayed.keys()])];
    const diffs = (e.differences || []).map((d) => d.field);
    const differs = (name) => diffs.some((f) => f === name || f.startsWith(`${name}.`)) ||
      e.verdict === 'gone' || e.verdict === 'new';
    const title = `${String(e.verdict || '').toUpperCase()} ${e.id}` +
      `${e.workflowId ? ` (${e.workflowId})` : ''}${e.cause ? ` [${e.cause}]` : ''}`;
    const rows = names.map((n) => el('tr', {class: differs(n) ? 'differs' : null},
      el('th', {scope: 'row'}, n, differs(n) ? el('span', {class: 'sr-only'}, ' (differs)') : null),
      el('td', null, whatifValue(recorded.get(n))),
      el('td', null, whatifValue(replayed.get(n)))));
    return el('section', {class: 'whatif-entry', 'data-id': e.id},
      el('h2', null, title),
      el('p', null, e.text || ''),
      el('table', {class: 'grid whatif'},
        el('caption', {class: 'sr-only'}, `${title}: recorded and replayed`),
        el('thead', null, el('tr', null, el('th', {scope: 'col'}, 'Field'),
          el('th', {scope: 'col'}, 'Recorded'), el('th', {scope: 'col'}, 'Replayed'))),
        el('tbody', null, ...rows)));
  }

  function renderWhatif(report) {
    const s = report.summary || {};
    const differing = (s.changed || 0) + (s.new || 0) + (s.gone || 0);
    const kinds = Object.entries(s.changedByKind || {}).filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`).join(', ');
    setText($('whatif-summary'), `${report.history || 'history'} against ` +
      `${report.config || 'config'}: ${fmtCount(s.unchanged || 0)} unchanged, ` +
      `${fmtCount(differing)} changed (${fmtCount(s.changed || 0)} changed` +
      `${kinds ? ` — ${kinds}` : ''}; ${fmtCount(s.new || 0)} new, ${fmtCount(s.gone || 0)} ` +
      `gone, ${fmtCount(s.skipped || 0)} skipped)` +
      `${'payloadsChanged' in s ? `; ${fmtCount(s.payloadsChanged)} payloads changed` : ''}.`);
    const payloads = (report.payloads || []).map((p) =>
      el('li', null, `Profile line ${p.profileLine}: ${p.text || ''}`));
    $('whatif-payloads').replaceChildren(...(payloads.length
      ? [el('h2', null, 'Payloads'), el('ul', {class: 'whatif-payloads'}, ...payloads)] : []));
    const entries = (report.entries || []).filter((e) =>
      e.verdict && e.verdict !== 'unchanged' && e.verdict !== 'skipped');
    $('whatif-runs').replaceChildren(...entries.map(whatifEntry));
    wrapTables($('whatif-runs'));
  }

  async function loadWhatif(file) {
    const panel = $('panel-whatif');
    setBusy(panel, true);
    try {
      const report = JSON.parse(await file.text());
      if (!report || typeof report !== 'object' || !Array.isArray(report.entries)) {
        throw new Error('not a what-if report (no "entries")');
      }
      renderWhatif(report);
      setError(null);
    } catch (e) {
      $('whatif-runs').replaceChildren();
      $('whatif-payloads').replaceChildren();
      setText($('whatif-summary'), '');
      setError(`${file.name}: ${e.message}`);
    }
    setBusy(panel, false);
  }

  /* ---- wiring ------------------------------------------------------------ */

  /* Shows tab name; fromAddress: the address already names it (nothing to
   * save). */
  function selectTab(name, focus, fromAddress) {
    state.tab = name;
    for (const t of TABS) {
      const on = t === name;
      $(`tab-${t}`).setAttribute('aria-selected', String(on));
      $(`tab-${t}`).tabIndex = on ? 0 : -1;
      $(`panel-${t}`).hidden = !on;
    }
    if (focus) $(`tab-${name}`).focus();
    if (!fromAddress) saveHash();
    refresh();
  }

  async function loadWorkflows() {
    try {
      const body = await api(`${API}/workflows`);
      for (const wf of body.workflows || []) {
        state.workflows.set(wf.id, wf);
        for (const sel of [$('f-workflow'), $('j-workflow')]) {
          if (![...sel.options].some((o) => o.value === wf.id)) {
            sel.append(el('option', {value: wf.id}, wf.name && wf.name !== wf.id
              ? `${wf.name} (${wf.id})` : wf.id));
          }
        }
      }
    } catch (e) {
      setError(e.message);
    }
  }

  /* A table's rows open with a click anywhere on them, or with the button
   * in their first cell (Enter, Space); ↑ ↓ Home End move between those
   * buttons, and the one last used is the one in the Tab order. */
  function rowNavigation(tbody, open, remember) {
    tbody.addEventListener('click', (ev) => {
      const tr = ev.target.closest('tr[data-id]');
      if (tr) open(tr.dataset.id);
    });
    tbody.addEventListener('focusin', (ev) => {
      const tr = ev.target.closest('tr[data-id]');
      if (!tr || !ev.target.matches('button.row-open')) return;
      for (const other of tbody.querySelectorAll('button.row-open[tabindex="0"]')) {
        if (other !== ev.target) other.tabIndex = -1;
      }
      ev.target.tabIndex = 0;
      remember(tr.dataset.id);
    });
    tbody.addEventListener('keydown', (ev) => {
      const tr = ev.target.closest('tr[data-id]');
      if (!tr) return;
      let next = null;
      if (ev.key === 'ArrowDown') next = tr.nextElementSibling;
      else if (ev.key === 'ArrowUp') next = tr.previousElementSibling;
      else if (ev.key === 'Home') next = tbody.firstElementChild;
      else if (ev.key === 'End') next = tbody.lastElementChild;
      if (next && openerOf(next)) {
        ev.preventDefault();
        openerOf(next).focus();
      }
    });
  }

  function wire() {
    $('tz').textContent = tzText();
    wrapTables(document);
    for (const id of ['f-workflow', 'f-status', 'f-limit']) $(id).addEventListener('change', restart);
    $('f-range').addEventListener('change', () => {
      if ($('f-range').value === 'custom' && !$('f-since').value) {
        $('f-since').value = toLocalInput(Date.now() - 3600e3);
      }
      restart();
    });
    for (const id of ['f-since', 'f-until']) {
      $(id).addEventListener('change', () => {
        $('f-range').value = 'custom';
        restart();
      });
    }
    /* The form's fields take their defaults only after the reset event. */
    $('filters').addEventListener('reset', () => {
      state.gen++; /* an answer still in flight is for the old filters */
      setBusy($('panel-runs'), true);
      setTimeout(restart, 0);
    });
    $('filters').addEventListener('submit', (ev) => { ev.preventDefault(); restart(); });
    $('f-identity').addEventListener('change', restart);
    for (const id of ['j-status', 'j-workflow', 'j-reason']) {
      $(id).addEventListener('change', restartRequests);
    }
    $('jfilters').addEventListener('submit', (ev) => { ev.preventDefault(); restartRequests(); });
    $('jfilters').addEventListener('reset', () => {
      state.gen++;
      setBusy($('panel-requests'), true);
      setTimeout(restartRequests, 0);
    });
    $('live').addEventListener('change', () => {
      if ($('live').checked) refresh({poll: true});
      else { clearTimeout(state.timer); $('live-status').textContent = 'Paused'; }
    });
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        if (state.lastStats) renderStats(...state.lastStats, true);
      }, 150);
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && $('live').checked) refresh({poll: true});
    });

    $('runs-older').addEventListener('click', () => {
      if (!state.runNext) return;
      state.runCursors.push(state.runNext);
      state.shownSig = '';
      refresh();
    });
    $('runs-newer').addEventListener('click', () => {
      if (state.runCursors.length > 1) state.runCursors.pop();
      state.shownSig = '';
      refresh();
    });
    $('requests-next').addEventListener('click', () => {
      if (!state.reqNext) return;
      state.reqCursors.push(state.reqNext);
      refresh();
    });
    $('requests-prev').addEventListener('click', () => {
      if (state.reqCursors.length > 1) state.reqCursors.pop();
      refresh();
    });

    /* Rows: click or Enter/Space opens; arrows move between rows. */
    rowNavigation($('runs'), openDetail, (id) => { state.rovingId = id; });
    rowNavigation($('requests'), openRequest, () => {});

    /* The dialog closes on Escape by itself; focus goes back to the row. */
    const dlg = $('detail');
    $('detail-close').addEventListener('click', () => dlg.close());
    dlg.addEventListener('click', (ev) => { if (ev.target === dlg) dlg.close(); });
    dlg.addEventListener('close', () => {
      const rowsOf = state.detailKind === 'request' ? $('requests') : $('runs');
      const row = state.detailId
        ? rowsOf.querySelector(`tr[data-id="${CSS.escape(state.detailId)}"]`) : null;
      state.detailId = null;
      setBusy(dlg, false);
      if (openerOf(row)) openerOf(row).focus();
    });

    /* Tabs: click, or arrows between them (WAI-ARIA tabs pattern). */
    $('tab-runs').addEventListener('click', () => selectTab('runs'));
    $('tab-requests').addEventListener('click', () => selectTab('requests'));
    $('tab-workflows').addEventListener('click', () => selectTab('workflows'));
    $('tab-whatif').addEventListener('click', () => selectTab('whatif'));
    $('whatif-file').addEventListener('change', () => {
      const file = $('whatif-file').files[0];
      if (file) loadWhatif(file);
    });
    $('tab-alerts').addEventListener('click', () => selectTab('alerts'));
    document.querySelector('[role="tablist"]').addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        ev.preventDefault();
        const step = ev.key === 'ArrowRight' ? 1 : TABS.length - 1;
        selectTab(TABS[(TABS.indexOf(state.tab) + step) % TABS.length], true);
      }
    });
    $('workflows').addEventListener('click', (ev) => {
      const button = ev.target.closest('button[data-capture]');
      if (button) armCapture(button.dataset.capture);
    });
  }

  async function start() {
    wire();
    await loadWorkflows();
    const tab = loadHash();
    state.address = location.hash;
    window.addEventListener('hashchange', followAddress);
    window.addEventListener('popstate', followAddress);
    if (tab !== 'runs') selectTab(tab, false, true);
    else refresh();
  }

  start();
}());
