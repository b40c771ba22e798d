// Sluice's driver UI: plain JavaScript, no build step. It polls the JSON
// API (api/...) and draws the header, four uPlot charts, the batch table
// down to tasks, workers, the event log, the stream graph (an SVG laid out
// here) and the stateful operators.
//
// Every text from the API goes into the page through textContent or
// setAttribute (el and svgEl below), never as HTML.
(() => {
  'use strict';

  const POLL_MS = 1000; // how often the page polls the API
  const STATE_POLL_MS = 2000; // operators, while the State view is shown
  const MAX_POINTS = 300; // points per chart
  const MAX_BATCHES = 2000; // batches kept in the page
  const TABLE_ROWS = 200; // rows of the batch table
  const MAX_EVENTS = 1000; // rows of the event log
  const CHART_HEIGHT = 170;

  // ---- DOM helpers -------------------------------------------------------

  // el builds an element: attrs sets attributes (on* keys add listeners,
  // false/null/undefined values are left out); children are nodes or
  // text (strings and numbers become text nodes).
  function el(tag, attrs, ...children) {
    return build(document.createElement(tag), attrs, children);
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function svgEl(tag, attrs, ...children) {
    return build(document.createElementNS(SVG_NS, tag), attrs, children);
  }

  function build(node, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const $ = (sel) => document.querySelector(sel);

  // ---- formatting --------------------------------------------------------

  const nf = new Intl.NumberFormat('en-US');
  const fmtInt = (n) => (n === null || n === undefined ? '–' : nf.format(Math.round(n)));

  function fmtMs(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
    if (ms < 10) return ms.toFixed(1) + ' ms';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(2) + ' s';
    return fmtDuration(ms);
  }

  function fmtRate(r) {
    if (r === null || r === undefined) return '–';
    if (r >= 1e6) return (r / 1e6).toFixed(2) + 'M/s';
    if (r >= 1e4) return (r / 1e3).toFixed(1) + 'k/s';
    return nf.format(Math.round(r)) + '/s';
  }

  // fmtShort is for axis ticks: 1.5k, 2M.
  function fmtShort(v) {
    const a = Math.abs(v);
    if (a >= 1e6) return +(v / 1e6).toFixed(1) + 'M';
    if (a >= 1e3) return +(v / 1e3).toFixed(1) + 'k';
    return +v.toFixed(2) + '';
  }

  function fmtBytes(b) {
    if (b === null || b === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i === 0 ? b : b.toFixed(b < 10 ? 2 : 1)) + ' ' + units[i];
  }

  // fmtDuration is for uptimes and ages: 12s, 5m 03s, 1h 02m, 3d 4h.
  function fmtDuration(ms) {
    let s = Math.max(0, Math.floor(ms / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const p = (n) => String(n).padStart(2, '0');
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${p(m)}m`;
    if (m > 0) return `${m}m ${p(s)}s`;
    return `${s}s`;
  }

  const p2 = (n) => String(n).padStart(2, '0');
  // fmtClock is a time of day with milliseconds, local time.
  function fmtClock(t) {
    if (!t) return '–';
    const d = t instanceof Date ? t : new Date(t);
    if (Number.isNaN(d.getTime())) return '–';
    return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
  }
  function fmtDateTime(t) {
    if (!t) return '–';
    const d = new Date(t);
    if (Number.isNaN(d.getTime())) return '–';
    return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${fmtClock(d)}`;
  }
  // ms reads a JSON time; 0 for a missing or zero time.
  function ms(t) {
    if (!t) return 0;
    const v = Date.parse(t);
    return Number.isNaN(v) || v < 0 ? 0 : v;
  }

  // ---- API ---------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  // api GETs a JSON answer; every failure is an ApiError (status 0: the
  // driver could not be reached).
  async function api(path) {
    let r;
    try {
      r = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
    } catch (e) {
      throw new ApiError(0, 'cannot reach the driver: ' + e.message);
    }
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) throw new ApiError(r.status, (body && body.error) || `${r.status} ${r.statusText}`);
    return body;
  }

  // ---- page state --------------------------------------------------------

  const S = {
    overview: null,
    batchMs: 0,
    batches: [], // oldest first
    lastBatchMs: 0,
    events: [],
    lastSeq: 0,
    eventKinds: new Set(),
    workers: [],
    view: 'streaming',
    graphDrawn: '',
    // dirty says the charts and the batch table need a redraw.
    dirty: true,
  };

  // ---- header ------------------------------------------------------------

  function renderOverview(o) {
    const now = ms(o.now), started = ms(o.started);
    const facts = [
      ['Master', o.master || '–'],
      ['Batch interval', fmtMs(o.batch_ms)],
      ['Uptime', started ? fmtDuration(now - started) : '–'],
      ['Batches', fmtInt(o.batches), o.failed_batches ? el('span', { class: 'bad' }, ` (${fmtInt(o.failed_batches)} failed)`) : null],
      ['Records', fmtInt(o.input_records)],
      ['Workers', el('span', { class: 'good' }, `${o.workers_alive} alive`),
        o.workers_lost ? el('span', { class: 'bad' }, ` · ${o.workers_lost} lost`) : null],
      ['Running tasks', fmtInt(o.running_tasks)],
    ];
    if (o.checkpoint) facts.push(['Checkpoint', o.checkpoint]);
    $('#overview').replaceChildren(...facts.map(([k, ...v]) => el('div', { class: 'fact' }, el('dt', null, k), el('dd', null, ...v))));

    const inputs = (o.inputs || []).map((i) => el('span', { class: 'chip', 'data-input': i.name },
      el('b', null, i.name), ' ',
      i.rate_limit > 0 ? `≤ ${fmtRate(i.rate_limit)}` : 'no rate limit',
      i.bad_records ? el('span', { class: 'bad' }, ` · ${fmtInt(i.bad_records)} bad records`) : null));
    $('#inputs').replaceChildren(...(inputs.length ? [el('span', { class: 'label' }, 'Inputs'), ...inputs] : []));
    document.title = o.master ? `Sluice · ${o.master}` : 'Sluice';
    $('#count-workers').textContent = o.workers_lost ? `${o.workers_alive}/${o.workers_alive + o.workers_lost}` : String(o.workers_alive);
  }

  function setConnected(err) {
    const c = $('#conn');
    if (err) {
      c.dataset.state = 'down';
      c.textContent = 'disconnected';
      c.title = err.message || String(err);
    } else {
      c.dataset.state = 'live';
      c.textContent = 'live';
      c.title = 'polling every second';
    }
  }

  // ---- charts ------------------------------------------------------------

  const CHARTS = [
    { id: 'input-rate', field: 'input_rate', label: 'input rate', color: '#2563eb', fmt: fmtRate, interval: false },
    { id: 'scheduling-delay', field: 'scheduling_delay_ms', label: 'scheduling delay', color: '#7c3aed', fmt: fmtMs, interval: true },
    { id: 'processing', field: 'processing_ms', label: 'processing time', color: '#0891b2', fmt: fmtMs, interval: true },
    { id: 'total-delay', field: 'total_delay_ms', label: 'total delay', color: '#ea580c', fmt: fmtMs, interval: true },
  ];

  function makeChart(c) {
    const box = document.getElementById('chart-' + c.id);
    const series = [
      { label: 'batch', value: (u, v) => (v === null || v === undefined ? '–' : fmtClock(v * 1000)) },
      { label: c.label, stroke: c.color, width: 1.5, fill: c.color + '1f', points: { show: false },
        value: (u, v) => (v === null || v === undefined ? '–' : c.fmt(v)) },
    ];
    if (c.interval) {
      series.push({ label: 'batch interval', stroke: '#dc2626', width: 1, dash: [6, 4], points: { show: false },
        value: (u, v) => (v === null || v === undefined ? '–' : fmtMs(v)) });
    }
    const axis = { stroke: '#64748b', grid: { stroke: '#eef1f5', width: 1 }, ticks: { stroke: '#e2e8f0', width: 1 }, font: '11px system-ui, sans-serif' };
    const opts = {
      width: Math.max(box.clientWidth, 240),
      height: CHART_HEIGHT,
      series,
      // Room on the right for half the last time label (uPlot's default
      // is narrower than "00:00:00.0").
      padding: [null, 36, null, null],
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      axes: [Object.assign({}, axis, { space: 80, incrs: TIME_INCRS, values: timeTicks }),
        Object.assign({}, axis, { size: 46, values: (u, vals) => vals.map(fmtShort) })],
      cursor: { drag: { x: false, y: false } },
      legend: { show: true, live: true },
    };
    const data = c.interval ? [[], [], []] : [[], []];
    c.plot = new uPlot(opts, data, box);
    c.box = box;
    // Follow the container's width (it is 0 while the view is hidden).
    new ResizeObserver((entries) => {
      const w = Math.floor(entries[0].contentRect.width);
      if (w > 0 && w !== c.plot.width) c.plot.setSize({ width: w, height: CHART_HEIGHT });
    }).observe(box);
  }

  // TIME_INCRS are the time axis' tick steps, in seconds: uPlot's lack 2 s,
  // which leaves 10 s of one-second batches with two labels.
  const TIME_INCRS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200, 86400];

  // timeTicks labels the time axis (x in seconds) with times of day on
  // one line, as the tables show them, with tenths (or hundredths…) of a
  // second when ticks are closer than a second. (uPlot's default adds a
  // date line and 12-hour times.)
  function timeTicks(u, splits, axisIdx, space, incr) {
    const digits = incr >= 1 ? 0 : incr >= 0.1 ? 1 : incr >= 0.01 ? 2 : 3;
    return splits.map((s) => {
      const d = new Date(Math.round(s * 1000));
      const hms = `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
      return digits ? hms + '.' + String(d.getMilliseconds()).padStart(3, '0').slice(0, digits) : hms;
    });
  }

  function redrawCharts() {
    const pts = S.batches.slice(-MAX_POINTS);
    const xs = pts.map((b) => ms(b.time) / 1000);
    for (const c of CHARTS) {
      const ys = pts.map((b) => b[c.field]);
      const data = [xs, ys];
      if (c.interval) data.push(pts.map(() => (S.batchMs > 0 ? S.batchMs : null)));
      c.plot.setData(data);
      c.box.dataset.points = String(xs.length);
      const last = pts.length ? c.fmt(pts[pts.length - 1][c.field]) : '';
      document.getElementById('last-' + c.id).textContent = last;
    }
  }

  // ---- batches -----------------------------------------------------------

  function addBatches(list) {
    let added = 0;
    for (const b of list || []) {
      const t = ms(b.time);
      if (t <= S.lastBatchMs) continue; // already have it
      S.batches.push(b);
      S.lastBatchMs = t;
      added++;
    }
    if (S.batches.length > MAX_BATCHES) S.batches.splice(0, S.batches.length - MAX_BATCHES);
    return added;
  }

  function batchStatus(b) {
    if (b.error) return el('span', { class: 'badge failed', title: b.error }, 'failed');
    if (b.failed_tasks) return el('span', { class: 'badge warn', title: `${b.failed_tasks} task attempts failed and were retried` }, 'retried');
    return el('span', { class: 'badge ok' }, 'ok');
  }

  function delayCell(v) {
    const late = S.batchMs > 0 && v > S.batchMs;
    return el('td', { class: late ? 'num late' : 'num', title: late ? 'longer than the batch interval' : null }, fmtMs(v));
  }

  function renderBatchTable() {
    const rows = [];
    for (let i = S.batches.length - 1; i >= 0 && rows.length < TABLE_ROWS; i--) {
      const b = S.batches[i];
      const t = ms(b.time);
      const href = '#/batch/' + t;
      rows.push(el('tr', { 'data-batch': t, class: 'link', onclick: (e) => { if (e.target.tagName !== 'A') location.hash = href; } },
        el('td', null, el('a', { href }, fmtClock(b.time))),
        el('td', { class: 'num' }, fmtInt(b.input_records)),
        el('td', { class: 'num' }, fmtRate(b.input_rate)),
        delayCell(b.scheduling_delay_ms),
        delayCell(b.processing_ms),
        delayCell(b.total_delay_ms),
        el('td', { class: 'num' }, fmtInt(b.jobs)),
        el('td', { class: 'num' }, fmtInt(b.tasks),
          b.failed_tasks ? el('span', { class: 'mini bad', title: 'failed attempts' }, ` · ${b.failed_tasks} failed`) : null,
          b.speculative ? el('span', { class: 'mini spec', title: 'speculative copies' }, ` · ${b.speculative} spec`) : null),
        el('td', null, batchStatus(b))));
    }
    $('#batches tbody').replaceChildren(...rows);
    $('#batches-empty').hidden = S.batches.length > 0;
    $('#batches-hint').textContent = S.batches.length > TABLE_ROWS ? `newest ${TABLE_ROWS} of ${fmtInt(S.batches.length)}` :
      S.batches.length ? `${fmtInt(S.batches.length)}, newest first` : '';
  }

  // ---- batch detail ------------------------------------------------------

  let batchShown = 0; // the batch the detail view shows or loads

  async function showBatch(t) {
    batchShown = t;
    $('#batch-title').textContent = 'Batch ' + fmtDateTime(t);
    $('#batch-body').replaceChildren(el('p', { class: 'empty' }, 'Loading…'));
    renderBatchNav(t);
    let d;
    try {
      d = await api('api/batches/' + t);
    } catch (e) {
      if (batchShown === t) $('#batch-body').replaceChildren(errorBox(e));
      return;
    }
    if (batchShown !== t) return; // another batch was asked meanwhile
    $('#batch-body').replaceChildren(...renderBatchDetail(d));
  }

  function renderBatchNav(t) {
    const i = S.batches.findIndex((b) => ms(b.time) === t);
    const links = [];
    if (i > 0) links.push(el('a', { href: '#/batch/' + ms(S.batches[i - 1].time) }, '‹ older'));
    if (i >= 0 && i < S.batches.length - 1) links.push(el('a', { href: '#/batch/' + ms(S.batches[i + 1].time) }, 'newer ›'));
    $('#batch-nav').replaceChildren(...links);
  }

  function renderBatchDetail(d) {
    const facts = el('dl', { class: 'facts light' },
      ...[
        ['Status', batchStatus(d)],
        ['Input records', fmtInt(d.input_records)],
        ['Input rate', fmtRate(d.input_rate)],
        ['Scheduling delay', fmtMs(d.scheduling_delay_ms)],
        ['Processing', fmtMs(d.processing_ms)],
        ['Total delay', fmtMs(d.total_delay_ms)],
        ['Tasks', `${fmtInt(d.tasks)} (${fmtInt(d.failed_tasks)} failed, ${fmtInt(d.speculative)} speculative)`],
      ].map(([k, v]) => el('div', { class: 'fact' }, el('dt', null, k), el('dd', null, v))));
    const out = [facts];
    if (d.error) out.push(el('div', { class: 'error' }, d.error));
    const jobs = d.jobs || [];
    if (!jobs.length) out.push(el('p', { class: 'empty' }, 'This batch ran no job.'));
    const ntasks = jobs.reduce((n, j) => n + (j.stages || []).reduce((m, s) => m + (s.tasks || []).length, 0), 0);
    const open = ntasks <= 400; // open every stage unless the page would be huge
    for (const j of jobs) out.push(renderJob(j, open));
    return out;
  }

  function renderJob(j, open) {
    const stages = j.stages || [];
    return el('details', { class: 'job', open: true, 'data-job': j.id },
      el('summary', null,
        el('b', null, `Job ${j.id}`), ' ', el('span', { class: 'mono' }, j.output || ''),
        el('span', { class: 'meta' }, ` started ${fmtClock(j.started)} · ${fmtMs(j.duration_ms)} · ${stages.length} stage${stages.length === 1 ? '' : 's'}`),
        j.error ? el('span', { class: 'badge failed', title: j.error }, 'failed') : null),
      j.error ? el('div', { class: 'error' }, j.error) : null,
      ...stages.map((s) => renderStage(s, open)));
  }

  function renderStage(s, open) {
    const tasks = s.tasks || [];
    const failed = tasks.filter((t) => t.status === 'failed').length;
    return el('details', { class: 'stage', open, 'data-stage': s.id },
      el('summary', null,
        el('b', null, `Stage ${s.id}`), ' ',
        el('span', { class: 'badge ' + (s.map ? 'map' : 'result') }, s.map ? 'shuffle map' : 'result'), ' ',
        el('span', { class: 'mono' }, s.dataset || ''),
        el('span', { class: 'meta' }, ` · ${tasks.length} task${tasks.length === 1 ? '' : 's'}`),
        failed ? el('span', { class: 'mini bad' }, ` · ${failed} failed`) : null),
      el('table', { class: 'grid tasks' },
        el('thead', null, el('tr', null,
          ...['Partition', 'Attempt', 'Worker', 'Launched', 'Duration', 'Records', 'Shuffle write', 'Shuffle read', 'Status', 'Error']
            .map((h, i) => el('th', { class: i === 0 || i === 1 || (i >= 4 && i <= 7) ? 'num' : null }, h)))),
        el('tbody', null, ...tasks.map(renderTask))));
  }

  function renderTask(t) {
    return el('tr', { class: 'task', 'data-status': t.status, 'data-partition': t.partition },
      el('td', { class: 'num' }, t.partition),
      el('td', { class: 'num' }, t.attempt),
      el('td', { class: 'nowrap' }, t.worker || '–', t.speculative ? el('span', { class: 'badge spec', title: 'a speculative (backup) copy' }, 'speculative') : null),
      el('td', null, fmtClock(t.launched)),
      el('td', { class: 'num' }, t.status === 'running' ? '…' : fmtMs(t.duration_ms)),
      el('td', { class: 'num' }, fmtInt(t.records)),
      el('td', { class: 'num' }, fmtBytes(t.shuffle_write_bytes)),
      el('td', { class: 'num' }, fmtBytes(t.shuffle_read_bytes)),
      el('td', null, el('span', { class: 'badge ' + statusClass(t.status) }, t.status || '?')),
      el('td', { class: 'errtext' }, t.error || ''));
  }

  function statusClass(s) {
    return { ok: 'ok', failed: 'failed', running: 'running', cancelled: 'cancelled' }[s] || 'neutral';
  }

  function errorBox(e) {
    return el('div', { class: 'error', 'data-status': e.status || '' },
      e.status ? el('b', null, `${e.status} `) : null, e.message || String(e));
  }

  // ---- workers -----------------------------------------------------------

  function renderWorkers() {
    const now = S.overview ? ms(S.overview.now) : Date.now();
    const rows = S.workers.map((w) => el('tr', { 'data-worker': w.name, 'data-state': w.state },
      el('td', null, el('b', null, w.name),
        (w.addr || w.pid) ? el('div', { class: 'sub mono' }, [w.addr, w.pid ? `pid ${w.pid}` : ''].filter(Boolean).join(' · ')) : null),
      el('td', null, el('span', { class: 'badge state-' + w.state }, w.state)),
      el('td', { class: 'num' }, fmtInt(w.cores)),
      el('td', { class: 'num' }, fmtBytes(w.memory_bytes)),
      el('td', { class: 'num' }, fmtBytes(w.spilled_bytes)),
      el('td', { class: 'num' }, fmtInt(w.blocks)),
      el('td', { class: 'num' }, fmtInt(w.running_tasks)),
      el('td', { class: 'num' }, fmtInt(w.tasks)),
      el('td', { title: fmtDateTime(w.last_seen) }, w.last_seen ? fmtAgo(now - ms(w.last_seen)) : '–'),
      el('td', null, w.joined ? fmtDateTime(w.joined) : '–'),
      el('td', null, w.lost ? fmtDateTime(w.lost) : '–')));
    $('#workers tbody').replaceChildren(...rows);
    $('#workers-empty').hidden = S.workers.length > 0;
  }

  function fmtAgo(d) {
    if (d < 1000) return 'just now';
    return fmtDuration(d) + ' ago';
  }

  // ---- events ------------------------------------------------------------

  const KIND_CLASS = {
    'worker-joined': 'ok', 'worker-lost': 'failed', 'worker-excluded': 'warn', 'task-failed': 'failed',
    speculation: 'spec', recovery: 'warn', checkpoint: 'map', 'rate-change': 'neutral', 'batch-failed': 'failed', driver: 'neutral',
  };

  function addEvents(list) {
    const tbody = $('#events tbody');
    const filter = $('#event-kind').value;
    for (const e of list || []) {
      if (e.seq <= S.lastSeq) continue;
      S.lastSeq = e.seq;
      S.events.push(e);
      if (!S.eventKinds.has(e.kind)) {
        S.eventKinds.add(e.kind);
        $('#event-kind').append(el('option', { value: e.kind }, e.kind));
      }
      const b = ms(e.batch);
      const row = el('tr', { 'data-kind': e.kind, 'data-seq': e.seq },
        el('td', { title: fmtDateTime(e.time) }, fmtClock(e.time)),
        el('td', null, el('span', { class: 'badge ' + (KIND_CLASS[e.kind] || 'neutral') }, e.kind)),
        el('td', null, e.worker || ''),
        el('td', null, b ? el('a', { href: '#/batch/' + b }, fmtClock(b)) : ''),
        el('td', { class: 'msg' }, e.message));
      row.hidden = filter !== '' && filter !== e.kind;
      tbody.prepend(row); // newest first
    }
    while (S.events.length > MAX_EVENTS) {
      S.events.shift();
      tbody.lastElementChild.remove();
    }
    $('#events-empty').hidden = S.events.length > 0;
    $('#count-events').textContent = S.lastSeq ? fmtInt(S.lastSeq) : '';
  }

  $('#event-kind').addEventListener('change', () => {
    const k = $('#event-kind').value;
    for (const row of $('#events tbody').children) row.hidden = k !== '' && row.dataset.kind !== k;
  });

  // ---- stream graph ------------------------------------------------------

  const NODE_W = 200, NODE_H = 58, GAP_X = 44, GAP_Y = 22, DUMMY_H = 14, PAD = 16;

  // layoutGraph places the nodes in layers (the longest path from the
  // inputs), orders each layer by the barycentre of its neighbours (a few
  // sweeps, to reduce crossings), and routes the edges that skip layers
  // through dummy points so that they go around the nodes.
  function layoutGraph(g) {
    const nodes = new Map();
    for (const n of g.nodes || []) nodes.set(n.id, { n, id: n.id, preds: [], succs: [], layer: 0, dummy: false });
    const edges = (g.edges || []).filter((e) => nodes.has(e.from) && nodes.has(e.to) && e.from !== e.to);
    for (const e of edges) { nodes.get(e.from).succs.push(e.to); nodes.get(e.to).preds.push(e.from); }

    // Topological order (Kahn, smallest id first); a cycle, which a
    // stream graph cannot have, would leave nodes out: append them.
    const indeg = new Map([...nodes.values()].map((v) => [v.id, v.preds.length]));
    const ready = [...nodes.values()].filter((v) => v.preds.length === 0).map((v) => v.id).sort((a, b) => a - b);
    const topo = [];
    while (ready.length) {
      const id = ready.shift();
      topo.push(id);
      for (const s of nodes.get(id).succs) {
        indeg.set(s, indeg.get(s) - 1);
        if (indeg.get(s) === 0) { ready.push(s); ready.sort((a, b) => a - b); }
      }
    }
    for (const id of [...nodes.keys()].sort((a, b) => a - b)) if (!topo.includes(id)) topo.push(id);
    for (const id of topo) {
      const v = nodes.get(id);
      for (const s of v.succs) { const w = nodes.get(s); if (topo.indexOf(s) > topo.indexOf(id)) w.layer = Math.max(w.layer, v.layer + 1); }
    }

    // Dummy points for edges longer than one layer.
    const all = [...nodes.values()];
    const layerCount = all.reduce((m, v) => Math.max(m, v.layer + 1), 0);
    const layers = Array.from({ length: layerCount }, () => []);
    for (const id of topo) layers[nodes.get(id).layer].push(nodes.get(id));
    const routes = []; // per edge: the chain of vertices from source to target
    let dummyId = -1;
    const ups = new Map(), downs = new Map(); // adjacency between consecutive layers
    const link = (a, b) => {
      (downs.get(a) || downs.set(a, []).get(a)).push(b);
      (ups.get(b) || ups.set(b, []).get(b)).push(a);
    };
    for (const e of edges) {
      const from = nodes.get(e.from), to = nodes.get(e.to);
      const chain = [from];
      if (to.layer > from.layer) {
        for (let l = from.layer + 1; l < to.layer; l++) {
          const d = { id: dummyId--, dummy: true, layer: l };
          layers[l].push(d);
          chain.push(d);
        }
      }
      chain.push(to);
      for (let i = 1; i < chain.length; i++) link(chain[i - 1], chain[i]);
      routes.push({ e, chain });
    }

    // Crossing reduction: barycentre sweeps down and up.
    const pos = new Map();
    const index = () => layers.forEach((l) => l.forEach((v, i) => pos.set(v, i)));
    index();
    const sweep = (l, nb) => {
      const bc = new Map(l.map((v) => {
        const ns = nb.get(v) || [];
        return [v, ns.length ? ns.reduce((s, u) => s + pos.get(u), 0) / ns.length : pos.get(v)];
      }));
      l.sort((a, b) => bc.get(a) - bc.get(b) || pos.get(a) - pos.get(b));
      l.forEach((v, i) => pos.set(v, i));
    };
    for (let it = 0; it < 4; it++) {
      for (let i = 1; i < layers.length; i++) sweep(layers[i], ups);
      for (let i = layers.length - 2; i >= 0; i--) sweep(layers[i], downs);
    }

    // Coordinates: layers are columns, centred vertically.
    const heights = layers.map((l) => l.reduce((h, v) => h + (v.dummy ? DUMMY_H : NODE_H) + GAP_Y, -GAP_Y));
    const tallest = Math.max(0, ...heights);
    layers.forEach((l, i) => {
      let y = PAD + (tallest - heights[i]) / 2;
      for (const v of l) {
        v.x = PAD + i * (NODE_W + GAP_X);
        v.y = y;
        y += (v.dummy ? DUMMY_H : NODE_H) + GAP_Y;
      }
    });
    return {
      nodes: all, routes,
      width: PAD * 2 + Math.max(0, layerCount * (NODE_W + GAP_X) - GAP_X),
      height: PAD * 2 + tallest,
    };
  }

  // shortType is a record type as a node shows it: without import paths
  // (github.com/x/y/demo.Counts is demo.Counts), and sluice.KV, an alias
  // of the engine's dataset.KV that reflection names, as KV. The tooltip
  // has the full type.
  function shortType(t) {
    return String(t || '').replace(/[\w.~-]+\//g, '').replace(/(^|[^\w.])dataset\.KV\[/g, '$1KV[');
  }

  // edgePath draws an edge through its chain as joined cubic curves.
  function edgePath(chain) {
    const pts = chain.map((v, i) => {
      if (v.dummy) return [[v.x, v.y + DUMMY_H / 2], [v.x + NODE_W, v.y + DUMMY_H / 2]];
      return i === 0 ? [[v.x + NODE_W, v.y + NODE_H / 2]] : [[v.x - 2, v.y + NODE_H / 2]];
    }).flat();
    let d = `M${pts[0][0]},${pts[0][1]}`;
    for (let i = 1; i < pts.length; i++) {
      const [x0, y0] = pts[i - 1], [x1, y1] = pts[i];
      if (y0 === y1) { d += ` L${x1},${y1}`; continue; }
      const dx = (x1 - x0) / 2;
      d += ` C${x0 + dx},${y0} ${x1 - dx},${y1} ${x1},${y1}`;
    }
    return d;
  }

  // fitText shortens an SVG text element's content, with an ellipsis,
  // until it is at most width wide (the full text stays in the node's
  // tooltip). It measures the text, so the SVG must be displayed.
  function fitText(t, width) {
    const full = t.textContent;
    if (!t.getComputedTextLength || t.getComputedTextLength() <= width) return;
    let lo = 0, hi = full.length;
    while (lo < hi) { // the longest prefix that fits
      const mid = Math.ceil((lo + hi) / 2);
      t.textContent = full.slice(0, mid) + '…';
      if (t.getComputedTextLength() <= width) lo = mid; else hi = mid - 1;
    }
    t.textContent = full.slice(0, lo) + '…';
  }

  function renderGraph(g) {
    const box = $('#graph');
    const key = JSON.stringify(g);
    if (key === S.graphDrawn) return;
    S.graphDrawn = key;
    if (!(g.nodes || []).length) {
      box.replaceChildren(el('p', { class: 'empty' }, 'The stream graph is empty.'));
      return;
    }
    const L = layoutGraph(g);
    const root = svgEl('svg', { width: L.width, height: L.height, viewBox: `0 0 ${L.width} ${L.height}`, role: 'img', 'aria-label': 'stream graph' },
      svgEl('defs', null,
        svgEl('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
          svgEl('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))));
    const edges = svgEl('g', { class: 'edges' });
    for (const r of L.routes) {
      edges.append(svgEl('path', { d: edgePath(r.chain), class: 'edge', 'marker-end': 'url(#arrow)', 'data-edge': `${r.e.from}-${r.e.to}` }));
    }
    root.append(edges);
    for (const v of L.nodes) {
      const n = v.n;
      const cls = n.input ? 'input' : n.output ? 'output' : n.stateful ? 'stateful' : 'plain';
      const tip = [`#${n.id} ${n.kind}${n.name ? ' "' + n.name + '"' : ''}`, `type ${n.type}`,
        n.slide_ms ? `every ${fmtMs(n.slide_ms)}` : '', n.stateful ? 'stateful' : ''].filter(Boolean).join('\n');
      const lines = [svgEl('text', { x: 10, y: 18, class: 'kind' }, n.kind)];
      if (n.name) lines.push(svgEl('text', { x: 10, y: 34, class: 'nname' }, n.name));
      lines.push(svgEl('text', { x: 10, y: n.name ? 50 : 36, class: 'ntype' }, shortType(n.type)));
      const gnode = svgEl('g', { class: 'node ' + cls, 'data-node': n.id, transform: `translate(${v.x},${v.y})` },
        svgEl('title', null, tip),
        svgEl('rect', { width: NODE_W, height: NODE_H, rx: 7 }),
        svgEl('text', { x: NODE_W - 8, y: 18, class: 'nid', 'text-anchor': 'end' }, '#' + n.id),
        ...lines);
      gnode.fitLines = lines;
      gnode.idText = gnode.querySelector('.nid');
      if (n.stateful) {
        gnode.classList.add('clickable');
        gnode.addEventListener('click', () => { location.hash = '#/state'; });
      }
      root.append(gnode);
    }
    // Shrink a wide graph to the panel, down to 70%; wider still, it
    // scrolls.
    const avail = box.clientWidth;
    if (avail > 0 && L.width > avail && L.width * 0.7 <= avail) {
      root.setAttribute('width', avail);
      root.setAttribute('height', Math.round(L.height * avail / L.width));
    }
    box.replaceChildren(root);
    for (const g of root.querySelectorAll('g.node')) {
      // A long kind (ReduceByKeyAndWindow) takes the place of the id,
      // which the tooltip still shows.
      const room = NODE_W - 18, [kind, ...rest] = g.fitLines;
      if (kind.getComputedTextLength() > room - g.idText.getComputedTextLength() - 6) g.idText.remove();
      fitText(kind, g.idText.isConnected ? room - g.idText.getComputedTextLength() - 6 : room);
      rest.forEach((t) => fitText(t, room));
    }
  }

  async function loadGraph() {
    try {
      renderGraph(await api('api/graph'));
    } catch (e) {
      S.graphDrawn = '';
      $('#graph').replaceChildren(errorBox(e));
    }
  }

  // ---- stateful operators ------------------------------------------------

  const opRows = new Map(); // name → {row, form row, cells}

  function renderOperators(ops) {
    const tbody = $('#operators tbody');
    const seen = new Set();
    let next = tbody.firstElementChild; // where the next operator's rows go
    for (const o of ops || []) {
      seen.add(o.name);
      let r = opRows.get(o.name);
      if (!r) {
        r = makeOperatorRows(o.name);
        opRows.set(o.name, r);
      }
      const vals = [o.name, o.kind, o.node, o.batch ? fmtClock(o.batch) : 'no batch yet', fmtInt(o.keys), fmtBytes(o.bytes),
        fmtInt(o.evictions), fmtInt(o.evictions_total), fmtInt(o.partitions), o.checkpoint_every ? `${o.checkpoint_every} batches` : '–'];
      vals.forEach((v, i) => { if (r.cells[i].textContent !== String(v)) r.cells[i].textContent = String(v); });
      // Keep the API's order, moving rows only when it changed: moving a
      // row takes the focus from its input.
      if (next !== r.row) tbody.insertBefore(r.row, next);
      if (r.row.nextElementSibling !== r.form) tbody.insertBefore(r.form, r.row.nextElementSibling);
      next = r.form.nextElementSibling;
    }
    for (const [name, r] of opRows) {
      if (!seen.has(name)) { r.row.remove(); r.form.remove(); opRows.delete(name); }
    }
    $('#operators-empty').hidden = opRows.size > 0;
    $('#count-operators').textContent = opRows.size ? String(opRows.size) : '';
  }

  function makeOperatorRows(name) {
    const cells = Array.from({ length: 10 }, (_, i) => el('td', { class: i === 2 || i >= 4 ? 'num' : null }));
    cells[0].classList.add('strong');
    const row = el('tr', { 'data-operator': name }, ...cells);
    const result = el('div', { class: 'lookup-result', 'data-lookup-result': name });
    const key = el('input', { name: 'key', type: 'text', placeholder: 'key', autocomplete: 'off', spellcheck: 'false' });
    const sample = el('input', { name: 'sample', type: 'number', min: 1, max: 1000, value: 20 });
    const form = el('form', { class: 'lookup', 'data-lookup': name },
      el('label', null, 'Key ', key), el('button', { type: 'submit', name: 'mode', value: 'key' }, 'Read key'),
      el('span', { class: 'or' }, 'or'),
      el('label', null, 'a sample of ', sample, ' keys'), el('button', { type: 'submit', name: 'mode', value: 'sample' }, 'Sample'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const mode = ev.submitter && ev.submitter.value === 'sample' ? 'sample' : 'key';
      const q = mode === 'key' ? 'key=' + encodeURIComponent(key.value) : 'sample=' + encodeURIComponent(sample.value);
      lookup(name, q, result);
    });
    const formRow = el('tr', { class: 'lookup-row' }, el('td', { colspan: 10 }, form, result));
    return { row, form: formRow, cells };
  }

  async function lookup(name, q, out) {
    out.replaceChildren(el('p', { class: 'empty' }, 'Reading…'));
    try {
      const r = await api(`api/state/${encodeURIComponent(name)}?${q}`);
      const entries = r.entries || [];
      out.replaceChildren(
        el('p', { class: 'meta' }, `${fmtInt(entries.length)} entr${entries.length === 1 ? 'y' : 'ies'} · batch ${fmtClock(r.batch)} · ${fmtInt(r.partitions)} partition${r.partitions === 1 ? '' : 's'} read`),
        entries.length ? el('table', { class: 'grid entries' },
          el('thead', null, el('tr', null, el('th', null, 'Key'), el('th', null, 'State'))),
          el('tbody', null, ...entries.map((e) => el('tr', { class: 'entry' },
            el('td', null, el('code', null, JSON.stringify(e.key))),
            el('td', null, el('pre', null, JSON.stringify(e.value, null, 2)))))))
          : el('p', { class: 'empty' }, 'No such key.'));
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  }

  // ---- polling and routing -----------------------------------------------

  async function pollOverview() {
    const o = await api('api/overview');
    if (S.overview && S.overview.started !== o.started) resetJob();
    S.overview = o;
    if (o.batch_ms !== S.batchMs) S.dirty = true;
    S.batchMs = o.batch_ms;
    renderOverview(o);
  }

  // resetJob forgets what the page learnt of a driver that was replaced
  // (a restarted driver numbers its events from 1 again).
  function resetJob() {
    S.batches = [];
    S.lastBatchMs = 0;
    S.events = [];
    S.lastSeq = 0;
    $('#events tbody').replaceChildren();
    S.graphDrawn = '';
    S.dirty = true;
    if (S.view === 'graph') loadGraph();
  }

  async function pollBatches() {
    const list = await api(S.lastBatchMs ? 'api/batches?since=' + S.lastBatchMs : 'api/batches');
    if (addBatches(list) > 0) S.dirty = true;
  }

  async function pollEvents() {
    addEvents(await api('api/events?after=' + S.lastSeq));
  }

  async function pollWorkers() {
    S.workers = (await api('api/workers')) || [];
    renderWorkers();
  }

  async function tick() {
    const results = await Promise.allSettled([pollOverview(), pollBatches(), pollEvents(), pollWorkers()]);
    const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    setConnected(failed.find((e) => e instanceof ApiError));
    // Anything else is a bug of this page: say so where tests look.
    failed.filter((e) => !(e instanceof ApiError)).forEach((e) => console.error('sluice ui:', e));
    if (S.dirty) {
      S.dirty = false;
      redrawCharts();
      renderBatchTable();
      if (S.view === 'batch') renderBatchNav(batchShown);
    }
    setTimeout(tick, POLL_MS);
  }

  let stateTimer = 0;
  async function pollOperators() {
    clearTimeout(stateTimer);
    try {
      renderOperators(await api('api/state'));
    } catch (e) {
      if (e instanceof ApiError) setConnected(e); else console.error('sluice ui:', e);
    }
    if (S.view === 'state') stateTimer = setTimeout(pollOperators, STATE_POLL_MS);
  }

  function route() {
    const h = location.hash.replace(/^#/, '') || '/';
    const m = h.match(/^\/batch\/(\d+)$/);
    let view = { '/workers': 'workers', '/events': 'events', '/graph': 'graph', '/state': 'state' }[h] || 'streaming';
    if (m) view = 'batch';
    S.view = view;
    for (const s of document.querySelectorAll('main > .view')) s.hidden = s.id !== 'view-' + view;
    for (const a of document.querySelectorAll('#tabs a')) {
      a.classList.toggle('active', a.dataset.view === view || (view === 'batch' && a.dataset.view === 'streaming'));
    }
    if (view === 'batch') showBatch(Number(m[1]));
    if (view === 'graph') loadGraph();
    if (view === 'state') pollOperators();
  }

  CHARTS.forEach(makeChart);
  window.addEventListener('hashchange', route);
  route();
  tick();
})();
