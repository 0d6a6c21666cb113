/* The Runnel dashboard: one page over the REST Proxy v3 API, Kafka Connect's REST API (under /connect) and the
   dashboard's own /ui/api endpoints. No dependencies; the charts are drawn here as SVG. The current view polls
   every 2 seconds while the tab is visible and stops while it is hidden. */
'use strict';

(function () {
  const POLL_MS = 2000;
  const COLORS = { in: '#2458d3', out: '#c2410c', messages: '#0f7b6c', lag: '#7c3aed' };
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // MARK: - DOM helpers

  function setAttributes(el, attrs) {
    if (!attrs) return;
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.setAttribute('class', value);
      else if (key === 'text') el.textContent = value;
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
      else if (key === 'style') el.style.cssText = String(value);
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  /** An HTML element: h('a', {href: '#'}, 'text', child...). Text is always inserted as text, never as markup. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttributes(el, attrs);
    return append(el, children);
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttributes(el, attrs);
    return append(el, children);
  }

  /** Replaces the children of `container` with `build()` only when `signature` changed since the last call, so
      polling an unchanged server touches nothing (and keeps focus, selections and open details). */
  function renderIfChanged(container, signature, build) {
    if (container._signature === signature) return false;
    container._signature = signature;
    const identity = (el) => el.getAttribute('href') || el.getAttribute('aria-label') || el.textContent;
    const active = document.activeElement;
    const focused = active && active !== container && container.contains(active) ? identity(active) : null;
    container.replaceChildren(...[build()].flat(Infinity).filter((c) => c));
    if (focused !== null) {
      const match = Array.from(container.querySelectorAll('a, button')).find((el) => identity(el) === focused);
      if (match) match.focus({ preventScroll: true });
    }
    return true;
  }

  let idCounter = 0;
  const uid = (prefix) => `${prefix}-${++idCounter}`;
  const enc = encodeURIComponent;

  // MARK: - Formatting

  const integerFormat = new Intl.NumberFormat('en-US');
  const fmtInt = (n) => (n === null || n === undefined ? '—' : integerFormat.format(n));

  function trimNumber(x) {
    if (x === 0) return '0';
    const a = Math.abs(x);
    const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
    return String(Number(x.toFixed(digits)));
  }

  const KINDS = {
    bytes: { base: 1024, units: ['B/s', 'KB/s', 'MB/s', 'GB/s', 'TB/s'] },
    messages: { base: 1000, units: ['msg/s', 'k msg/s', 'M msg/s', 'G msg/s'] },
    count: { base: 1000, units: ['', 'k', 'M', 'G'], integer: true },
  };

  function pickUnit(kind, max) {
    const spec = KINDS[kind];
    let index = 0;
    let div = 1;
    while (index < spec.units.length - 1 && max >= div * spec.base) {
      div *= spec.base;
      index += 1;
    }
    return { div, unit: spec.units[index] };
  }

  function withUnit(value, unit) {
    const text = trimNumber(value / unit.div);
    return unit.unit ? `${text} ${unit.unit}` : text;
  }

  function fmtValue(value, kind) {
    if (value === null || value === undefined) return '—';
    return withUnit(value, pickUnit(kind, Math.abs(value)));
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return '—';
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let index = 0;
    let value = n;
    while (value >= 1024 && index < units.length - 1) {
      value /= 1024;
      index += 1;
    }
    return `${index === 0 ? value : trimNumber(value)} ${units[index]}`;
  }

  function fmtDuration(seconds) {
    const total = Math.max(0, Math.floor(seconds));
    const d = Math.floor(total / 86400);
    const hrs = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const sec = total % 60;
    if (d) return `${d}d ${hrs}h`;
    if (hrs) return `${hrs}h ${m}m`;
    if (m) return `${m}m ${sec}s`;
    return `${sec}s`;
  }

  const pad = (n, width = 2) => String(n).padStart(width, '0');
  function fmtClock(ms, withSeconds = true) {
    const d = new Date(ms);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}${withSeconds ? ':' + pad(d.getSeconds()) : ''}`;
  }
  function fmtTimestamp(value) {
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) return String(value);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtClock(d)}.${pad(d.getMilliseconds(), 3)}`;
  }

  const shortClass = (name) => (name ? String(name).split('.').pop() : '—');
  const last = (array) => (array && array.length ? array[array.length - 1] : null);
  function lastNonNull(array) {
    if (!array) return null;
    for (let i = array.length - 1; i >= 0; i -= 1) if (array[i] !== null && array[i] !== undefined) return array[i];
    return null;
  }

  // MARK: - API

  class ApiError extends Error {
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** Fetches JSON; a non-2xx answer throws an ApiError carrying the server's `message`. */
  async function api(path, options = {}) {
    // X-Requested-With: a header no cross-site form can send (the server wants one on a browser's writes).
    const init = { method: options.method || 'GET', headers: { Accept: 'application/json', 'X-Requested-With': 'runnel-dashboard' } };
    if (options.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, 'Cannot reach the Runnel server.');
    }
    const text = response.status === 204 ? '' : await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (error) {
        data = null;
      }
    }
    if (!response.ok) {
      const message = data && typeof data.message === 'string' && data.message
        ? data.message
        : `HTTP ${response.status} ${response.statusText}`.trim();
      throw new ApiError(response.status, message, data && data.error_code);
    }
    return data;
  }

  const app = { clusterId: null, view: null, sampleSeconds: 2 };

  async function clusterBase() {
    if (!app.clusterId) {
      const overview = await api('/ui/api/overview');
      setHeader(overview);
    }
    return `/v3/clusters/${enc(app.clusterId)}`;
  }

  function setHeader(overview) {
    app.clusterId = overview.cluster_id;
    app.sampleSeconds = overview.sample_interval_seconds || 2;
    document.getElementById('header-cluster').textContent = overview.cluster_id || '—';
    document.getElementById('header-version').textContent = overview.version || '—';
  }

  // MARK: - Messages

  const messages = () => document.getElementById('messages');

  /** Shows a message in the page's live region; errors stay longer and are announced assertively. */
  function notify(text, kind = 'success') {
    const toast = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      h('p', { class: 'toast-text' }, text),
      h('button', { type: 'button', class: 'toast-close', onclick: () => toast.remove() }, 'Dismiss'));
    messages().append(toast);
    while (messages().children.length > 3) messages().firstElementChild.remove();
    setTimeout(() => toast.remove(), kind === 'error' ? 20000 : 5000);
  }

  function setFormMessage(el, text, kind = 'error') {
    el.textContent = text || '';
    el.dataset.kind = kind;
    el.hidden = !text;
  }

  // MARK: - Polling

  let timer = null;
  let running = false;
  let again = false;

  function schedule(delay = POLL_MS) {
    clearTimeout(timer);
    timer = setTimeout(poll, delay);
  }

  async function poll() {
    timer = null;
    if (document.hidden) return setLive('paused');
    if (running) {
      again = true;
      return;
    }
    running = true;
    const view = app.view;
    try {
      if (!app.clusterId) await clusterBase();
      if (view && view.refresh) await view.refresh();
      setLive('live');
    } catch (error) {
      if (view === app.view && view && view.alive) view.showError(error);
      setLive(error.status === 0 ? 'offline' : 'live');
    } finally {
      running = false;
    }
    if (document.hidden) return setLive('paused');
    if (again) {
      again = false;
      schedule(0);
    } else if (!timer) {
      schedule(POLL_MS);
    }
  }

  function setLive(mode) {
    const live = document.getElementById('live');
    const text = document.getElementById('live-text');
    live.dataset.state = mode;
    if (mode === 'live') text.textContent = `Live · updated ${fmtClock(Date.now())}`;
    else if (mode === 'paused') text.textContent = 'Paused while the tab is hidden';
    else if (mode === 'offline') text.textContent = 'Server unreachable · retrying';
  }

  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
      setLive('paused');
    } else {
      schedule(0);
    }
  });

  // MARK: - Charts

  const TIME_STEPS = [5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 1800e3, 3600e3];

  function niceTicks(max, integer) {
    const top = max > 0 ? max : 4;
    const raw = top / 4;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    let step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= raw * 0.999);
    if (integer) step = Math.max(1, Math.ceil(step));
    const count = Math.max(1, Math.ceil(top / step - 1e-9));
    const ticks = [];
    for (let i = 0; i <= count; i += 1) ticks.push(Number((i * step).toPrecision(12)));
    return ticks;
  }

  /** A line chart of one or two series over time, redrawn on each update and when its width changes. Each drawn
      series is a <path> with `data-points` (how many samples it draws) and `data-max`. */
  class LineChart {
    constructor({ id, label, kind, height = 210 }) {
      this.label = label;
      this.kind = kind;
      this.height = height;
      this.el = h('div', { class: 'chart', id });
      this.legend = h('ul', { class: 'legend' });
      this.plot = h('div', { class: 'chart-plot' });
      this.tip = h('div', { class: 'chart-tip', hidden: true, 'aria-hidden': 'true' });
      this.el.append(this.legend, this.plot);
      this.data = { timestamps: [], series: [] };
      this.width = 0;
      if (window.ResizeObserver) {
        new ResizeObserver(() => requestAnimationFrame(() => {
          const width = Math.floor(this.plot.clientWidth);
          if (width && width !== this.width) this.draw();
        })).observe(this.plot);
      }
    }

    update(timestamps, series) {
      this.data = { timestamps: timestamps || [], series };
      this.draw();
    }

    draw() {
      const { timestamps, series } = this.data;
      const kind = this.kind;
      const W = Math.max(260, Math.floor(this.plot.clientWidth || 600));
      this.width = W;
      const H = this.height;
      const M = { left: 74, right: 16, top: 12, bottom: 28 };
      const innerW = W - M.left - M.right;
      const innerH = H - M.top - M.bottom;
      const n = timestamps.length;
      const t1 = n ? timestamps[n - 1] : Date.now();
      const t0 = Math.min(n ? timestamps[0] : t1, t1 - 60000);
      const x = (t) => M.left + ((t - t0) / (t1 - t0)) * innerW;

      let max = 0;
      for (const line of series) for (const v of line.values) if (v !== null && v > max) max = v;
      const unit = pickUnit(kind, max);
      const ticks = niceTicks(max / unit.div, KINDS[kind].integer && unit.div === 1);
      const top = ticks[ticks.length - 1] * unit.div;
      const y = (v) => M.top + innerH - (v / top) * innerH;

      const summary = series.map((line) => `${line.name} ${fmtValue(lastNonNull(line.values), kind)}`).join(', ');
      const span = n > 1 ? ` over the last ${fmtDuration((t1 - timestamps[0]) / 1000)}` : '';
      const root = s('svg', {
        class: 'chart-svg', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
        'aria-label': `${this.label}: latest ${summary}; ${n} samples${span}.`,
      });

      for (const tick of ticks) {
        const yy = y(tick * unit.div).toFixed(1);
        root.append(
          s('line', { class: tick === 0 ? 'axis' : 'grid', x1: M.left, x2: W - M.right, y1: yy, y2: yy }),
          s('text', { class: 'tick', x: M.left - 8, y: yy, dy: '0.32em', 'text-anchor': 'end' },
            tick === 0 ? '0' : withUnit(tick * unit.div, unit)));
      }
      const spanMs = t1 - t0;
      const step = TIME_STEPS.find((candidate) => spanMs / candidate <= 5) || TIME_STEPS[TIME_STEPS.length - 1];
      for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
        const xx = x(t);
        if (xx < M.left + 18 || xx > W - M.right - 18) continue;
        root.append(
          s('line', { class: 'tick-mark', x1: xx.toFixed(1), x2: xx.toFixed(1), y1: M.top + innerH, y2: M.top + innerH + 4 }),
          s('text', { class: 'tick', x: xx.toFixed(1), y: H - 8, 'text-anchor': 'middle' }, fmtClock(t, step < 60000)));
      }

      const baseline = y(0);
      series.forEach((line) => {
        const runs = [];
        let run = null;
        let points = 0;
        line.values.forEach((v, i) => {
          if (i >= n || v === null || v === undefined) {
            run = null;
            return;
          }
          if (!run) runs.push((run = []));
          run.push([x(timestamps[i]), y(v)]);
          points += 1;
        });
        const fmt = ([px, py]) => `${px.toFixed(1)} ${py.toFixed(1)}`;
        const lineD = runs.map((r) => `M${r.map(fmt).join('L')}${r.length === 1 ? 'h0.01' : ''}`).join('');
        const areaD = runs.filter((r) => r.length > 1)
          .map((r) => `M${r[0][0].toFixed(1)} ${baseline}L${r.map(fmt).join('L')}L${r[r.length - 1][0].toFixed(1)} ${baseline}Z`)
          .join('');
        const values = line.values.filter((v) => v !== null && v !== undefined);
        if (areaD) root.append(s('path', { class: 'area', d: areaD, fill: line.color }));
        root.append(s('path', {
          class: 'line', d: lineD || 'M0 0', stroke: line.color, 'data-series': line.key, 'data-points': points,
          'data-max': values.length ? Math.max(...values) : 0, 'data-last': lastNonNull(line.values) ?? '',
        }));
      });

      if (n < 2) {
        root.append(s('text', { class: 'chart-empty', x: M.left + innerW / 2, y: M.top + innerH / 2, 'text-anchor': 'middle' },
          'Collecting samples…'));
      }

      const cursor = s('g', { class: 'cursor', visibility: 'hidden' });
      root.append(cursor);
      root.addEventListener('pointermove', (event) => {
        if (n === 0) return;
        const rect = root.getBoundingClientRect();
        const px = ((event.clientX - rect.left) * W) / rect.width;
        let best = 0;
        for (let i = 1; i < n; i += 1) if (Math.abs(x(timestamps[i]) - px) < Math.abs(x(timestamps[best]) - px)) best = i;
        const cx = x(timestamps[best]);
        cursor.replaceChildren(s('line', { x1: cx, x2: cx, y1: M.top, y2: M.top + innerH }));
        const rows = [h('div', { class: 'chart-tip-time' }, fmtClock(timestamps[best]))];
        for (const line of series) {
          const v = line.values[best];
          if (v !== null && v !== undefined) cursor.append(s('circle', { cx, cy: y(v), r: 3.5, fill: line.color }));
          rows.push(h('div', {}, h('span', { class: 'swatch', style: `background:${line.color}` }), `${line.name}: `,
            h('strong', {}, fmtValue(v, kind))));
        }
        cursor.setAttribute('visibility', 'visible');
        this.tip.replaceChildren(...rows);
        this.tip.hidden = false;
        const left = (cx / W) * rect.width;
        this.tip.style.left = `${left}px`;
        this.tip.classList.toggle('flip', left > rect.width * 0.6);
      });
      root.addEventListener('pointerleave', () => {
        cursor.setAttribute('visibility', 'hidden');
        this.tip.hidden = true;
      });

      this.plot.replaceChildren(root, this.tip);
      this.legend.replaceChildren(...series.map((line) => h('li', {},
        h('span', { class: 'swatch', style: `background:${line.color}`, 'aria-hidden': 'true' }),
        h('span', { class: 'legend-name' }, line.name),
        h('strong', { class: 'legend-value' }, fmtValue(lastNonNull(line.values), kind)))));
    }
  }

  function chartCard(title, chart, note) {
    const headingId = uid('chart-title');
    return h('section', { class: 'card chart-card', 'aria-labelledby': headingId },
      h('div', { class: 'card-head' }, h('h2', { id: headingId }, title), note ? h('p', { class: 'card-note' }, note) : null),
      chart.el);
  }

  /** The throughput and message-rate charts of one set of rates (the cluster's or a topic's). */
  function rateCharts(prefix, label) {
    const bytes = new LineChart({ id: `chart-${prefix}-bytes`, label: `${label} throughput in bytes per second`, kind: 'bytes' });
    const msgs = new LineChart({ id: `chart-${prefix}-messages`, label: `${label} messages in per second`, kind: 'messages' });
    return {
      element: h('div', { class: 'grid-2' }, chartCard('Throughput', bytes, 'Bytes per second'), chartCard('Messages in', msgs, 'Messages per second')),
      update(timestamps, rates) {
        const zeros = timestamps.map(() => 0);
        const r = rates || {};
        bytes.update(timestamps, [
          { key: 'bytes_in', name: 'Bytes in', color: COLORS.in, values: r.bytes_in_per_sec || zeros },
          { key: 'bytes_out', name: 'Bytes out', color: COLORS.out, values: r.bytes_out_per_sec || zeros },
        ]);
        msgs.update(timestamps, [
          { key: 'messages_in', name: 'Messages in', color: COLORS.messages, values: r.messages_in_per_sec || zeros },
        ]);
      },
    };
  }

  // MARK: - Building blocks

  const STATE_TONES = {
    RUNNING: 'ok', STABLE: 'ok',
    PAUSED: 'warn', RESTARTING: 'warn', UNASSIGNED: 'warn', PREPARING_REBALANCE: 'warn',
    COMPLETING_REBALANCE: 'warn', ASSIGNING: 'warn', RECONCILING: 'warn',
    FAILED: 'bad', DEAD: 'bad',
  };

  function badge(state) {
    const text = state || 'UNKNOWN';
    return h('span', { class: `badge badge-${STATE_TONES[text] || 'neutral'}` }, text.replace(/_/g, ' '));
  }

  function pageHead(title, { crumbs, subtitle, actions } = {}) {
    return h('div', { class: 'page-head' },
      crumbs ? h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('ol', {}, crumbs.map(([text, href]) =>
        h('li', {}, href ? h('a', { href }, text) : h('span', { 'aria-current': 'page' }, text))))) : null,
      h('div', { class: 'page-title-row' },
        h('div', {}, h('h1', {}, title), subtitle ? h('p', { class: 'page-sub' }, subtitle) : null),
        actions ? h('div', { class: 'page-actions' }, actions) : null));
  }

  function stat(label, id, href) {
    const value = h('dd', { id }, '…');
    return {
      element: h('div', { class: 'stat' }, h('dt', {}, href ? h('a', { href }, label) : label), value),
      set(text) {
        value.replaceChildren(...[text].flat());
      },
    };
  }

  /** A card with a heading and a body that a view fills. */
  function card(title, { id, note, actions } = {}) {
    const headingId = uid('card-title');
    const body = h('div', { class: 'card-body' });
    const element = h('section', { class: 'card', id, 'aria-labelledby': headingId },
      h('div', { class: 'card-head' }, h('h2', { id: headingId }, title),
        note ? h('p', { class: 'card-note' }, note) : null,
        actions ? h('div', { class: 'card-actions' }, actions) : null),
      body);
    return { element, body, headingId };
  }

  /** A table: columns are [label, className?]; rows are arrays of cells (text or nodes). */
  function table(columns, rows, { id, labelledBy, empty = 'Nothing to show.' } = {}) {
    if (!rows.length) return h('p', { class: 'empty' }, empty);
    return h('div', { class: 'table-wrap' },
      h('table', { id, 'aria-labelledby': labelledBy },
        h('thead', {}, h('tr', {}, columns.map(([label, cls]) => h('th', { scope: 'col', class: cls }, label)))),
        h('tbody', {}, rows.map((row) => h('tr', row.attrs || {}, row.cells.map((cell, i) =>
          h(i === 0 ? 'th' : 'td', { class: columns[i][1], scope: i === 0 ? 'row' : null }, cell)))))));
  }

  const muted = (text) => h('span', { class: 'muted' }, text);

  /** Replaces a detail page with a note that its subject does not exist (and stops refreshing it). */
  function showMissing(view, root, title, crumbs, text, back) {
    view.missing = true;
    root.replaceChildren(pageHead(title, { crumbs }),
      h('div', { class: 'panel-error', role: 'alert' }, `${text} `, h('a', { href: back[1] }, back[0])));
  }

  function errorPanel(error) {
    return h('div', { class: 'panel-error', role: 'alert' }, h('strong', {}, 'Could not load this page. '), error.message);
  }

  /** A view: `mount` builds the page once, `refresh` (polled) fills it with fresh data. */
  function makeView(spec) {
    return Object.assign({
      alive: true,
      errorBox: null,
      showError(error) {
        if (!this.errorBox) return;
        this.errorBox.replaceChildren(errorPanel(error));
        this.errorBox._signature = null;
      },
      clearError() {
        if (this.errorBox && this.errorBox.firstChild) {
          this.errorBox.replaceChildren();
          this.errorBox._signature = null;
        }
      },
    }, spec);
  }

  // MARK: - Decoding records

  function base64Bytes(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  const utf8 = new TextDecoder('utf-8', { fatal: true });

  /** Renders a key, value or header value of the records API (`{type, data}` or base64 text, or null). */
  function dataCell(field) {
    if (field === null || field === undefined) return muted('null');
    const data = typeof field === 'string' ? field : field.data;
    if (data === null || data === undefined) return muted('null');
    let bytes;
    try {
      bytes = base64Bytes(data);
    } catch (error) {
      return h('code', { class: 'data' }, String(data));
    }
    if (bytes.length === 0) return muted('(empty)');
    try {
      const text = utf8.decode(bytes);
      const shown = text.length > 600 ? `${text.slice(0, 600)}…` : text;
      return h('code', { class: 'data', title: text.length > 600 ? `${text.length} characters` : null }, shown);
    } catch (error) {
      const hex = Array.from(bytes.slice(0, 48), (b) => b.toString(16).padStart(2, '0')).join(' ');
      return h('span', { class: 'binary' }, h('span', { class: 'tag' }, `binary · ${bytes.length} B`),
        h('code', { class: 'data' }, hex + (bytes.length > 48 ? ' …' : '')));
    }
  }

  // MARK: - Overview

  function overviewView() {
    const stats = {
      cluster: stat('Cluster ID', 'stat-cluster-id'),
      uptime: stat('Uptime', 'stat-uptime'),
      topics: stat('Topics', 'stat-topics', '#/topics'),
      partitions: stat('Partitions', 'stat-partitions'),
      groups: stat('Consumer groups', 'stat-groups', '#/groups'),
      connectors: stat('Connectors', 'stat-connectors', '#/connectors'),
    };
    const charts = rateCharts('cluster', 'Cluster');
    const busiest = card('Busiest topics', { note: 'Latest sample, by messages in' });
    return makeView({
      title: 'Overview',
      section: 'overview',
      mount(root) {
        this.errorBox = h('div');
        root.append(
          pageHead('Overview', { subtitle: 'The cluster at a glance; the graphs cover the last 10 minutes.' }),
          this.errorBox,
          h('dl', { class: 'stats stats-overview', 'aria-label': 'Cluster summary' }, Object.values(stats).map((item) => item.element)),
          charts.element,
          busiest.element);
      },
      async refresh() {
        const [overview, series] = await Promise.all([api('/ui/api/overview'), api('/ui/api/series')]);
        if (!this.alive) return;
        this.clearError();
        setHeader(overview);
        stats.cluster.set([h('span', { class: 'mono' }, overview.cluster_id), h('span', { class: 'stat-sub' }, `Runnel ${overview.version}`)]);
        const started = fmtTimestamp(overview.started_at);
        const today = fmtTimestamp(Date.now()).slice(0, 10);
        stats.uptime.set([fmtDuration(overview.uptime_seconds),
          h('span', { class: 'stat-sub' }, `since ${started.slice(0, 10) === today ? started.slice(11, 16) : started.slice(5, 16)}`)]);
        stats.topics.set(fmtInt(overview.topics));
        stats.partitions.set(fmtInt(overview.partitions));
        stats.groups.set(fmtInt(overview.consumer_groups));
        stats.connectors.set(overview.connectors === null ? muted('Connect off') : fmtInt(overview.connectors));
        charts.update(series.timestamps, series.cluster);

        const rows = Object.entries(series.topics || {}).map(([name, rates]) => ({
          name,
          messages: last(rates.messages_in_per_sec) || 0,
          bytesIn: last(rates.bytes_in_per_sec) || 0,
          bytesOut: last(rates.bytes_out_per_sec) || 0,
        })).sort((a, b) => b.messages - a.messages || b.bytesIn - a.bytesIn || a.name.localeCompare(b.name)).slice(0, 8);
        renderIfChanged(busiest.body, JSON.stringify(rows), () => table(
          [['Topic'], ['Messages in', 'num'], ['Bytes in', 'num'], ['Bytes out', 'num']],
          rows.map((row) => ({ cells: [h('a', { href: `#/topics/${enc(row.name)}` }, row.name),
            fmtValue(row.messages, 'messages'), fmtValue(row.bytesIn, 'bytes'), fmtValue(row.bytesOut, 'bytes')] })),
          { id: 'busiest-topics', labelledBy: busiest.headingId, empty: 'No traffic sampled yet.' }));
      },
    });
  }

  // MARK: - Topics

  /** Rows of name/value inputs for configs (topic configs); returns the element and a reader. */
  function configRows() {
    const list = h('div', { class: 'kv-list' });
    function addRow(name = '', value = '') {
      const nameId = uid('config-name');
      const valueId = uid('config-value');
      const row = h('div', { class: 'kv-row kv-row-free' },
        h('div', { class: 'field' }, h('label', { for: nameId }, 'Config name'),
          h('input', { id: nameId, type: 'text', class: 'mono', value: name, placeholder: 'retention.ms', autocomplete: 'off', 'data-role': 'name' })),
        h('div', { class: 'field' }, h('label', { for: valueId }, 'Value'),
          h('input', { id: valueId, type: 'text', class: 'mono', value, autocomplete: 'off', 'data-role': 'value' })),
        h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => row.remove() }, 'Remove'));
      list.append(row);
      row.querySelector('input').focus();
    }
    return {
      element: h('div', {}, list,
        h('button', { type: 'button', class: 'btn btn-quiet btn-small btn-add', onclick: () => addRow() }, '+ Add a config')),
      read() {
        return Array.from(list.querySelectorAll('.kv-row')).map((row) => ({
          name: row.querySelector('[data-role=name]').value.trim(),
          value: row.querySelector('[data-role=value]').value,
        })).filter((config) => config.name);
      },
      clear() {
        list.replaceChildren();
      },
    };
  }

  function topicsView() {
    const listCard = card('All topics', { id: 'topics-card' });
    const filter = h('input', { id: 'topic-filter', type: 'search', placeholder: 'Filter by name', autocomplete: 'off' });
    let lastRows = [];

    const nameInput = h('input', { id: 'new-topic-name', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', class: 'mono' });
    const partitionsInput = h('input', { id: 'new-topic-partitions', type: 'number', min: 1, value: 1, required: true });
    const configs = configRows();
    const formMessage = h('p', { class: 'form-message', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create topic');
    const form = h('form', { id: 'create-topic-form', 'aria-labelledby': 'create-topic-title' },
      h('div', { class: 'topic-form-row' },
        h('div', { class: 'field field-grow' }, h('label', { for: 'new-topic-name' }, 'Topic name'), nameInput,
          h('p', { class: 'hint' }, 'Letters, digits, “.”, “_” and “-”.')),
        h('div', { class: 'field field-narrow' }, h('label', { for: 'new-topic-partitions' }, 'Partitions'), partitionsInput,
          h('p', { class: 'hint' }, 'At least 1.')),
        h('div', { class: 'field field-button' }, submit)),
      h('div', { class: 'topic-configs' }, configs.element),
      formMessage);

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const name = nameInput.value.trim();
      setFormMessage(formMessage, '');
      submit.disabled = true;
      submit.textContent = 'Creating…';
      try {
        const base = await clusterBase();
        await api(`${base}/topics`, { method: 'POST', body: {
          topic_name: name, partitions_count: Number(partitionsInput.value) || 1, configs: configs.read(),
        } });
        notify(`Topic “${name}” created.`);
        nameInput.value = '';
        configs.clear();
        schedule(0);
      } catch (error) {
        setFormMessage(formMessage, `Could not create the topic: ${error.message}`);
      } finally {
        submit.disabled = false;
        submit.textContent = 'Create topic';
      }
    });

    function renderList() {
      const needle = filter.value.trim().toLowerCase();
      const rows = needle ? lastRows.filter((row) => row.name.toLowerCase().includes(needle)) : lastRows;
      renderIfChanged(listCard.body, JSON.stringify([needle, rows]), () => table(
        [['Topic'], ['Partitions', 'num'], ['Records', 'num'], ['Size', 'num'], ['Messages in', 'num'], ['Bytes in', 'num'], ['Bytes out', 'num']],
        rows.map((row) => ({ attrs: { 'data-topic': row.name }, cells: [
          h('a', { href: `#/topics/${enc(row.name)}` }, row.name), fmtInt(row.partitions), fmtInt(row.records),
          fmtBytes(row.size), fmtValue(row.messages, 'messages'), fmtValue(row.bytesIn, 'bytes'), fmtValue(row.bytesOut, 'bytes'),
        ] })),
        { id: 'topics-table', labelledBy: listCard.headingId,
          empty: needle ? `No topic matches “${filter.value}”.` : 'No topics yet. Create one with the form.' }));
    }
    filter.addEventListener('input', renderList);

    return makeView({
      title: 'Topics',
      section: 'topics',
      mount(root) {
        this.errorBox = h('div');
        listCard.element.querySelector('.card-head').append(
          h('div', { class: 'card-actions' }, h('label', { for: 'topic-filter', class: 'visually-hidden' }, 'Filter topics'), filter));
        root.append(
          pageHead('Topics', { subtitle: 'Partitions, offsets and sizes of every topic; open one for its configs and records.' }),
          this.errorBox,
          h('section', { class: 'card', 'aria-labelledby': 'create-topic-title' },
            h('div', { class: 'card-head' }, h('h2', { id: 'create-topic-title' }, 'Create a topic')),
            h('div', { class: 'card-body' }, form)),
          listCard.element);
      },
      async refresh() {
        const base = await clusterBase();
        const [topics, partitions, series] = await Promise.all([
          api(`${base}/topics`), api('/ui/api/partitions'), api('/ui/api/series')]);
        if (!this.alive) return;
        this.clearError();
        const byTopic = {};
        for (const p of partitions.partitions) {
          const entry = byTopic[p.topic_name] || (byTopic[p.topic_name] = { records: 0, size: 0 });
          entry.records += Math.max(0, p.log_end_offset - p.log_start_offset);
          entry.size += p.size_bytes;
        }
        lastRows = topics.data.filter((t) => !t.is_internal).map((t) => {
          const rates = (series.topics || {})[t.topic_name] || {};
          const sizes = byTopic[t.topic_name] || { records: 0, size: 0 };
          return {
            name: t.topic_name, partitions: t.partitions_count, records: sizes.records, size: sizes.size,
            messages: last(rates.messages_in_per_sec) || 0, bytesIn: last(rates.bytes_in_per_sec) || 0,
            bytesOut: last(rates.bytes_out_per_sec) || 0,
          };
        }).sort((a, b) => a.name.localeCompare(b.name));
        renderList();
      },
    });
  }

  const CONFIG_SOURCES = {
    DEFAULT_CONFIG: 'default', DYNAMIC_TOPIC_CONFIG: 'topic', STATIC_BROKER_CONFIG: 'broker',
    DYNAMIC_BROKER_CONFIG: 'broker', DYNAMIC_DEFAULT_BROKER_CONFIG: 'broker',
  };

  function topicView(name) {
    const base = () => `/v3/clusters/${enc(app.clusterId)}/topics/${enc(name)}`;
    const stats = {
      partitions: stat('Partitions', 'stat-topic-partitions'),
      replication: stat('Replication factor', 'stat-topic-replication'),
      records: stat('Records', 'stat-topic-records'),
      size: stat('Size on disk', 'stat-topic-size'),
    };
    const charts = rateCharts('topic', `Topic ${name}`);
    const partitionsCard = card('Partitions', { id: 'partitions-card' });
    const configsCard = card('Configs', { id: 'configs-card' });
    const peekCard = card('Latest records', { id: 'peek-card', note: 'A read-only look: no consumer group, nothing committed.' });
    const onlyOverrides = h('input', { id: 'configs-overrides', type: 'checkbox' });
    let configs = null;
    let topicLoaded = false;
    let partitionsData = [];

    const partitionSelect = h('select', { id: 'peek-partition' });
    const countSelect = h('select', { id: 'peek-count' }, [10, 25, 50, 100].map((n) => h('option', { value: n }, String(n))));
    const peekButton = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Show records');
    const peekStatus = h('p', { class: 'peek-summary', id: 'peek-status', 'aria-live': 'polite' });
    const peekResult = h('div', { id: 'peek-result' });
    const peekForm = h('form', { class: 'inline-form', id: 'peek-form' },
      h('div', { class: 'field' }, h('label', { for: 'peek-partition' }, 'Partition'), partitionSelect),
      h('div', { class: 'field' }, h('label', { for: 'peek-count' }, 'How many'), countSelect),
      h('div', { class: 'field field-button' }, peekButton));

    async function peek(partition) {
      const count = Number(countSelect.value);
      peekButton.disabled = true;
      try {
        const all = await api('/ui/api/partitions');
        const p = all.partitions.find((item) => item.topic_name === name && item.partition_id === partition);
        if (!p) throw new ApiError(404, `Partition ${partition} of ${name} was not found.`);
        const start = Math.max(p.log_start_offset, p.log_end_offset - count);
        if (p.log_end_offset <= start) {
          peekStatus.textContent = `Partition ${partition} holds no records.`;
          peekResult.replaceChildren();
          return;
        }
        const result = await api(`${base()}/partitions/${partition}/records?offset=${start}&format=binary&max_bytes=1048576`);
        const records = (result.data || []).slice(0, count);
        const first = records.length ? records[0].offset : start;
        const lastOffset = records.length ? records[records.length - 1].offset : start;
        peekStatus.textContent = `Partition ${partition}: ${records.length} record${records.length === 1 ? '' : 's'}, offsets ${fmtInt(first)} to ${fmtInt(lastOffset)} (log end ${fmtInt(result.high_watermark)}).`;
        peekResult.replaceChildren(
          table([['Offset', 'num'], ['Timestamp'], ['Key'], ['Value'], ['Headers']],
            records.map((record) => ({ cells: [
              fmtInt(record.offset),
              h('span', { class: 'nowrap', title: record.timestamp_type || null }, fmtTimestamp(record.timestamp)),
              dataCell(record.key),
              dataCell(record.value),
              record.headers && record.headers.length
                ? h('ul', { class: 'headers' }, record.headers.map((header) => h('li', {}, h('span', { class: 'header-name' }, header.name), ' ', dataCell(header.value))))
                : muted('none'),
            ] })),
            { id: 'peek-table', labelledBy: peekCard.headingId, empty: 'No records at these offsets.' }));
      } catch (error) {
        peekStatus.textContent = '';
        peekResult.replaceChildren(h('p', { class: 'form-message', role: 'alert' }, `Could not read records: ${error.message}`));
      } finally {
        peekButton.disabled = false;
      }
    }
    peekForm.addEventListener('submit', (event) => {
      event.preventDefault();
      peek(Number(partitionSelect.value));
    });

    function renderConfigs() {
      if (!configs) return;
      const shown = onlyOverrides.checked ? configs.filter((c) => !c.is_default) : configs;
      renderIfChanged(configsCard.body, JSON.stringify([onlyOverrides.checked, shown]), () => table(
        [['Name'], ['Value'], ['Source']],
        shown.map((c) => ({ attrs: { 'data-config': c.name, class: c.is_default ? null : 'row-highlight' }, cells: [
          h('span', { class: 'mono' }, c.name),
          c.is_sensitive ? muted('(sensitive)') : c.value === null ? muted('null') : h('span', { class: 'mono' }, c.value),
          [c.is_default ? muted(CONFIG_SOURCES[c.source] || c.source) : h('span', { class: 'tag tag-accent' }, CONFIG_SOURCES[c.source] || c.source),
            c.is_read_only ? h('span', { class: 'tag' }, 'read-only') : null],
        ] })),
        { id: 'configs-table', labelledBy: configsCard.headingId, empty: 'No value differs from its default.' }));
    }
    onlyOverrides.addEventListener('change', renderConfigs);

    async function deleteTopic() {
      if (!window.confirm(`Delete the topic “${name}” and all its records? This cannot be undone.`)) return;
      try {
        await api(base(), { method: 'DELETE' });
        notify(`Topic “${name}” deleted.`);
        location.hash = '#/topics';
      } catch (error) {
        notify(`Could not delete the topic: ${error.message}`, 'error');
      }
    }

    return makeView({
      title: `Topic ${name}`,
      section: 'topics',
      mount(root) {
        this.root = root;
        this.errorBox = h('div');
        configsCard.element.querySelector('.card-head').append(h('div', { class: 'card-actions' },
          h('label', { class: 'check' }, onlyOverrides, ' Only values that differ from the default')));
        peekCard.body.append(peekForm, peekStatus, peekResult);
        root.append(
          pageHead(name, {
            crumbs: [['Topics', '#/topics'], [name]],
            actions: [h('button', { type: 'button', class: 'btn btn-danger', onclick: deleteTopic }, 'Delete topic')],
          }),
          this.errorBox,
          h('dl', { class: 'stats', 'aria-label': 'Topic summary' }, Object.values(stats).map((item) => item.element)),
          charts.element,
          partitionsCard.element,
          peekCard.element,
          configsCard.element);
      },
      async refresh() {
        if (this.missing) return;
        await clusterBase();
        if (!topicLoaded) {
          const [topic, configList] = await Promise.all([api(base()), api(`${base()}/configs`)]);
          if (!this.alive) return;
          stats.replication.set(fmtInt(topic.replication_factor));
          configs = configList.data.slice().sort((a, b) => a.name.localeCompare(b.name));
          renderConfigs();
          topicLoaded = true;
        }
        const [partitions, series] = await Promise.all([api('/ui/api/partitions'), api('/ui/api/series')]);
        if (!this.alive) return;
        this.clearError();
        partitionsData = partitions.partitions.filter((p) => p.topic_name === name);
        stats.partitions.set(fmtInt(partitionsData.length));
        stats.records.set(fmtInt(partitionsData.reduce((sum, p) => sum + Math.max(0, p.log_end_offset - p.log_start_offset), 0)));
        stats.size.set(fmtBytes(partitionsData.reduce((sum, p) => sum + p.size_bytes, 0)));
        charts.update(series.timestamps, (series.topics || {})[name]);
        if (partitionSelect.options.length !== partitionsData.length) {
          const selected = partitionSelect.value;
          partitionSelect.replaceChildren(...partitionsData.map((p) => h('option', { value: p.partition_id }, String(p.partition_id))));
          if (selected) partitionSelect.value = selected;
        }
        renderIfChanged(partitionsCard.body, JSON.stringify(partitionsData), () => table(
          [['Partition', 'num'], ['Start offset', 'num'], ['End offset', 'num'], ['Records', 'num'], ['Size', 'num'], ['Segments', 'num'], ['', 'actions']],
          partitionsData.map((p) => ({ attrs: { 'data-partition': p.partition_id }, cells: [
            String(p.partition_id), fmtInt(p.log_start_offset), fmtInt(p.log_end_offset),
            fmtInt(Math.max(0, p.log_end_offset - p.log_start_offset)), fmtBytes(p.size_bytes), fmtInt(p.segments),
            h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'aria-label': `Show records of partition ${p.partition_id}`,
              onclick: () => {
                partitionSelect.value = String(p.partition_id);
                peekCard.element.scrollIntoView({ behavior: 'smooth', block: 'start' });
                peek(p.partition_id);
              } }, 'Show records'),
          ] })),
          { id: 'partitions-table', labelledBy: partitionsCard.headingId, empty: 'This topic has no partitions.' }));
      },
      showError(error) {
        if (error.status === 404 && !topicLoaded) {
          showMissing(this, this.root, name, [['Topics', '#/topics'], [name]], `There is no topic “${name}”.`, ['Back to the topics', '#/topics']);
          return;
        }
        this.errorBox.replaceChildren(errorPanel(error));
        this.errorBox._signature = null;
      },
    });
  }

  // MARK: - Consumer groups

  function groupsView() {
    const listCard = card('All groups', { id: 'groups-card' });
    return makeView({
      title: 'Consumer groups',
      section: 'groups',
      mount(root) {
        this.errorBox = h('div');
        root.append(
          pageHead('Consumer groups', { subtitle: 'Groups, their members and how far behind the log end they are.' }),
          this.errorBox, listCard.element);
      },
      async refresh() {
        const base = await clusterBase();
        const [groups, series] = await Promise.all([api(`${base}/consumer-groups`), api('/ui/api/series')]);
        if (!this.alive) return;
        const list = groups.data.slice().sort((a, b) => a.consumer_group_id.localeCompare(b.consumer_group_id));
        const members = await Promise.all(list.map((g, i) => (i < 50
          ? api(`${base}/consumer-groups/${enc(g.consumer_group_id)}/consumers`).then((r) => r.data.length, () => null)
          : Promise.resolve(null))));
        if (!this.alive) return;
        this.clearError();
        const rows = list.map((g, i) => ({
          id: g.consumer_group_id, state: g.state, assignor: g.partition_assignor, simple: g.is_simple, members: members[i],
          lag: lastNonNull(((series.groups || {})[g.consumer_group_id] || {}).lag),
        }));
        renderIfChanged(listCard.body, JSON.stringify(rows), () => table(
          [['Group'], ['State'], ['Members', 'num'], ['Assignor'], ['Total lag', 'num']],
          rows.map((row) => ({ attrs: { 'data-group': row.id }, cells: [
            h('a', { href: `#/groups/${enc(row.id)}` }, row.id), badge(row.state), row.members === null ? '—' : fmtInt(row.members),
            row.assignor ? h('span', { class: 'mono' }, row.assignor) : muted(row.simple ? 'simple' : '—'),
            row.lag === null ? muted('—') : h('span', { class: row.lag > 0 ? 'lag-positive' : null }, fmtInt(row.lag)),
          ] })),
          { id: 'groups-table', labelledBy: listCard.headingId, empty: 'No consumer groups yet. They appear when a consumer joins or commits.' }));
      },
    });
  }

  function groupView(groupId) {
    const base = () => `/v3/clusters/${enc(app.clusterId)}/consumer-groups/${enc(groupId)}`;
    const stats = {
      state: stat('State', 'stat-group-state'),
      members: stat('Members', 'stat-group-members'),
      assignor: stat('Assignor', 'stat-group-assignor'),
      lag: stat('Total lag', 'stat-group-lag'),
    };
    const lagChart = new LineChart({ id: 'chart-group-lag', label: `Total lag of group ${groupId}`, kind: 'count' });
    const lagCard = card('Lag by partition', { id: 'lag-card', note: 'Log end offset minus committed offset' });
    const membersCard = card('Members', { id: 'members-card' });
    return makeView({
      title: `Group ${groupId}`,
      section: 'groups',
      mount(root) {
        this.root = root;
        this.errorBox = h('div');
        root.append(
          pageHead(groupId, { crumbs: [['Consumer groups', '#/groups'], [groupId]] }),
          this.errorBox,
          h('dl', { class: 'stats', 'aria-label': 'Group summary' }, Object.values(stats).map((item) => item.element)),
          chartCard('Total lag', lagChart, 'Messages behind, summed over partitions'),
          lagCard.element,
          membersCard.element);
      },
      async refresh() {
        if (this.missing) return;
        await clusterBase();
        const [group, consumers, lags, series] = await Promise.all([
          api(base()), api(`${base()}/consumers`), api(`${base()}/lags`), api('/ui/api/series')]);
        const assignments = await Promise.all(consumers.data.map((c) =>
          api(`${base()}/consumers/${enc(c.consumer_id)}/assignments`).then((r) => r.data, () => [])));
        if (!this.alive) return;
        this.clearError();
        const lagRows = lags.data.slice().sort((a, b) => a.topic_name.localeCompare(b.topic_name) || a.partition_id - b.partition_id);
        const totalLag = lagRows.reduce((sum, row) => sum + (row.lag > 0 ? row.lag : 0), 0);
        stats.state.set(badge(group.state));
        stats.members.set(fmtInt(consumers.data.length));
        stats.assignor.set(group.partition_assignor || (group.is_simple ? 'simple' : '—'));
        stats.lag.set(fmtInt(totalLag));
        lagChart.update(series.timestamps, [{
          key: 'lag', name: 'Total lag', color: COLORS.lag,
          values: ((series.groups || {})[groupId] || {}).lag || series.timestamps.map(() => null),
        }]);
        const maxLag = Math.max(1, ...lagRows.map((row) => row.lag || 0));
        renderIfChanged(lagCard.body, JSON.stringify(lagRows.map((r) => [r.topic_name, r.partition_id, r.current_offset, r.log_end_offset, r.lag, r.client_id])), () => table(
          [['Topic'], ['Partition', 'num'], ['Committed offset', 'num'], ['Log end offset', 'num'], ['Lag', 'num'], ['', 'bar-col'], ['Client']],
          lagRows.map((row) => ({ attrs: { 'data-topic': row.topic_name, 'data-partition': row.partition_id, 'data-lag': row.lag ?? '' }, cells: [
            h('a', { href: `#/topics/${enc(row.topic_name)}` }, row.topic_name), String(row.partition_id),
            row.current_offset === null ? muted('none') : fmtInt(row.current_offset), fmtInt(row.log_end_offset),
            row.lag === null ? muted('—') : h('span', { class: row.lag > 0 ? 'lag-positive' : null }, fmtInt(row.lag)),
            h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${(((row.lag || 0) / maxLag) * 100).toFixed(1)}%` })),
            row.client_id ? h('span', { class: 'mono' }, row.client_id) : muted('unassigned'),
          ] })),
          { id: 'lag-table', labelledBy: lagCard.headingId, empty: 'This group has committed no offsets and is assigned no partitions.' }));
        const memberRows = consumers.data.map((c, i) => [c.consumer_id, c.client_id, c.instance_id,
          assignments[i].map((a) => `${a.topic_name}-${a.partition_id}`).sort()]);
        renderIfChanged(membersCard.body, JSON.stringify(memberRows), () => table(
          [['Member ID'], ['Client ID'], ['Instance ID'], ['Assigned partitions']],
          memberRows.map(([id, client, instance, parts]) => ({ cells: [
            h('span', { class: 'mono' }, id), h('span', { class: 'mono' }, client || '—'), instance ? h('span', { class: 'mono' }, instance) : muted('—'),
            parts.length ? h('ul', { class: 'chips' }, parts.map((p) => h('li', {}, p))) : muted('none'),
          ] })),
          { id: 'members-table', labelledBy: membersCard.headingId, empty: 'No members: nobody is consuming right now.' }));
      },
      showError(error) {
        if (error.status === 404) {
          showMissing(this, this.root, groupId, [['Consumer groups', '#/groups'], [groupId]],
            `There is no consumer group “${groupId}”.`, ['Back to the groups', '#/groups']);
          return;
        }
        this.errorBox.replaceChildren(errorPanel(error));
      },
    });
  }

  // MARK: - Connectors

  function connectorsView() {
    const listBox = h('div', { class: 'connector-list', id: 'connector-list' });
    const summary = h('p', { class: 'page-sub', id: 'connector-summary' }, 'Loading…');
    const cards = new Map();
    let templates = [];

    // The create form.
    const templateSelect = h('select', { id: 'connector-template' });
    const nameInput = h('input', { id: 'connector-name', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', class: 'mono' });
    const rows = h('div', { class: 'kv-list', id: 'connector-config' });
    const newKey = h('input', { id: 'connector-new-key', type: 'text', class: 'mono', autocomplete: 'off', placeholder: 'e.g. errors.tolerance' });
    const newValue = h('input', { id: 'connector-new-value', type: 'text', class: 'mono', autocomplete: 'off' });
    const formMessage = h('p', { class: 'form-message', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create connector');
    const form = h('form', { id: 'create-connector-form', 'aria-labelledby': 'create-connector-title' },
      h('div', { class: 'form-grid' },
        h('div', { class: 'field' }, h('label', { for: 'connector-template' }, 'Template'), templateSelect,
          h('p', { class: 'hint' }, 'From the connectors/ folder; every value can be edited.')),
        h('div', { class: 'field' }, h('label', { for: 'connector-name' }, 'Connector name'), nameInput)),
      h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Configuration'), rows,
        h('div', { class: 'kv-add' },
          h('div', { class: 'field' }, h('label', { for: 'connector-new-key' }, 'New key'), newKey),
          h('div', { class: 'field' }, h('label', { for: 'connector-new-value' }, 'New value'), newValue),
          h('div', { class: 'field field-button' }, h('button', { type: 'button', class: 'btn btn-secondary', onclick: addKey }, 'Add key')))),
      formMessage,
      h('div', { class: 'form-actions' }, submit));

    function configRow(key, value) {
      const id = uid('connector-config');
      const row = h('div', { class: 'kv-row', 'data-key': key },
        h('label', { for: id, class: 'mono kv-key' }, key),
        h('input', { id, type: 'text', class: 'mono', value, autocomplete: 'off', spellcheck: 'false', 'data-key': key }),
        h('button', { type: 'button', class: 'btn btn-quiet', 'aria-label': `Remove ${key}`, onclick: () => row.remove() }, 'Remove'));
      return row;
    }

    function loadTemplate() {
      const template = templates.find((t) => t.name === templateSelect.value);
      if (!template) return;
      nameInput.value = template.body.name || '';
      rows.replaceChildren(...Object.entries(template.body.config || {}).map(([key, value]) => configRow(key, String(value))));
      setFormMessage(formMessage, '');
    }
    templateSelect.addEventListener('change', loadTemplate);

    function addKey() {
      const key = newKey.value.trim();
      if (!key) {
        setFormMessage(formMessage, 'Enter the name of the key to add.');
        newKey.focus();
        return;
      }
      const existing = rows.querySelector(`input[data-key="${CSS.escape(key)}"]`);
      if (existing) {
        existing.value = newValue.value;
        existing.focus();
      } else {
        const row = configRow(key, newValue.value);
        rows.append(row);
      }
      setFormMessage(formMessage, '');
      newKey.value = '';
      newValue.value = '';
      newKey.focus();
    }
    for (const input of [newKey, newValue]) {
      input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') {
          event.preventDefault();
          addKey();
        }
      });
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const name = nameInput.value.trim();
      const config = {};
      for (const input of rows.querySelectorAll('input[data-key]')) config[input.dataset.key] = input.value;
      setFormMessage(formMessage, '');
      submit.disabled = true;
      submit.textContent = 'Creating…';
      try {
        await api('/connect/connectors', { method: 'POST', body: { name, config } });
        notify(`Connector “${name}” created.`);
        schedule(0);
      } catch (error) {
        setFormMessage(formMessage, `Could not create the connector: ${error.message}`);
      } finally {
        submit.disabled = false;
        submit.textContent = 'Create connector';
      }
    });

    // Actions on a connector.
    async function act(button, name, verb, request, done) {
      const label = button.textContent;
      button.disabled = true;
      button.textContent = `${verb}…`;
      try {
        await request();
        notify(done);
      } catch (error) {
        notify(`${label} of “${name}” failed: ${error.message}`, 'error');
      } finally {
        button.disabled = false;
        button.textContent = label;
        schedule(0);
      }
    }

    function connectorCard(name, entry) {
      const info = entry.info || { config: {} };
      const status = entry.status || { connector: {}, tasks: [] };
      const config = info.config || {};
      const state = (status.connector || {}).state || 'UNKNOWN';
      const paused = state === 'PAUSED';
      const path = `/connect/connectors/${enc(name)}`;
      const headingId = uid('connector');
      const topics = config.topics || config.topic || (config['topic.prefix'] ? `${config['topic.prefix']}*` : config['topics.regex']);
      const tasks = (status.tasks || []).slice().sort((a, b) => a.id - b.id);
      const actionButton = (text, verb, focusKey, request, done, cls = 'btn-secondary') => {
        const button = h('button', { type: 'button', class: `btn ${cls}`, 'aria-label': `${text} ${name}`, 'data-focus-key': focusKey });
        button.textContent = text;
        button.addEventListener('click', () => act(button, name, verb, request, done));
        return button;
      };
      const trace = (key, summaryText, text) => h('details', { class: 'trace', 'data-key': key },
        h('summary', {}, summaryText), h('pre', {}, text));
      const tone = tasks.some((task) => task.state === 'FAILED') ? 'bad' : STATE_TONES[state] || 'neutral';
      return h('article', { class: `connector connector-${tone}`, 'data-name': name, 'data-state': state, 'aria-labelledby': headingId },
        h('div', { class: 'connector-head' },
          h('div', { class: 'connector-title' },
            h('h3', { id: headingId }, name),
            badge(state),
            h('span', { class: 'tag' }, status.type || info.type || 'connector')),
          h('div', { class: 'connector-actions' },
            paused
              ? actionButton('Resume', 'Resuming', 'resume', () => api(`${path}/resume`, { method: 'PUT' }), `Connector “${name}” resumed.`)
              : actionButton('Pause', 'Pausing', 'pause', () => api(`${path}/pause`, { method: 'PUT' }), `Connector “${name}” paused.`),
            actionButton('Restart', 'Restarting', 'restart', () => api(`${path}/restart?includeTasks=true&onlyFailed=false`, { method: 'POST' }),
              `Restart of “${name}” requested.`),
            (() => {
              const button = h('button', { type: 'button', class: 'btn btn-danger-quiet', 'aria-label': `Delete ${name}`, 'data-focus-key': 'delete' }, 'Delete');
              button.addEventListener('click', () => {
                if (!window.confirm(`Delete the connector “${name}”? Its tasks stop and its configuration is removed.`)) return;
                act(button, name, 'Deleting', () => api(path, { method: 'DELETE' }), `Connector “${name}” deleted.`);
              });
              return button;
            })())),
        h('dl', { class: 'connector-meta' },
          h('div', {}, h('dt', {}, 'Class'), h('dd', { class: 'mono', title: config['connector.class'] || null }, shortClass(config['connector.class']))),
          h('div', {}, h('dt', {}, 'Topics'), h('dd', { class: 'mono' }, topics || '—')),
          h('div', {}, h('dt', {}, 'Worker'), h('dd', { class: 'mono' }, (status.connector || {}).worker_id || '—')),
          h('div', {}, h('dt', {}, 'Tasks'), h('dd', {}, `${tasks.length} of max ${config['tasks.max'] || 1}`))),
        status.connector && status.connector.trace ? trace('connector', 'Connector failure trace', status.connector.trace) : null,
        tasks.length ? h('ul', { class: 'tasks', 'aria-label': `Tasks of ${name}` }, tasks.map((task) => h('li', { class: 'task', 'data-task': task.id, 'data-state': task.state },
          h('div', { class: 'task-line' }, h('span', { class: 'task-name' }, `Task ${task.id}`), badge(task.state),
            h('span', { class: 'muted mono' }, task.worker_id || '')),
          task.trace ? trace(`task-${task.id}`, `Trace of task ${task.id}`, task.trace) : null))) : null,
        h('details', { class: 'config-details', 'data-key': 'config' },
          h('summary', {}, `Configuration (${Object.keys(config).length} keys)`),
          h('dl', { class: 'config-list' }, Object.keys(config).sort().map((key) =>
            h('div', {}, h('dt', { class: 'mono' }, key), h('dd', { class: 'mono' }, String(config[key])))))));
    }

    /** Replaces a connector's card only when its status or config changed, keeping open details and focus. */
    function renderConnectors(entries) {
      const names = Object.keys(entries).sort();
      for (const [name, item] of cards) {
        if (!(name in entries)) {
          item.element.remove();
          cards.delete(name);
        }
      }
      let previous = null;
      for (const name of names) {
        const signature = JSON.stringify(entries[name]);
        let item = cards.get(name);
        if (!item || item.signature !== signature) {
          const element = connectorCard(name, entries[name]);
          if (item) {
            for (const open of item.element.querySelectorAll('details[open]')) {
              const match = element.querySelector(`details[data-key="${open.dataset.key}"]`);
              if (match) match.open = true;
            }
            const focused = item.element.contains(document.activeElement) && document.activeElement.dataset.focusKey;
            item.element.replaceWith(element);
            if (focused) {
              const target = element.querySelector(`[data-focus-key="${focused}"]`)
                || element.querySelector('[data-focus-key="pause"],[data-focus-key="resume"]');
              if (target) target.focus();
            }
          }
          item = { element, signature };
          cards.set(name, item);
        }
        const expected = previous ? previous.nextSibling : listBox.firstChild;
        if (item.element !== expected) listBox.insertBefore(item.element, expected);
        previous = item.element;
      }
      const empty = listBox.querySelector('.empty');
      if (!names.length && !empty) listBox.append(h('p', { class: 'empty' }, 'No connectors yet. Create one from a template below.'));
      if (names.length && empty) empty.remove();
      const counts = {};
      for (const name of names) {
        const state = ((entries[name].status || {}).connector || {}).state || 'UNKNOWN';
        const failedTask = ((entries[name].status || {}).tasks || []).some((t) => t.state === 'FAILED');
        const key = state === 'RUNNING' && failedTask ? 'with a failed task' : state.toLowerCase();
        counts[key] = (counts[key] || 0) + 1;
      }
      summary.textContent = names.length
        ? `${names.length} connector${names.length === 1 ? '' : 's'}: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}.`
        : 'No connectors.';
    }

    return makeView({
      title: 'Connectors',
      section: 'connectors',
      mount(root) {
        this.errorBox = h('div');
        const newButton = h('button', { type: 'button', class: 'btn btn-primary', onclick: () => {
          document.getElementById('create-connector-card').scrollIntoView({ behavior: 'smooth', block: 'start' });
          templateSelect.focus({ preventScroll: true });
        } }, 'New connector');
        root.append(
          h('div', { class: 'page-head' }, h('div', { class: 'page-title-row' },
            h('div', {}, h('h1', {}, 'Connectors'), summary), h('div', { class: 'page-actions' }, newButton))),
          this.errorBox,
          listBox,
          h('section', { class: 'card', id: 'create-connector-card', 'aria-labelledby': 'create-connector-title' },
            h('div', { class: 'card-head' }, h('h2', { id: 'create-connector-title' }, 'Create a connector from a template')),
            h('div', { class: 'card-body' }, form)));
      },
      async refresh() {
        if (!templates.length) {
          const result = await api('/ui/api/templates');
          if (!this.alive) return;
          templates = result.templates || [];
          templateSelect.replaceChildren(...templates.map((t) => h('option', { value: t.name }, `${t.name} (${shortClass(t.body.config && t.body.config['connector.class'])})`)));
          loadTemplate();
        }
        const entries = await api('/connect/connectors?expand=status&expand=info');
        if (!this.alive) return;
        this.clearError();
        renderConnectors(entries || {});
      },
      showError(error) {
        this.errorBox.replaceChildren(error.status === 404
          ? h('div', { class: 'panel-error', role: 'alert' }, 'Kafka Connect is not running on this server.')
          : errorPanel(error));
      },
    });
  }

  // MARK: - Routing

  function notFoundView(hash) {
    return makeView({
      title: 'Not found',
      section: null,
      mount(root) {
        root.append(pageHead('Page not found'), h('p', {}, `Nothing lives at “${hash}”. `, h('a', { href: '#/overview' }, 'Go to the overview.')));
      },
    });
  }

  function decode(part) {
    try {
      return decodeURIComponent(part);
    } catch (error) {
      return part;
    }
  }

  function route() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [section, ...rest] = raw.split('/');
    const argument = rest.length ? decode(rest.join('/')) : '';
    switch (section) {
      case '':
      case 'overview':
        return overviewView();
      case 'topics':
        return argument ? topicView(argument) : topicsView();
      case 'groups':
        return argument ? groupView(argument) : groupsView();
      case 'connectors':
        return connectorsView();
      default:
        return notFoundView(location.hash);
    }
  }

  function navigate(event) {
    if (app.view) app.view.alive = false;
    const view = route();
    app.view = view;
    document.title = `${view.title} · Runnel`;
    for (const link of document.querySelectorAll('.sidenav a')) {
      if (link.dataset.section === view.section) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const main = document.getElementById('view');
    main.replaceChildren();
    view.mount(main);
    if (event) {
      window.scrollTo(0, 0);
      main.focus({ preventScroll: true });
    }
    schedule(0);
  }

  window.addEventListener('hashchange', navigate);
  navigate();
})();
