// replsim report.html — the space-time diagram of one run. Inflates the JSON in #replsim-data, draws
// lanes, spans, bands, events, message arrows and client operations on a canvas (only what is in the
// visible window; dense stretches are aggregated per pixel column), and lists events below. It loads
// nothing from anywhere. Errors are recorded on <html data-replsim-status> for the headless test.
'use strict';

(function () {
  // ---- status for tests: any error anywhere marks the page as failed ---------------------------------
  const root = document.documentElement;
  const problems = [];
  function fail(what) {
    problems.push(String(what));
    root.setAttribute('data-replsim-status', 'error: ' + problems.join(' | '));
  }
  window.addEventListener('error', (e) => {
    if (e.target && e.target !== window && (e.target.src || e.target.href)) {
      fail('failed to load ' + (e.target.src || e.target.href));
    } else {
      fail((e.message || 'error') + (e.filename ? ' at ' + e.filename + ':' + e.lineno : ''));
    }
  }, true);
  window.addEventListener('unhandledrejection', (e) => fail('unhandled rejection: ' + (e.reason && e.reason.message || e.reason)));
  document.addEventListener('securitypolicyviolation', (e) => fail('blocked by the content policy: ' + e.blockedURI));
  const consoleError = console.error.bind(console);
  console.error = function (...args) { fail('console.error: ' + args.join(' ')); consoleError(...args); };
  root.setAttribute('data-replsim-status', 'loading');

  const started = performance.now();
  loadData().then((D) => {
    const decoded = performance.now();
    main(D);
    root.setAttribute('data-replsim-decode-ms', String(Math.round(decoded - started)));
    root.setAttribute('data-replsim-render-ms', String(Math.round(performance.now() - started)));
    // Since navigation began: what a reader waits for, parsing the file included.
    root.setAttribute('data-replsim-ready-ms', String(Math.round(performance.now())));
    if (problems.length === 0) root.setAttribute('data-replsim-status', 'ok');
  }).catch((e) => {
    fail((e && e.stack) || e);
    const box = document.getElementById('summary');
    if (box) box.textContent = 'This page could not show the run: ' + (e && e.message || e) + '. The same data is in report.json, history.json and trace.jsonl next to this file.';
  });

  // The data element holds the JSON deflated and base64-encoded (see reports/html.cpp).
  async function loadData() {
    const el = document.getElementById('replsim-data');
    const bin = atob(el.textContent.replace(/\s+/g, ''));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    if (typeof DecompressionStream === 'undefined') {
      throw new Error('this browser has no DecompressionStream (Chrome 80+, Firefox 113+, Safari 16.4+ have it)');
    }
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    return JSON.parse(await new Response(stream).text());
  }

  function main(D) {
    const meta = D.meta || {};
    const $ = (id) => document.getElementById(id);
    const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

    // ---- decode ----------------------------------------------------------------------------------
    const N = D.n | 0;
    const T = new Float64Array(N);
    { let acc = 0; for (let i = 0; i < N; i++) { acc += D.t[i]; T[i] = acc; } }
    const EL = Uint16Array.from(D.l);
    const EK = Uint16Array.from(D.k);
    const DET = D.d;
    const traceIndex = (p) => (D.i ? D.i[p] : D.i0 + p);
    const kinds = D.kinds;
    const END = Math.max(D.end_ns || 0, N ? T[N - 1] : 0, 1);
    const lanes = D.lanes.map(([name, group, cluster], i) => ({ name, group, cluster, i, y: 0, h: 0, hidden: false }));
    const laneByName = new Map(lanes.map((l) => [l.name, l]));

    const CAT_ORDER = ['run', 'fault', 'node', 'net', 'disk', 'aof', 'checkpoint', 'repl', 'cluster', 'bus', 'store', 'admin', 'task', 'buggify'];
    const CAT_COLOR = {
      run: '#2563eb', fault: '#dc2626', node: '#111827', net: '#64748b', disk: '#a16207', aof: '#c2410c',
      checkpoint: '#0e7490', repl: '#ea580c', cluster: '#7c3aed', bus: '#a78bfa', store: '#0d9488',
      admin: '#db2777', task: '#9ca3af', buggify: '#e11d48', other: '#6b7280',
    };
    const kindCat = kinds.map((k) => { const c = k.split('.')[0]; return CAT_COLOR[c] ? c : 'other'; });
    const cats = [...new Set(kindCat)].sort((a, b) => catRank(a) - catRank(b));
    function catRank(c) { const i = CAT_ORDER.indexOf(c); return i < 0 ? 99 : i; }
    const catIndex = new Map(cats.map((c, i) => [c, i]));
    const kindCatIdx = Uint8Array.from(kindCat.map((c) => catIndex.get(c)));
    const catColors = cats.map((c) => CAT_COLOR[c]);
    const kindHidden = new Uint8Array(kinds.length);
    const MAJOR = new Set(['node.crash', 'node.restart', 'node.pause', 'node.resume', 'node.abort', 'node.exit',
      'node.start_failed', 'repl.sync.start', 'repl.sync.end', 'repl.sync.stop', 'repl.fullsync.installed',
      'repl.partialsync.accepted', 'cluster.config.change', 'cluster.failover.done', 'cluster.failover.refused',
      'cluster.follow', 'store.recovery.done', 'store.recovery.refused', 'repl.bug.stuck_recovering',
      'repl.bug.wipe', 'cluster.bug.role_reset', 'net.partition', 'net.heal', 'aof.truncate_tail',
      'store.recovery.torn_tail', 'buggify.fire']);
    const kindMajor = Uint8Array.from(kinds.map((k) => (MAJOR.has(k) || k.startsWith('fault.')) ? 1 : 0));
    // Kinds that are mostly noise when zoomed out start hidden? No: everything starts visible, the
    // filter is the reader's choice. Counts per kind feed the filter list.
    const kindCount = new Uint32Array(kinds.length);
    for (let i = 0; i < N; i++) kindCount[EK[i]]++;

    const laneEvents = lanes.map(() => []);
    for (let i = 0; i < N; i++) laneEvents[EL[i]].push(i);
    const laneEv = laneEvents.map((a) => Int32Array.from(a));

    // Arrows: [send, end, from, to, bytes, flags] flattened; sorted by send event.
    const AR = D.arrows;
    const NA = (AR.length / 6) | 0;
    let maxArrowNs = 0;
    for (let j = 0; j < NA; j++) maxArrowNs = Math.max(maxArrowNs, T[AR[6 * j + 1]] - T[AR[6 * j]]);
    const arrowOf = new Map();  // event -> arrow (both ends)
    for (let j = 0; j < NA; j++) { arrowOf.set(AR[6 * j], j); arrowOf.set(AR[6 * j + 1], j); }
    let lostCount = 0;
    for (let j = 0; j < NA; j++) if (AR[6 * j + 5] & 2) lostCount++;

    const spans = (D.spans || []).map(([lane, kind, label, b, e, be, ee]) => ({ lane, kind, label, b, e: e < 0 ? END : e, open: e < 0, be, ee }));
    const bands = (D.bands || []).map(([lane, track, value, b, e]) => ({ lane, track, value, b, e: e < 0 ? END : e, open: e < 0 }));
    const phases = D.phases || [];
    const ops = (D.ops || []).map((o) => ({
      id: o[0], client: o[1], kind: o[2], key: o[3], inv: o[4], done: o[5], end: o[5] < 0 ? END : o[5],
      outcome: o[6], node: o[7], args: o[8], reply: o[9], values: o[10], nvalues: o[11], nil: o[12],
    }));
    const laneOps = lanes.map(() => []);
    for (const op of ops) {
      const l = laneByName.get('client-' + op.client);
      if (l) laneOps[l.i].push(op);
    }
    for (const a of laneOps) a.sort((x, y) => x.inv - y.inv);
    const violations = (meta.violations || []).map((v, i) => ({ ...v, i, t: v.time_ns >= 0 ? v.time_ns : END }));
    const decisions = meta.decisions || [];

    // ---- formatting ------------------------------------------------------------------------------
    function fmtTime(ns, digits) {
      const s = ns / 1e9;
      return s.toFixed(digits === undefined ? 6 : digits) + ' s';
    }
    function fmtDur(ns) {
      const a = Math.abs(ns);
      if (a >= 1e9) return (ns / 1e9).toFixed(a >= 1e10 ? 1 : 2) + ' s';
      if (a >= 1e6) return (ns / 1e6).toFixed(a >= 1e7 ? 1 : 2) + ' ms';
      if (a >= 1e3) return (ns / 1e3).toFixed(1) + ' µs';
      return Math.round(ns) + ' ns';
    }
    const fmtInt = (n) => Number(n).toLocaleString('en-US');
    // "key=value key2="quoted" c0n0:1->c0n1:7000" -> [[key, value], ...]; null when it is free text
    // (then the detail is shown as it is).
    function parseDetail(d) {
      const out = [];
      const re = /\s*(?:([A-Za-z0-9_.]+)=("(?:[^"\\]|\\.)*"|\S*)|(\S+))/y;
      let m, bare = 0;
      while (re.lastIndex < d.length && (m = re.exec(d))) {
        if (m[1] !== undefined) {
          let v = m[2];
          if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
          out.push([m[1], v]);
        } else {
          bare++;
          out.push([m[3].includes('->') ? 'direction' : '', m[3]]);
        }
      }
      if (bare > 1 || re.lastIndex < d.trimEnd().length) return null;
      return out;
    }

    // ---- header, summary ---------------------------------------------------------------------------
    const copyBtn = $('copy-replay');
    if (copyBtn) {
      copyBtn.addEventListener('click', () => {
        const text = $('replay-cmd').textContent;
        const done = () => { copyBtn.textContent = 'copied'; setTimeout(() => { copyBtn.textContent = 'copy'; }, 1200); };
        if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, () => {});
        else {
          const r = document.createRange(); r.selectNodeContents($('replay-cmd'));
          const sel = getSelection(); sel.removeAllRanges(); sel.addRange(r);
          try { document.execCommand('copy'); done(); } catch (e) { /* selection stays for a manual copy */ }
        }
      });
    }

    function phaseSpans() {
      const out = [];
      for (let i = 0; i < phases.length; i++) {
        const [name, t] = phases[i];
        if (name === 'end') continue;
        const next = i + 1 < phases.length ? phases[i + 1][1] : END;
        out.push({ name, b: t, e: next });
      }
      if (phases.length && phases[phases.length - 1][0] === 'end' && phases[phases.length - 1][1] < END) {
        out.push({ name: 'checks', b: phases[phases.length - 1][1], e: END });
      }
      return out;
    }
    const PHASES = phaseSpans();
    const PHASE_COLOR = { setup: '#e5e7eb', safety: '#fde2e2', liveness: '#dcfce7', checks: '#e0e7ff' };

    function renderSummary() {
      const st = meta.stats || {};
      const cards = [];
      const verdict = meta.verdict || 'pass';
      if (verdict === 'pass') {
        const n = ((meta.scenario || {}).checks || []).length;
        cards.push(`<div class="card good"><h3>verdict</h3><div class="big">PASS</div><div class="sub">${n ? 'all ' + n + ' checks held' : 'every check held'}</div></div>`);
      } else {
        const v = violations[0];
        const sub = v ? `<span class="viol-line" data-viol="0">${esc(v.check)} at ${fmtTime(v.t, 3)}${v.node ? ' on ' + esc(v.node) : ''}</span>${violations.length > 1 ? ` (+${violations.length - 1} more)` : ''}`
          : esc(meta.error || '');
        cards.push(`<div class="card bad"><h3>verdict</h3><div class="big">${verdict.toUpperCase()}</div><div class="sub">${sub}</div></div>`);
      }
      const ph = PHASES.map((p) => `${esc(p.name)} ${fmtDur(p.e - p.b)}`).join(' · ');
      cards.push(`<div class="card"><h3>simulated time</h3><div class="big">${fmtDur(st.sim_ns || END)}</div><div class="sub">${ph || ''}${meta.wall_ms !== undefined ? (ph ? '<br>' : '') + 'wall ' + fmtInt(meta.wall_ms) + ' ms' : ''}</div></div>`);
      const dropped = D.dropped_events || 0;
      cards.push(`<div class="card${dropped ? ' bad' : ''}"><h3>events</h3><div class="big">${fmtInt(st.trace_events || N)}</div><div class="sub">${fmtInt(NA - lostCount)} messages delivered${lostCount ? ', ' + fmtInt(lostCount) + ' lost to resets' : ''}${dropped ? `<br>this page holds the first ${fmtInt(N)}; the last ${fmtInt(dropped)} are only in trace.jsonl (their faults and roles are drawn)` : ''}</div></div>`);
      const inv = st.ops_invoked || ops.length, ok = st.ops_ok || 0, fl = st.ops_failed || 0, un = st.ops_unknown || 0;
      const pend = Math.max(0, inv - ok - fl - un);
      const pc = (x) => (inv ? (100 * x / inv) : 0).toFixed(2) + '%';
      cards.push(`<div class="card"><h3>client operations</h3><div class="big">${fmtInt(inv)}</div><div class="sub">${fmtInt(ok)} ok · ${fmtInt(fl)} failed · ${fmtInt(un)} unknown${pend ? ' · ' + fmtInt(pend) + ' pending' : ''}</div>
        <div class="bar" title="ok / failed / unknown / pending"><span style="width:${pc(ok)};background:#22c55e"></span><span style="width:${pc(fl)};background:#ef4444"></span><span style="width:${pc(un)};background:#f59e0b"></span><span style="width:${pc(pend)};background:#cbd5e1"></span></div></div>`);
      const actions = new Map();
      for (const d of decisions) actions.set(d.action, (actions.get(d.action) || 0) + 1);
      const chips = [...actions.entries()].sort((a, b) => b[1] - a[1]).map(([a, n]) => `<span class="chip">${esc(a)} ×${n}</span>`).join('');
      const crashes = st.crashes || 0;
      const scripted = !Object.values(meta.swarm || {}).some((f) => f && f.enabled);
      cards.push(`<div class="card wide"><h3>faults and interventions${scripted ? ' · scripted' : ''}</h3><div class="big">${fmtInt(st.faults !== undefined ? st.faults : decisions.length)}<span class="sub"> faults · ${fmtInt(crashes)} ${crashes === 1 ? 'crash' : 'crashes'} · ${decisions.length} decisions</span></div><div class="chips">${chips || '<span class="sub">none</span>'}</div></div>`);
      const sw = meta.swarm || {};
      const anyOn = Object.values(sw).some((f) => f && f.enabled);
      const fam = !anyOn ? '' : Object.keys(sw).sort().map((k) => {
        const f = sw[k] || {};
        const title = f.enabled ? `mean interval ${f.mean_interval_ms} ms` : 'off for this seed';
        return `<span class="chip ${f.enabled ? 'on' : 'off'}" title="${esc(title)}">${esc(k)}</span>`;
      }).join('');
      if (fam) cards.push(`<div class="card wide"><h3>swarm choices of this seed</h3><div class="chips">${fam}</div></div>`);
      $('summary').innerHTML = cards.join('');
      for (const el of document.querySelectorAll('[data-viol]')) el.addEventListener('click', () => selectViolation(+el.dataset.viol, true));
    }

    // ---- view state --------------------------------------------------------------------------------
    const chart = $('chart');
    const ctx = chart.getContext('2d');
    const ov = $('overview');
    const octx = ov.getContext('2d');
    const GUT = 112;   // lane labels
    const RPAD = 14;
    const AXIS = 24;
    const view = { t0: 0, t1: END * 1.01 };
    let W = 800, H = 400, DPR = 1;
    let scrollY = 0;         // vertical scroll of lanes
    let contentH = 0;
    let selection = null;    // {type, id}
    let hover = null;
    let drawnArrows = [];    // arrow ids drawn in the last frame, for hit tests
    const opts = { arrows: true, clientArrows: true, ops: true };
    const MIN_SPAN = 2000;   // 2 µs

    const LANE_H = { world: 34, node: 58, client: 24 };
    function layout() {
      let y = AXIS + 4;
      for (const l of lanes) {
        if (l.hidden) { l.h = 0; continue; }
        l.y = y;
        l.h = LANE_H[l.group] || 26;
        y += l.h + 1;
      }
      contentH = y + 6;
    }
    const xOf = (t) => GUT + (t - view.t0) / (view.t1 - view.t0) * (W - GUT - RPAD);
    const tOf = (x) => view.t0 + (x - GUT) / (W - GUT - RPAD) * (view.t1 - view.t0);
    const laneAt = (y) => {
      const yy = y + scrollY;
      for (const l of lanes) if (!l.hidden && yy >= l.y && yy < l.y + l.h) return l;
      return null;
    };
    const midY = (l) => l.y + (l.group === 'node' ? 33 : l.group === 'client' ? l.h / 2 : 24) - scrollY;

    function setView(t0, t1) {
      let span = Math.max(MIN_SPAN, t1 - t0);
      const maxSpan = END * 1.2;
      span = Math.min(span, maxSpan);
      let a = (t0 + t1) / 2 - span / 2;
      a = Math.max(-END * 0.05, Math.min(a, END * 1.05 - span));
      view.t0 = a; view.t1 = a + span;
      schedule();
      scheduleList();
      scheduleHash();
    }
    // The view and the selected event live in the address (#t=START-END&e=INDEX, in seconds and
    // trace indices), so a link or a reload shows the same moment.
    let hashTimer = 0;
    function scheduleHash() {
      clearTimeout(hashTimer);
      hashTimer = setTimeout(() => {
        let h = `#t=${(view.t0 / 1e9).toFixed(9)}-${(view.t1 / 1e9).toFixed(9)}`;
        if (selection && selection.type === 'event') h += `&e=${traceIndex(selection.id)}`;
        if (location.hash !== h) history.replaceState(null, '', h);
      }, 300);
    }
    function readHash() {
      const m = /t=(-?[0-9.]+)-(-?[0-9.]+)/.exec(location.hash);
      const e = /e=([0-9]+)/.exec(location.hash);
      let done = false;
      if (e) {
        const idx = +e[1];
        let p = D.i ? D.i.indexOf(idx) : idx - D.i0;
        if (p >= 0 && p < N) { selectEvent(p, !m); done = true; }
      }
      if (m) { setView(+m[1] * 1e9, +m[2] * 1e9); done = true; }
      return done;
    }
    function zoomAt(factor, x) {
      const t = tOf(x === undefined ? (GUT + W) / 2 : x);
      setView(t - (t - view.t0) * factor, t + (view.t1 - t) * factor);
    }
    function center(t, span) {
      const s = span || (view.t1 - view.t0);
      setView(t - s / 2, t + s / 2);
    }

    let frame = 0;
    function schedule() { if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); drawOverview(); }); }

    function resize() {
      const dpr = window.devicePixelRatio || 1;
      if (dpr !== DPR) for (const k of Object.keys(patterns)) delete patterns[k];
      DPR = dpr;
      layout();
      // The diagram is as tall as its lanes, within 260 px and three quarters of the window.
      $('chart-row').style.height = Math.max(260, Math.min(contentH + 2, Math.round(window.innerHeight * 0.75))) + 'px';
      const r = chart.getBoundingClientRect();
      W = Math.max(300, r.width); H = Math.max(200, r.height);
      chart.width = Math.round(W * DPR); chart.height = Math.round(H * DPR);
      const o = ov.getBoundingClientRect();
      ov.width = Math.round(Math.max(300, o.width) * DPR); ov.height = Math.round(44 * DPR);
      layout();
      scrollY = Math.max(0, Math.min(scrollY, contentH - H));
      draw(); drawOverview();
    }

    // ---- binary searches -----------------------------------------------------------------------------
    function lowerBound(arr, t) {  // first position in arr (event ids) with T >= t
      let lo = 0, hi = arr.length;
      while (lo < hi) { const m = (lo + hi) >> 1; if (T[arr[m]] < t) lo = m + 1; else hi = m; }
      return lo;
    }
    function lowerBoundT(t) {
      let lo = 0, hi = N;
      while (lo < hi) { const m = (lo + hi) >> 1; if (T[m] < t) lo = m + 1; else hi = m; }
      return lo;
    }

    // ---- drawing -------------------------------------------------------------------------------------
    const patterns = {};
    function hatch(color, bg, gap) {
      const key = color + bg + gap;
      if (patterns[key]) return patterns[key];
      const c = document.createElement('canvas');
      c.width = c.height = gap * DPR;
      const g = c.getContext('2d');
      g.fillStyle = bg; g.fillRect(0, 0, c.width, c.height);
      g.strokeStyle = color; g.lineWidth = 1.2 * DPR;
      g.beginPath(); g.moveTo(0, c.height); g.lineTo(c.width, 0);
      g.moveTo(-c.width / 2, c.height / 2); g.lineTo(c.width / 2, -c.height / 2);
      g.moveTo(c.width / 2, c.height * 1.5); g.lineTo(c.width * 1.5, c.height / 2);
      g.stroke();
      const pattern = ctx.createPattern(c, 'repeat');
      // Drawn at device pixels: undo the context's scale so stripes keep their width on any display.
      if (pattern.setTransform && typeof DOMMatrix === 'function') pattern.setTransform(new DOMMatrix().scale(1 / DPR));
      patterns[key] = pattern;
      return pattern;
    }
    const SPAN_STYLE = {
      down: { fill: () => hatch('rgba(17,24,39,.55)', 'rgba(55,65,81,.28)', 8), text: '#111827' },
      paused: { fill: () => hatch('rgba(180,83,9,.6)', 'rgba(251,191,36,.25)', 8), text: '#92400e' },
      partitioned: { row: 0, color: '#a855f7', text: '#6b21a8' },
      clogged: { row: 1, color: '#b45309', text: '#78350f' },
      'disk-faults': { row: 2, color: '#ef4444', text: '#991b1b' },
    };
    const ROLE_COLOR = (v) => v === 'primary' ? '#dbeafe' : v.startsWith('replica') ? '#e7f6ec' : '#f1f5f9';
    const ROLE_TEXT = (v) => v === 'primary' ? '#1d4ed8' : '#15803d';
    const OUTCOME_COLOR = { ok: '#22c55e', fail: '#ef4444', unknown: '#f59e0b', pending: '#94a3b8' };

    function clipX(x) { return Math.max(GUT - 2, Math.min(W + 2, x)); }

    function draw() {
      const drawStart = performance.now();
      const t0 = view.t0, t1 = view.t1;
      ctx.setTransform(DPR, 0, 0, DPR, 0, 0);
      ctx.clearRect(0, 0, W, H);
      ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, H);
      ctx.save();
      ctx.beginPath(); ctx.rect(0, AXIS, W, H - AXIS); ctx.clip();

      // lanes: backgrounds and separators
      for (const l of lanes) {
        if (l.hidden) continue;
        const y = l.y - scrollY;
        if (y > H || y + l.h < AXIS) continue;
        ctx.fillStyle = l.group === 'world' ? '#f8fafc' : l.group === 'client' ? '#fcfcfd' : '#fff';
        ctx.fillRect(GUT, y, W - GUT, l.h);
        ctx.fillStyle = '#eef0f3'; ctx.fillRect(0, y + l.h, W, 1);
      }
      drawGrid(t0, t1);
      ctx.save();
      ctx.beginPath(); ctx.rect(GUT, AXIS, W - GUT, H - AXIS); ctx.clip();
      drawPhases(t0, t1);
      drawBands(t0, t1);
      drawSpans(t0, t1);
      if (opts.ops) drawOps(t0, t1);
      drawEvents(t0, t1);
      drawArrows(t0, t1);
      drawViolations(t0, t1);
      drawSelection();
      ctx.restore();
      drawLaneLabels();
      ctx.restore();
      if (contentH > H) {
        // More lanes than fit: a scroll bar (drag the diagram, or use the wheel over the lane names).
        const track = H - AXIS, thumb = Math.max(24, track * H / contentH);
        const top = AXIS + (track - thumb) * scrollY / (contentH - H);
        ctx.fillStyle = 'rgba(100,116,139,.35)';
        ctx.fillRect(W - 6, top, 4, thumb);
      }
      drawAxis(t0, t1);
      $('range-label').textContent = `${fmtTime(Math.max(0, t0), 4)} – ${fmtTime(t1, 4)}  (${fmtDur(t1 - t0)} shown)`;
      // How long the last frame took (read by the headless test's measurements).
      root.setAttribute('data-replsim-draw-ms', (performance.now() - drawStart).toFixed(1));
    }

    function niceStep(span, px) {
      const target = span / Math.max(1, px / 110);
      const p = Math.pow(10, Math.floor(Math.log10(target)));
      for (const m of [1, 2, 5, 10]) if (m * p >= target) return m * p;
      return 10 * p;
    }
    function tickLabel(t, step) {
      if (step >= 1e9) return (t / 1e9).toFixed(0) + ' s';
      if (step >= 1e8) return (t / 1e9).toFixed(1) + ' s';
      if (step >= 1e7) return (t / 1e9).toFixed(2) + ' s';
      if (step >= 1e6) return (t / 1e9).toFixed(3) + ' s';
      if (step >= 1e5) return (t / 1e9).toFixed(4) + ' s';
      if (step >= 1e4) return (t / 1e9).toFixed(5) + ' s';
      return (t / 1e9).toFixed(7) + ' s';
    }
    function drawGrid(t0, t1) {
      const step = niceStep(t1 - t0, W - GUT);
      ctx.fillStyle = '#f1f3f6';
      for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ctx.fillRect(Math.round(xOf(t)), AXIS, 1, H - AXIS);
    }
    function drawAxis(t0, t1) {
      ctx.fillStyle = '#fbfcfd'; ctx.fillRect(0, 0, W, AXIS);
      ctx.fillStyle = '#e3e6eb'; ctx.fillRect(0, AXIS - 1, W, 1);
      const step = niceStep(t1 - t0, W - GUT);
      ctx.font = '11px system-ui, sans-serif'; ctx.textBaseline = 'middle'; ctx.textAlign = 'center';
      for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
        const x = xOf(t);
        if (x < GUT + 16 || x > W - 20) continue;
        ctx.fillStyle = '#9aa3af'; ctx.fillRect(Math.round(x), AXIS - 5, 1, 4);
        ctx.fillStyle = '#4b5563'; ctx.fillText(tickLabel(t, step), x, AXIS / 2 - 1);
      }
      ctx.textAlign = 'left'; ctx.fillStyle = '#6b7280';
      ctx.fillText('time →', 8, AXIS / 2 - 1);
    }
    function drawLaneLabels() {
      ctx.fillStyle = '#fbfcfd'; ctx.fillRect(0, AXIS, GUT, H - AXIS);
      ctx.fillStyle = '#e3e6eb'; ctx.fillRect(GUT - 1, AXIS, 1, H - AXIS);
      ctx.textBaseline = 'middle'; ctx.textAlign = 'left';
      for (const l of lanes) {
        if (l.hidden) continue;
        const y = l.y - scrollY;
        if (y > H || y + l.h < AXIS) continue;
        if (l.group === 'node') {
          ctx.font = '600 13px system-ui, sans-serif'; ctx.fillStyle = '#111827';
          ctx.fillText(l.name, 10, y + 20);
          const role = bandAt(l.i, 'role', view.t1);
          ctx.font = '11px system-ui, sans-serif'; ctx.fillStyle = '#6b7280';
          ctx.fillText(l.cluster ? 'cluster ' + l.cluster : 'node', 10, y + 37);
          if (role) {
            ctx.fillStyle = ROLE_TEXT(role.value);
            ctx.fillText(role.value === 'primary' ? 'primary' : 'replica', 10, y + 50);
          }
        } else if (l.group === 'world') {
          ctx.font = '600 12px system-ui, sans-serif'; ctx.fillStyle = '#374151';
          ctx.fillText('world', 10, y + 12);
          ctx.font = '11px system-ui, sans-serif'; ctx.fillStyle = '#6b7280';
          ctx.fillText('phases, network', 10, y + 26);
        } else {
          ctx.font = '12px system-ui, sans-serif'; ctx.fillStyle = l.name.startsWith('client-') ? '#166534' : '#9d174d';
          ctx.fillText(l.name, 10, y + l.h / 2);
        }
      }
    }
    function bandAt(lane, track, t) {
      for (const b of bands) if (b.lane === lane && b.track === track && b.b <= t && t < b.e) return b;
      return null;
    }
    function drawPhases(t0, t1) {
      const l = lanes[0];
      if (!l || l.group !== 'world' || l.hidden) return;
      const y = l.y - scrollY;
      ctx.font = '11px system-ui, sans-serif'; ctx.textBaseline = 'middle';
      for (const p of PHASES) {
        if (p.e < t0 || p.b > t1) continue;
        const x0 = clipX(xOf(p.b)), x1 = clipX(xOf(p.e));
        ctx.fillStyle = PHASE_COLOR[p.name] || '#eef2f7';
        ctx.fillRect(x0, y + 3, Math.max(1, x1 - x0 - 1), 13);
        if (x1 - x0 > 60) {
          ctx.fillStyle = '#374151';
          ctx.fillText(p.name + ' phase', Math.max(x0, GUT) + 5, y + 10);
        }
      }
    }
    function drawBands(t0, t1) {
      ctx.font = '11px system-ui, sans-serif'; ctx.textBaseline = 'middle';
      for (const b of bands) {
        const l = lanes[b.lane];
        if (l.hidden || b.e < t0 || b.b > t1) continue;
        const y = l.y - scrollY;
        const x0 = clipX(xOf(b.b)), x1 = clipX(xOf(b.e));
        if (b.track === 'role') {
          ctx.fillStyle = ROLE_COLOR(b.value);
          ctx.fillRect(x0, y + 2, Math.max(1, x1 - x0), l.h - 4);
          ctx.fillStyle = ROLE_TEXT(b.value);
          ctx.fillRect(x0, y + 2, Math.max(1, x1 - x0), 2);
          if (x1 - x0 > 70) ctx.fillText(b.value, Math.max(x0, GUT) + 5, y + 10);
        } else {
          ctx.fillStyle = '#fb923c';
          ctx.fillRect(x0, y + l.h - 11, Math.max(2, x1 - x0), 7);
          if (x1 - x0 > 80) { ctx.fillStyle = '#7c2d12'; ctx.fillText('recovering', Math.max(x0, GUT) + 5, y + l.h - 7.5); }
        }
      }
    }
    function drawSpans(t0, t1) {
      ctx.font = '11px system-ui, sans-serif'; ctx.textBaseline = 'middle';
      for (const s of spans) {
        const l = lanes[s.lane];
        if (l.hidden || s.e < t0 || s.b > t1) continue;
        const st = SPAN_STYLE[s.kind] || SPAN_STYLE['disk-faults'];
        const y = l.y - scrollY;
        const x0 = clipX(xOf(s.b)), x1 = clipX(xOf(s.e));
        const w = Math.max(2, x1 - x0);
        if (st.fill) {
          ctx.fillStyle = st.fill();
          ctx.fillRect(x0, y + 1, w, l.h - 2);
          ctx.fillStyle = st.text;
          ctx.fillRect(x0, y + 1, 2, l.h - 2);
          if (w > 60) {
            ctx.fillStyle = 'rgba(255,255,255,.85)';
            const label = s.label;
            const tw = Math.min(ctx.measureText(label).width + 8, w - 6);
            // At the lane's top, where the role label would be: event markers sit in the middle.
            ctx.fillRect(Math.max(x0, GUT) + 4, y + 3, tw, 14);
            ctx.fillStyle = st.text;
            ctx.save(); ctx.beginPath(); ctx.rect(Math.max(x0, GUT) + 4, y, tw, l.h); ctx.clip();
            ctx.fillText(label, Math.max(x0, GUT) + 8, y + 10);
            ctx.restore();
          }
        } else {
          const ry = y + 13 + st.row * 5;
          ctx.fillStyle = st.color;
          ctx.globalAlpha = 0.85;
          ctx.fillRect(x0, ry, w, 4);
          ctx.globalAlpha = 1;
          if (l.group === 'world' && w > 60) {
            ctx.fillStyle = st.text; ctx.fillText(s.label, Math.max(x0, GUT) + 4, ry - 5);
          }
        }
      }
    }
    function drawOps(t0, t1) {
      ctx.font = '11px system-ui, sans-serif'; ctx.textBaseline = 'middle';
      for (const l of lanes) {
        if (l.hidden || l.group !== 'client') continue;
        const list = laneOps[l.i];
        if (!list.length) continue;
        const y = l.y - scrollY;
        if (y > H || y + l.h < AXIS) continue;
        // ops of one client do not overlap: skip to the first that may be visible
        let lo = 0, hi = list.length;
        while (lo < hi) { const m = (lo + hi) >> 1; if (list[m].end < t0) lo = m + 1; else hi = m; }
        const pxPerNs = (W - GUT - RPAD) / (t1 - t0);
        let lastX = -1;
        for (let k = lo; k < list.length; k++) {
          const op = list[k];
          if (op.inv > t1) break;
          const x0 = xOf(op.inv), x1 = xOf(op.end);
          if (x1 < lastX + 0.5 && x1 - x0 < 1) continue;  // sub-pixel crowd: one mark per pixel
          lastX = x1;
          const w = Math.max(1.5, x1 - x0);
          ctx.fillStyle = OUTCOME_COLOR[op.outcome] || '#94a3b8';
          ctx.globalAlpha = op.outcome === 'ok' ? 0.55 : 0.9;
          ctx.fillRect(x0, y + 5, w, l.h - 10);
          ctx.globalAlpha = 1;
          if (w > 46 && pxPerNs > 0) {
            ctx.fillStyle = '#14532d';
            ctx.save(); ctx.beginPath(); ctx.rect(x0, y, w - 2, l.h); ctx.clip();
            ctx.fillText(`${op.kind.toUpperCase()} ${op.key}${op.outcome !== 'ok' ? ' → ' + op.outcome : ''}`, x0 + 3, y + l.h / 2);
            ctx.restore();
          }
        }
      }
    }
    function eventY(l) {
      const y = l.y - scrollY;
      if (l.group === 'node') return [y + 24, 18];
      if (l.group === 'world') return [y + 18, 14];
      return [y + 4, l.h - 8];
    }
    const colBuf = { n: 0, counts: null, cats: null };
    function drawEvents(t0, t1) {
      const width = Math.ceil(W - GUT - RPAD) + 2;
      const nc = cats.length;
      if (colBuf.n !== width * nc) { colBuf.n = width * nc; colBuf.counts = new Uint32Array(width); colBuf.cats = new Uint32Array(width * nc); }
      const majors = [];
      for (const l of lanes) {
        if (l.hidden) continue;
        const y = l.y - scrollY;
        if (y > H || y + l.h < AXIS) continue;
        const arr = laneEv[l.i];
        const a = lowerBound(arr, t0), b = lowerBound(arr, t1 + 1);
        const [ey, eh] = eventY(l);
        const client = l.group === 'client';
        // A client's operations already show its activity; its dense network ticks would only blur them.
        if (client && opts.ops && laneOps[l.i].length && b - a > width * 0.5) continue;
        if (b - a > width * 1.5) {
          // dense: aggregate per pixel column, height by log count, colour of the commonest category
          const counts = colBuf.counts, cc = colBuf.cats;
          counts.fill(0); cc.fill(0);
          let maxC = 1;
          for (let p = a; p < b; p++) {
            const e = arr[p];
            if (kindHidden[EK[e]]) continue;
            if (kindMajor[EK[e]]) { majors.push(e); }
            const col = Math.floor(xOf(T[e]) - GUT);
            if (col < 0 || col >= width) continue;
            const c = ++counts[col];
            if (c > maxC) maxC = c;
            cc[col * nc + kindCatIdx[EK[e]]]++;
          }
          const scale = Math.log2(maxC + 1);
          for (let col = 0; col < width; col++) {
            const c = counts[col];
            if (!c) continue;
            let best = 0, bc = -1;
            for (let k = 0; k < nc; k++) { const v = cc[col * nc + k]; if (v > bc) { bc = v; best = k; } }
            const hh = Math.max(2, eh * Math.log2(c + 1) / scale);
            ctx.fillStyle = catColors[best];
            ctx.globalAlpha = client ? 0.25 : 0.55;
            ctx.fillRect(GUT + col, ey + eh - hh, 1, hh);
          }
          ctx.globalAlpha = 1;
        } else {
          for (let p = a; p < b; p++) {
            const e = arr[p];
            const k = EK[e];
            if (kindHidden[k]) continue;
            if (kindMajor[k]) { majors.push(e); continue; }
            const x = xOf(T[e]);
            ctx.fillStyle = catColors[kindCatIdx[k]];
            ctx.globalAlpha = client ? 0.35 : 0.8;
            ctx.fillRect(x - 0.5, ey + (client ? 0 : 3), 1.5, client ? eh : eh - 6);
          }
          ctx.globalAlpha = 1;
        }
      }
      // Major events on top, as markers; a label only where it fits before the next marker.
      ctx.font = '10.5px system-ui, sans-serif'; ctx.textBaseline = 'middle';
      majors.sort((p, q) => (EL[p] - EL[q]) || (p - q));
      for (let m = 0; m < majors.length; m++) {
        const e = majors[m];
        const l = lanes[EL[e]];
        const x = xOf(T[e]);
        const [ey, eh] = eventY(l);
        const k = EK[e];
        const cy = ey + eh / 2;
        ctx.fillStyle = catColors[kindCatIdx[k]];
        ctx.strokeStyle = '#fff'; ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(x, cy - 5); ctx.lineTo(x + 4.5, cy); ctx.lineTo(x, cy + 5); ctx.lineTo(x - 4.5, cy); ctx.closePath();
        ctx.fill(); ctx.stroke();
      }
      let labelEnd = -Infinity, labelLane = -1;
      for (let m = 0; m < majors.length; m++) {
        const e = majors[m];
        const l = lanes[EL[e]];
        if (l.group === 'client') continue;
        if (l.i !== labelLane) { labelLane = l.i; labelEnd = -Infinity; }
        const x = xOf(T[e]);
        const nextX = m + 1 < majors.length && EL[majors[m + 1]] === EL[e] ? xOf(T[majors[m + 1]]) : W - RPAD;
        const name = kinds[EK[e]];
        const label = name.startsWith('fault.') ? name.slice(6) : name;
        const tw = ctx.measureText(label).width;
        if (x - 5 < labelEnd || x + 10 + tw > nextX - 3) continue;
        const [ey, eh] = eventY(l);
        const cy = ey + eh / 2;
        ctx.fillStyle = 'rgba(255,255,255,.85)';
        ctx.fillRect(x + 5, cy - 6, tw + 4, 12);
        ctx.fillStyle = '#1f2937';
        ctx.fillText(label, x + 7, cy);
        labelEnd = x + 10 + tw;
      }
    }
    function arrowVisible(j) {
      const from = lanes[AR[6 * j + 2]], to = lanes[AR[6 * j + 3]];
      if (from.hidden || to.hidden) return false;
      if (!opts.clientArrows && (from.group !== 'node' || to.group !== 'node')) return false;
      return true;
    }
    const ARROW_LIMIT = 2500;
    function firstArrowFrom(t) {  // first arrow with send time >= t
      let lo = 0, hi = NA;
      while (lo < hi) { const m = (lo + hi) >> 1; if (T[AR[6 * m]] < t) lo = m + 1; else hi = m; }
      return lo;
    }
    function drawArrows(t0, t1) {
      drawnArrows = [];
      const note = $('chart-note');
      if (!opts.arrows || NA === 0) { note.textContent = ''; return; }
      const start = firstArrowFrom(t0 - maxArrowNs);
      const end = firstArrowFrom(t1 + 1);
      const visible = [];
      for (let j = start; j < end; j++) {
        if (T[AR[6 * j + 1]] < t0) continue;
        if (!arrowVisible(j)) continue;
        visible.push(j);
        if (visible.length > ARROW_LIMIT) break;
      }
      if (visible.length > ARROW_LIMIT) {
        note.textContent = `more than ${fmtInt(ARROW_LIMIT)} messages in view — zoom in to draw them as arrows`;
        return;
      }
      note.textContent = visible.length ? `${fmtInt(visible.length)} messages in view` : '';
      const faint = visible.length > 600;
      for (const j of visible) {
        const s = AR[6 * j], e = AR[6 * j + 1];
        const from = lanes[AR[6 * j + 2]], to = lanes[AR[6 * j + 3]];
        const flags = AR[6 * j + 5];
        const x0 = xOf(T[s]), x1 = xOf(T[e]);
        const y0 = midY(from), y1 = midY(to);
        const clientTraffic = from.group !== 'node' || to.group !== 'node';
        let color = clientTraffic ? 'rgba(71,85,105,' : 'rgba(37,99,235,';
        if (flags & 2) color = 'rgba(220,38,38,';
        const alpha = faint ? (clientTraffic ? 0.18 : 0.35) : (clientTraffic ? 0.45 : 0.7);
        ctx.strokeStyle = color + alpha + ')';
        ctx.fillStyle = ctx.strokeStyle;
        ctx.lineWidth = 1;
        if (flags & 1) ctx.setLineDash([2, 3]); else if (flags & 2) ctx.setLineDash([5, 3]);
        ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
        ctx.setLineDash([]);
        const len = Math.hypot(x1 - x0, y1 - y0);
        if (flags & 2) {
          ctx.beginPath(); ctx.moveTo(x1 - 3, y1 - 3); ctx.lineTo(x1 + 3, y1 + 3); ctx.moveTo(x1 + 3, y1 - 3); ctx.lineTo(x1 - 3, y1 + 3); ctx.stroke();
        } else if (len > 10 && !faint) {
          const ang = Math.atan2(y1 - y0, x1 - x0);
          ctx.beginPath(); ctx.moveTo(x1, y1);
          ctx.lineTo(x1 - 6 * Math.cos(ang - 0.4), y1 - 6 * Math.sin(ang - 0.4));
          ctx.lineTo(x1 - 6 * Math.cos(ang + 0.4), y1 - 6 * Math.sin(ang + 0.4));
          ctx.closePath(); ctx.fill();
        }
        drawnArrows.push(j);
      }
    }
    function drawViolations(t0, t1) {
      for (const v of violations) {
        if (v.t < t0 || v.t > t1) continue;
        const x = Math.round(xOf(v.t)) + 0.5;
        ctx.strokeStyle = 'rgba(220,38,38,.85)'; ctx.lineWidth = 1.5; ctx.setLineDash([6, 4]);
        ctx.beginPath(); ctx.moveTo(x, AXIS); ctx.lineTo(x, H); ctx.stroke(); ctx.setLineDash([]);
        ctx.font = '600 11px system-ui, sans-serif'; ctx.textBaseline = 'middle';
        const label = '✖ ' + v.check;
        const tw = ctx.measureText(label).width + 10;
        const lx = Math.min(x + 3, W - RPAD - tw);
        ctx.fillStyle = '#dc2626'; ctx.fillRect(lx, AXIS + 2, tw, 16);
        ctx.fillStyle = '#fff'; ctx.fillText(label, lx + 5, AXIS + 10);
        const l = laneByName.get(v.node);
        if (l && !l.hidden) {
          const cy = midY(l);
          ctx.fillStyle = '#dc2626'; ctx.strokeStyle = '#fff'; ctx.lineWidth = 1.5;
          ctx.beginPath(); ctx.moveTo(x, cy - 8); ctx.lineTo(x + 8, cy); ctx.lineTo(x, cy + 8); ctx.lineTo(x - 8, cy); ctx.closePath();
          ctx.fill(); ctx.stroke();
        }
      }
    }
    function ring(x, y, r, color) {
      ctx.strokeStyle = color || '#2563eb'; ctx.lineWidth = 2.2;
      ctx.beginPath(); ctx.arc(x, y, r, 0, Math.PI * 2); ctx.stroke();
    }
    function drawSelection() {
      const sel = hover && (!selection || hover.type !== selection.type || hover.id !== selection.id) ? [hover, selection] : [selection];
      for (const s of sel) {
        if (!s) continue;
        const main = s === selection;
        const color = main ? '#2563eb' : 'rgba(37,99,235,.45)';
        if (s.type === 'event') {
          const l = lanes[EL[s.id]];
          if (l.hidden) continue;
          const [ey, eh] = eventY(l);
          ring(xOf(T[s.id]), ey + eh / 2, 7, color);
          const j = arrowOf.get(s.id);
          if (j !== undefined && main) highlightArrow(j, color);
        } else if (s.type === 'arrow') {
          highlightArrow(s.id, color);
        } else if (s.type === 'op') {
          const op = ops[s.id];
          const l = laneByName.get('client-' + op.client);
          if (!l || l.hidden) continue;
          const y = l.y - scrollY;
          ctx.strokeStyle = color; ctx.lineWidth = 2;
          ctx.strokeRect(xOf(op.inv) - 1, y + 3, Math.max(3, xOf(op.end) - xOf(op.inv) + 2), l.h - 6);
        } else if (s.type === 'span' || s.type === 'band') {
          const it = s.type === 'span' ? spans[s.id] : bands[s.id];
          const l = lanes[it.lane];
          if (l.hidden) continue;
          const y = l.y - scrollY;
          ctx.strokeStyle = color; ctx.lineWidth = 2;
          ctx.strokeRect(clipX(xOf(it.b)), y + 1, Math.max(3, clipX(xOf(it.e)) - clipX(xOf(it.b))), l.h - 2);
        }
      }
    }
    function highlightArrow(j, color) {
      const from = lanes[AR[6 * j + 2]], to = lanes[AR[6 * j + 3]];
      if (from.hidden || to.hidden) return;
      const x0 = xOf(T[AR[6 * j]]), x1 = xOf(T[AR[6 * j + 1]]);
      ctx.strokeStyle = color; ctx.lineWidth = 2.5;
      ctx.beginPath(); ctx.moveTo(x0, midY(from)); ctx.lineTo(x1, midY(to)); ctx.stroke();
      ctx.beginPath(); ctx.arc(x0, midY(from), 3, 0, 7); ctx.arc(x1, midY(to), 3, 0, 7); ctx.fillStyle = color; ctx.fill();
    }

    // ---- overview: the whole run, with the visible window --------------------------------------------
    let ovHist = null;
    function drawOverview() {
      const w = ov.width / DPR, h = 44;
      octx.setTransform(DPR, 0, 0, DPR, 0, 0);
      octx.clearRect(0, 0, w, h);
      octx.fillStyle = '#fbfcfd'; octx.fillRect(0, 0, w, h);
      const ox = (t) => GUT + t / END * (w - GUT - RPAD);
      for (const p of PHASES) {
        octx.fillStyle = PHASE_COLOR[p.name] || '#eef2f7';
        octx.fillRect(ox(p.b), 2, Math.max(1, ox(p.e) - ox(p.b)), h - 4);
      }
      const cols = Math.max(1, Math.floor(w - GUT - RPAD));
      if (!ovHist || ovHist.length !== cols) {
        ovHist = new Uint32Array(cols);
        for (let i = 0; i < N; i++) {
          const c = Math.min(cols - 1, Math.floor(T[i] / END * cols));
          ovHist[c]++;
        }
      }
      let mx = 1;
      for (let c = 0; c < cols; c++) mx = Math.max(mx, ovHist[c]);
      octx.fillStyle = 'rgba(71,85,105,.55)';
      for (let c = 0; c < cols; c++) {
        if (!ovHist[c]) continue;
        const hh = Math.max(1, (h - 12) * Math.sqrt(ovHist[c] / mx));
        octx.fillRect(GUT + c, h - 4 - hh, 1, hh);
      }
      for (const s of spans) {
        if (s.kind !== 'down' && s.kind !== 'paused') continue;
        octx.fillStyle = s.kind === 'down' ? 'rgba(17,24,39,.75)' : 'rgba(217,119,6,.8)';
        octx.fillRect(ox(s.b), 2, Math.max(2, ox(s.e) - ox(s.b)), 4);
      }
      for (const v of violations) { octx.fillStyle = '#dc2626'; octx.fillRect(ox(v.t) - 1, 0, 3, h); }
      octx.font = '11px system-ui, sans-serif'; octx.textBaseline = 'middle'; octx.fillStyle = '#6b7280';
      octx.fillText('whole run', 10, h / 2 - 6);
      octx.fillText(fmtDur(END), 10, h / 2 + 8);
      const a = Math.max(GUT, ox(view.t0)), b = Math.min(w - RPAD, ox(view.t1));
      octx.fillStyle = 'rgba(37,99,235,.12)'; octx.fillRect(a, 0, Math.max(2, b - a), h);
      octx.strokeStyle = '#2563eb'; octx.lineWidth = 1.5; octx.strokeRect(a + 0.5, 0.75, Math.max(2, b - a - 1), h - 1.5);
    }

    // ---- hit testing ---------------------------------------------------------------------------------
    function hitTest(x, y) {
      if (x < GUT || y < AXIS) return null;
      const l = laneAt(y);
      const t = tOf(x);
      const tol = 5 * (view.t1 - view.t0) / (W - GUT - RPAD);
      // violations: the flag at the top or the line
      for (const v of violations) {
        if (Math.abs(xOf(v.t) - x) <= 4 && (y < AXIS + 20 || (l && l.name === v.node && Math.abs(midY(l) - y) < 9))) return { type: 'violation', id: v.i };
      }
      if (l) {
        // events near the pointer on this lane, closest first, major events preferred
        const arr = laneEv[l.i];
        let best = -1, bd = Infinity;
        for (let p = lowerBound(arr, t - tol); p < arr.length && T[arr[p]] <= t + tol; p++) {
          const e = arr[p];
          if (kindHidden[EK[e]]) continue;
          const d = Math.abs(T[e] - t) - (kindMajor[EK[e]] ? tol : 0);
          if (d < bd) { bd = d; best = e; }
        }
        const [ey, eh] = eventY(l);
        const inEventRow = y + scrollY >= ey + scrollY - 4 && y <= ey + eh + 4;
        if (best >= 0 && (inEventRow || kindMajor[EK[best]])) return { type: 'event', id: best };
      }
      // arrows drawn in the last frame
      let ba = -1, bad = 4;
      for (const j of drawnArrows) {
        const from = lanes[AR[6 * j + 2]], to = lanes[AR[6 * j + 3]];
        const x0 = xOf(T[AR[6 * j]]), x1 = xOf(T[AR[6 * j + 1]]), y0 = midY(from), y1 = midY(to);
        const d = segDist(x, y, x0, y0, x1, y1);
        if (d < bad) { bad = d; ba = j; }
      }
      if (ba >= 0) return { type: 'arrow', id: ba };
      if (!l) return null;
      if (l.group === 'client' && opts.ops) {
        for (const op of laneOps[l.i]) if (op.inv - tol <= t && t <= op.end + tol) return { type: 'op', id: ops.indexOf(op) };
      }
      const yy = y + scrollY - l.y;
      for (let i = spans.length - 1; i >= 0; i--) {
        const s = spans[i];
        if (s.lane !== l.i || s.b > t || s.e < t) continue;
        const st = SPAN_STYLE[s.kind] || {};
        if (st.fill || (yy >= 12 + st.row * 5 && yy <= 18 + st.row * 5)) return { type: 'span', id: i };
      }
      for (let i = bands.length - 1; i >= 0; i--) {
        const b = bands[i];
        if (b.lane !== l.i || b.b > t || b.e < t) continue;
        if (b.track === 'recovering' && yy < l.h - 12) continue;
        return { type: 'band', id: i };
      }
      return null;
    }
    function segDist(px, py, x0, y0, x1, y1) {
      const dx = x1 - x0, dy = y1 - y0;
      const len2 = dx * dx + dy * dy;
      let u = len2 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
      u = Math.max(0, Math.min(1, u));
      return Math.hypot(px - (x0 + u * dx), py - (y0 + u * dy));
    }
    function describe(hit) {
      if (!hit) return '';
      if (hit.type === 'event') return `${kinds[EK[hit.id]]} · ${lanes[EL[hit.id]].name} · ${fmtTime(T[hit.id])}\n${DET[hit.id].slice(0, 300)}`;
      if (hit.type === 'arrow') {
        const j = hit.id;
        return `message ${lanes[AR[6 * j + 2]].name} → ${lanes[AR[6 * j + 3]].name}${AR[6 * j + 5] & 1 ? ' (FIN)' : ` · ${AR[6 * j + 4]} bytes`}${AR[6 * j + 5] & 2 ? ' · LOST' : ''}\n${fmtDur(T[AR[6 * j + 1]] - T[AR[6 * j]])} in flight`;
      }
      if (hit.type === 'op') { const op = ops[hit.id]; return `${op.kind.toUpperCase()} ${op.key} → ${op.outcome}\n${op.reply}`; }
      if (hit.type === 'span') { const s = spans[hit.id]; return `${s.label}\n${fmtDur(s.e - s.b)}${s.open ? ' (until the end)' : ''}`; }
      if (hit.type === 'band') { const b = bands[hit.id]; return `${b.value}\n${fmtDur(b.e - b.b)}`; }
      if (hit.type === 'violation') { const v = violations[hit.id]; return `${v.check}\n${v.message}`; }
      return '';
    }

    // ---- side panel ------------------------------------------------------------------------------------
    let tab = 'selection';
    function setTab(name) {
      tab = name;
      for (const b of document.querySelectorAll('#side-tabs button')) b.classList.toggle('active', b.dataset.tab === name);
      renderSide();
    }
    function kv(rows) {
      return '<table class="kv">' + rows.map(([k, v, mono]) => `<tr><td>${esc(k)}</td><td class="${mono ? 'mono' : ''}">${v}</td></tr>`).join('') + '</table>';
    }
    function jsonBlock(x) { return `<pre class="json">${esc(JSON.stringify(x, null, 2))}</pre>`; }
    function eventLink(e, text) { return `<span class="link" data-ev="${e}">${esc(text || ('#' + traceIndex(e)))}</span>`; }
    function renderSide() {
      const body = $('side-body');
      let html = '';
      if (tab === 'selection') html = renderSelection();
      else if (tab === 'violations') html = renderViolationsTab();
      else if (tab === 'faults') html = renderFaultsTab();
      else if (tab === 'nodes') html = renderNodesTab();
      else html = renderHelp();
      body.innerHTML = html;
      for (const el of body.querySelectorAll('[data-ev]')) el.addEventListener('click', () => selectEvent(+el.dataset.ev, true));
      for (const el of body.querySelectorAll('[data-viol]')) el.addEventListener('click', () => selectViolation(+el.dataset.viol, true));
      for (const el of body.querySelectorAll('[data-t]')) el.addEventListener('click', () => center(+el.dataset.t));
      for (const el of body.querySelectorAll('[data-op]')) el.addEventListener('click', () => selectOp(+el.dataset.op, true));
      for (const el of body.querySelectorAll('[data-band]')) el.addEventListener('click', () => { const b = bands[+el.dataset.band]; selection = { type: 'band', id: +el.dataset.band }; ensureVisible(b.b); setTab('selection'); schedule(); });
    }
    function renderSelection() {
      const s = selection;
      if (!s) {
        return `<p class="empty">Click an event, a message arrow, an operation or a shaded span in the diagram (or a row of the event list) to see its fields here.</p>` +
          (violations.length ? `<h4>Violations</h4>` + violations.map(violationItem).join('') : `<p>No check failed in this run.</p>`) + renderStory();
      }
      if (s.type === 'event') {
        const e = s.id;
        const kind = kinds[EK[e]];
        const node = kind.startsWith('fault.') ? '(the simulator, about ' + lanes[EL[e]].name + ')' : (lanes[EL[e]].name === 'world' ? '(the simulator)' : lanes[EL[e]].name);
        const rows = [['event', '#' + traceIndex(e), true], ['time', fmtTime(T[e], 9), true], ['node', esc(node)], ['kind', `<span class="swatch" style="background:${catColors[kindCatIdx[EK[e]]]}"></span> ${esc(kind)}`]];
        const parsed = parseDetail(DET[e]);
        let detailHtml = '';
        if (kind.startsWith('fault.')) {
          const brace = DET[e].indexOf('{');
          let obj = null;
          try { obj = brace >= 0 ? JSON.parse(DET[e].slice(brace)) : null; } catch (err) { obj = null; }
          rows.push(['source', esc(DET[e].slice(0, brace).replace(/^source=/, '').trim())]);
          detailHtml = obj ? jsonBlock(obj) : `<pre class="json">${esc(DET[e])}</pre>`;
        } else if (parsed && parsed.length) {
          for (const [k, v] of parsed) rows.push([k, esc(v), true]);
          detailHtml = `<details><summary class="empty">the detail as traced</summary><pre class="json">${esc(DET[e])}</pre></details>`;
        } else if (DET[e]) {
          detailHtml = `<pre class="json">${esc(DET[e])}</pre>`;
        }
        const j = arrowOf.get(e);
        if (j !== undefined) {
          const other = AR[6 * j] === e ? AR[6 * j + 1] : AR[6 * j];
          const lost = AR[6 * j + 5] & 2;
          const what = AR[6 * j] === e ? (lost ? 'dropped by' : 'delivered by') : 'sent by';
          rows.push(['message', `${what} ${eventLink(other, kinds[EK[other]] + ' #' + traceIndex(other))} on ${esc(lanes[EL[other]].name)}, ${fmtDur(Math.abs(T[other] - T[e]))} ${AR[6 * j] === e ? 'later' : 'earlier'}`]);
        }
        const prev = prevSame(e, -1), next = prevSame(e, 1);
        return `<h4>${esc(kind)}</h4>` + kv(rows) + detailHtml +
          `<p>${prev >= 0 ? eventLink(prev, '← previous ' + kind) : ''}${prev >= 0 && next >= 0 ? ' · ' : ''}${next >= 0 ? eventLink(next, 'next ' + kind + ' →') : ''}</p>`;
      }
      if (s.type === 'arrow') {
        const j = s.id;
        const a = AR[6 * j], b = AR[6 * j + 1], fl = AR[6 * j + 5];
        return `<h4>message ${esc(lanes[AR[6 * j + 2]].name)} → ${esc(lanes[AR[6 * j + 3]].name)}</h4>` + kv([
          ['bytes', fl & 1 ? 'FIN (connection closed)' : fmtInt(AR[6 * j + 4])],
          ['sent', `${eventLink(a, kinds[EK[a]] + ' #' + traceIndex(a))} at ${fmtTime(T[a], 9)}`],
          [fl & 2 ? 'lost' : 'delivered', `${eventLink(b, kinds[EK[b]] + ' #' + traceIndex(b))} at ${fmtTime(T[b], 9)}`],
          ['in flight', fmtDur(T[b] - T[a])],
          ['connection', esc(DET[a].split(' ').slice(0, 2).join(' ')), true],
        ]) + (fl & 2 ? `<p>The connection was reset before these bytes arrived: ${esc(DET[b])}</p>` : '');
      }
      if (s.type === 'op') {
        const op = ops[s.id];
        return `<h4>operation ${op.id}: ${esc(op.kind.toUpperCase())} ${esc(op.key)}</h4>` + kv([
          ['client', 'client-' + op.client], ['outcome', `<b style="color:${OUTCOME_COLOR[op.outcome]}">${esc(op.outcome)}</b>`],
          ['invoked', `<span class="link" data-t="${op.inv}">${fmtTime(op.inv, 9)}</span>`, true],
          ['completed', op.done >= 0 ? `<span class="link" data-t="${op.done}">${fmtTime(op.done, 9)}</span> (${fmtDur(op.done - op.inv)})` : 'never (pending at the end)', true],
          ['node', esc(op.node || '-')], ['args', esc(op.args), true], ['reply', esc(op.reply), true],
          ['values', op.nvalues ? esc(op.values.join(' ')) + (op.nvalues > op.values.length ? ` … (${op.nvalues} in all; history.json has every value)` : '') : (op.nil ? '(nil)' : '-'), true],
        ]);
      }
      if (s.type === 'span') {
        const sp = spans[s.id];
        return `<h4>${esc(sp.kind)} on ${esc(lanes[sp.lane].name)}</h4>` + kv([
          ['what', esc(sp.label)], ['from', sp.be >= 0 ? eventLink(sp.be, fmtTime(sp.b, 6)) : fmtTime(sp.b, 6), true],
          ['until', sp.open ? 'the end of the run' : (sp.ee >= 0 ? eventLink(sp.ee, fmtTime(sp.e, 6)) : fmtTime(sp.e, 6)), true],
          ['duration', fmtDur(sp.e - sp.b)],
        ]);
      }
      if (s.type === 'band') {
        const b = bands[s.id];
        return `<h4>${esc(b.track)} on ${esc(lanes[b.lane].name)}</h4>` + kv([
          ['value', esc(b.value)], ['from', `<span class="link" data-t="${b.b}">${fmtTime(b.b, 6)}</span>`, true],
          ['until', b.open ? 'the end of the run' : `<span class="link" data-t="${b.e}">${fmtTime(b.e, 6)}</span>`, true], ['duration', fmtDur(b.e - b.b)],
        ]);
      }
      if (s.type === 'violation') {
        const v = violations[s.id];
        return `<h4 style="color:#b91c1c">✖ ${esc(v.check)}</h4>` + kv([
          ['time', v.time_ns >= 0 ? fmtTime(v.time_ns, 6) : 'after the run (final check)', true], ['node', esc(v.node || '-')],
          ['message', esc(v.message)],
        ]) + `<h4>evidence</h4>` + jsonBlock(v.evidence || {}) + evidenceLinks(v);
      }
      return '';
    }
    // What happened, in order: phases, faults and interventions, role changes, violations.
    function renderStory() {
      const items = [];
      for (const p of PHASES) items.push({ t: p.b, html: `<b>${esc(p.name)} phase</b> <span class="t">${fmtDur(p.e - p.b)}</span>`, attr: `data-t="${p.b}"` });
      for (const d of decisions) {
        const e = faultEvent(d);
        const node = d.detail && d.detail.node ? ' ' + esc(d.detail.node) : '';
        items.push({ t: d.time_ns, html: `<span class="tag">${esc(d.source)}</span>${esc(d.action)}${node}`, attr: e >= 0 ? `data-ev="${e}"` : `data-t="${d.time_ns}"` });
      }
      const firstRole = new Set();
      bands.forEach((b, i) => {
        if (b.track !== 'role') return;
        if (!firstRole.has(b.lane)) { firstRole.add(b.lane); if (b.b <= (PHASES[1] ? PHASES[1].b : 0)) return; }
        items.push({ t: b.b, html: `${esc(lanes[b.lane].name)} becomes <b style="color:${ROLE_TEXT(b.value)}">${esc(b.value)}</b>`, attr: `data-band="${i}"` });
      });
      for (const v of violations) items.push({ t: v.t, html: `<b style="color:#b91c1c">✖ ${esc(v.check)}</b>${v.node ? ' on ' + esc(v.node) : ''}`, attr: `data-viol="${v.i}"` });
      items.sort((a, b) => a.t - b.t);
      if (!items.length) return '';
      return `<h4 style="margin-top:12px">what happened</h4>` + items.map((it) => `<div class="list-item" ${it.attr}><span class="t">${fmtTime(it.t, 3)}</span> ${it.html}</div>`).join('');
    }
    function faultEvent(d) {
      const want = 'fault.' + d.action;
      for (let i = lowerBoundT(d.time_ns); i < N && T[i] === d.time_ns; i++) if (kinds[EK[i]] === want) return i;
      return -1;
    }
    function evidenceLinks(v) {
      // Operations the evidence names (by "op"/"ops"/"id" fields) become links.
      const ids = new Set();
      (function walk(x, key) {
        if (Array.isArray(x)) { for (const y of x) walk(y, key); return; }
        if (x && typeof x === 'object') { for (const [k, y] of Object.entries(x)) walk(y, k); return; }
        if (typeof x === 'number' && /^(op|ops|op_id|op_ids|operation|operations)$/.test(key || '')) ids.add(x);
      })(v.evidence, '');
      const links = [...ids].filter((i) => i >= 0 && i < ops.length).slice(0, 40).map((i) => `<span class="link" data-op="${i}">op ${i}</span>`);
      // Times the evidence names (fields ending in _ns) become links too.
      const times = [];
      (function walk(x, key) {
        if (Array.isArray(x)) { for (const y of x) walk(y, key); return; }
        if (x && typeof x === 'object') { for (const [k, y] of Object.entries(x)) walk(y, k); return; }
        if (typeof x === 'number' && /_ns$/.test(key || '') && x >= 0 && x <= END * 1.01 && times.length < 20) {
          times.push(`<span class="link" data-t="${x}">${esc(key)} = ${fmtTime(x, 6)}</span>`);
        }
      })(v.evidence, '');
      return (links.length ? `<p>operations named: ${links.join(', ')}</p>` : '') + (times.length ? `<p>times named: ${times.join(', ')}</p>` : '');
    }
    function prevSame(e, dir) {
      const k = EK[e];
      for (let i = e + dir; i >= 0 && i < N; i += dir) if (EK[i] === k) return i;
      return -1;
    }
    function violationItem(v) {
      return `<div class="list-item violation" data-viol="${v.i}"><div><b>${esc(v.check)}</b> <span class="t">${v.time_ns >= 0 ? fmtTime(v.time_ns, 3) : 'final'}${v.node ? ' · ' + esc(v.node) : ''}</span></div><div>${esc(v.message)}</div></div>`;
    }
    function renderViolationsTab() {
      if (!violations.length) return `<p>No check failed.</p>` + checksList();
      return violations.map(violationItem).join('') + checksList();
    }
    function checksList() {
      const checks = ((meta.scenario || {}).checks) || [];
      if (!checks.length) return '';
      const failed = new Set(violations.map((v) => v.check));
      return `<h4 style="margin-top:12px">checks of this scenario</h4>` + checks.map((c) => `<div>${failed.has(c) ? '<b style="color:#b91c1c">✖</b>' : '<b style="color:#15803d">✓</b>'} ${esc(c)}</div>`).join('');
    }
    function renderFaultsTab() {
      if (!decisions.length) return '<p class="empty">No faults were injected and nothing intervened.</p>';
      return `<p class="empty">${decisions.length} decisions (the fault log of report.json). Click one to go there.</p>` + decisions.map((d) => {
        const det = Object.entries(d.detail || {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        const fe = faultEvent(d);
        return `<div class="list-item" ${fe >= 0 ? `data-ev="${fe}"` : `data-t="${d.time_ns}"`}><div><b>${esc(d.action)}</b> <span class="tag">${esc(d.source)}</span> <span class="t">${fmtTime(d.time_ns, 3)}</span></div><div class="mono" style="font-size:11.5px;color:#4b5563">${esc(det)}</div></div>`;
      }).join('');
    }
    function renderNodesTab() {
      const nodes = meta.nodes || [];
      if (!nodes.length) return '<p class="empty">No final node states recorded.</p>';
      return `<p class="empty">Each node's state when the run ended.</p>` + nodes.map((n) => `<h4>${esc(n.node)} <span class="tag">${esc(n.cluster)}</span> <span class="tag">${n.up ? 'up' : 'down'}</span></h4>` + kv([
        ['role', esc(n.role || '-') + (n.primary ? ' of ' + esc(n.primary) : '')], ['recovering', n.recovering ? '<b style="color:#c2410c">yes</b>' : 'no'],
        ['digest', esc(n.digest), true], ['aof', `${n.aof_begin} – ${n.aof_tail}`, true], ['last decree', esc(n.last_decree), true],
        ['checkpoints', esc((n.checkpoint_decrees || []).join(', ') || '-'), true],
      ].concat(n.start_error ? [['start error', esc(n.start_error)]] : []))).join('');
    }
    function renderHelp() {
      return `<table class="kv keys">${[
        ['wheel', 'zoom around the pointer (shift+wheel or a sideways swipe pans)'], ['drag', 'pan'], ['click', 'show an item’s fields'],
        ['+ / −', 'zoom in / out'], ['← / →', 'pan'], ['0', 'whole run'], ['v', 'next violation'],
        ['n / p', 'next / previous event of the selected kind'], ['Esc', 'clear the selection'],
      ].map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
      <h4 style="margin-top:12px">reading the diagram</h4>
      <p>One lane per node, then one per client. A node lane’s background is its role (blue: primary, green: replica); the orange strip at its bottom is the recovering flag. Hatched dark grey: the node is down; hatched amber: paused. Thin strips at the top: partitioned (purple), clogged (brown), disk faults (red). Diamonds are notable events (crashes, syncs, role changes, faults), with their kind written next to them. Lines between lanes are messages, from the send to the delivery (dashed red: lost to a reset; dotted: a connection’s FIN). Client lanes show each operation from invoke to completion (green ok, red failed, amber unknown). The red dashed line marks a violation.</p>`;
    }

    // ---- selection ---------------------------------------------------------------------------------------
    function ensureVisible(t) {
      if (t < view.t0 || t > view.t1) center(t);
    }
    function selectEvent(e, reveal) {
      selection = { type: 'event', id: e };
      if (reveal) {
        const l = lanes[EL[e]];
        if (l.hidden) { l.hidden = false; layout(); buildLaneList(); }
        ensureVisible(T[e]);
      }
      setTab('selection'); schedule(); syncListSelection(e, reveal); scheduleHash();
    }
    function selectOp(i, reveal) {
      selection = { type: 'op', id: i };
      if (reveal) {
        const op = ops[i];
        const span = Math.max(view.t1 - view.t0 < (op.end - op.inv) * 1.5 ? (op.end - op.inv) * 4 : 0, view.t1 - view.t0);
        center((op.inv + op.end) / 2, span);
      }
      setTab('selection'); schedule();
    }
    // Final checks run after the last phase: their violations carry the end time, and the whole run
    // is the context they need.
    const endPhase = phases.find((p) => p[0] === 'end');
    const finalCheckTime = endPhase ? endPhase[1] : END;
    function selectViolation(i, reveal) {
      selection = { type: 'violation', id: i };
      if (reveal) {
        const v = violations[i];
        if (v.t >= finalCheckTime) {
          setView(0, END * 1.01);
        } else {
          const span = Math.min(view.t1 - view.t0, Math.max(END / 8, 2e8));
          center(v.t, span);
        }
      }
      setTab('selection'); schedule();
    }

    // ---- interaction -------------------------------------------------------------------------------------
    let drag = null;
    chart.addEventListener('mousedown', (e) => {
      const r = chart.getBoundingClientRect();
      drag = { x: e.clientX, y: e.clientY, t0: view.t0, t1: view.t1, sy: scrollY, moved: false, px: e.clientX - r.left, py: e.clientY - r.top };
    });
    window.addEventListener('mousemove', (e) => {
      const r = chart.getBoundingClientRect();
      if (drag) {
        const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; chart.classList.add('dragging'); }
        if (drag.moved) {
          const dt = dx / (W - GUT - RPAD) * (drag.t1 - drag.t0);
          view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt;
          setView(view.t0, view.t1);
          scrollY = Math.max(0, Math.min(contentH - H, drag.sy - dy));
          if (contentH <= H) scrollY = 0;
          hideTip();
        }
        return;
      }
      if (e.target !== chart) { if (hover) { hover = null; schedule(); } hideTip(); return; }
      const x = e.clientX - r.left, y = e.clientY - r.top;
      const hit = hitTest(x, y);
      const same = hit && hover && hit.type === hover.type && hit.id === hover.id;
      if (!same) { hover = hit; schedule(); }
      if (hit) showTip(describe(hit), x, y); else hideTip();
    });
    window.addEventListener('mouseup', (e) => {
      if (!drag) return;
      const wasDrag = drag.moved;
      const r = chart.getBoundingClientRect();
      chart.classList.remove('dragging');
      drag = null;
      if (wasDrag) return;
      const hit = hitTest(e.clientX - r.left, e.clientY - r.top);
      selection = hit;
      if (hit && hit.type === 'event') syncListSelection(hit.id, true);
      setTab('selection'); schedule();
    });
    chart.addEventListener('wheel', (e) => {
      e.preventDefault();
      const r = chart.getBoundingClientRect();
      if (e.clientX - r.left < GUT && contentH > H) {
        // Over the lane names the wheel scrolls the lanes (when there are more than fit).
        scrollY = Math.max(0, Math.min(contentH - H, scrollY + e.deltaY));
        schedule();
      } else if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
        const d = (e.shiftKey ? e.deltaY : e.deltaX) / (W - GUT - RPAD) * (view.t1 - view.t0);
        setView(view.t0 + d, view.t1 + d);
      } else if (e.altKey) {
        scrollY = Math.max(0, Math.min(contentH - H, scrollY + e.deltaY));
        schedule();
      } else {
        zoomAt(Math.pow(1.0015, e.deltaY), e.clientX - r.left);
      }
    }, { passive: false });
    function showTip(text, x, y) {
      const tip = $('tooltip');
      tip.textContent = text;
      tip.hidden = false;
      const tw = tip.offsetWidth, th = tip.offsetHeight;
      tip.style.left = Math.min(x + 14, W - tw - 4) + 'px';
      tip.style.top = (y + 16 + th > H ? y - th - 8 : y + 16) + 'px';
    }
    function hideTip() { $('tooltip').hidden = true; }
    chart.addEventListener('mouseleave', () => { hideTip(); if (hover) { hover = null; schedule(); } });

    let ovDrag = false;
    function ovMove(e) {
      const r = ov.getBoundingClientRect();
      const w = r.width;
      const t = (e.clientX - r.left - GUT) / (w - GUT - RPAD) * END;
      center(t);
    }
    ov.addEventListener('mousedown', (e) => { ovDrag = true; ovMove(e); });
    window.addEventListener('mousemove', (e) => { if (ovDrag) ovMove(e); });
    window.addEventListener('mouseup', () => { ovDrag = false; });

    window.addEventListener('keydown', (e) => {
      if (e.target && (e.target.tagName === 'INPUT' || e.target.tagName === 'TEXTAREA')) return;
      if (e.ctrlKey || e.metaKey) return;
      const span = view.t1 - view.t0;
      let handled = true;
      if (e.key === '+' || e.key === '=') zoomAt(0.6);
      else if (e.key === '-' || e.key === '_') zoomAt(1 / 0.6);
      else if (e.key === '0') setView(0, END * 1.01);
      else if (e.key === 'ArrowLeft') setView(view.t0 - span * 0.2, view.t1 - span * 0.2);
      else if (e.key === 'ArrowRight') setView(view.t0 + span * 0.2, view.t1 + span * 0.2);
      else if (e.key === 'v') nextViolation();
      else if ((e.key === 'n' || e.key === 'p') && selection && selection.type === 'event') {
        const o = prevSame(selection.id, e.key === 'n' ? 1 : -1);
        if (o >= 0) selectEvent(o, true);
      } else if (e.key === 'Escape') { selection = null; renderSide(); schedule(); }
      else handled = false;
      if (handled) e.preventDefault();
    });
    let violationCursor = -1;
    function nextViolation() {
      if (!violations.length) return;
      violationCursor = (violationCursor + 1) % violations.length;
      selectViolation(violationCursor, true);
    }
    $('zoom-in').addEventListener('click', () => zoomAt(0.6));
    $('zoom-out').addEventListener('click', () => zoomAt(1 / 0.6));
    $('zoom-fit').addEventListener('click', () => setView(0, END * 1.01));
    const gv = $('goto-violation');
    gv.disabled = violations.length === 0;
    gv.addEventListener('click', nextViolation);
    $('show-arrows').addEventListener('change', (e) => { opts.arrows = e.target.checked; schedule(); });
    $('show-client-arrows').addEventListener('change', (e) => { opts.clientArrows = e.target.checked; schedule(); });
    $('show-ops').addEventListener('change', (e) => { opts.ops = e.target.checked; schedule(); });
    for (const b of document.querySelectorAll('#side-tabs button')) b.addEventListener('click', () => setTab(b.dataset.tab));

    // ---- filters -----------------------------------------------------------------------------------------
    function buildLaneList() {
      const box = $('lane-list');
      box.innerHTML = `<div class="dd-actions"><button type="button" data-all="1">all</button><button type="button" data-all="nodes">nodes only</button></div>` +
        lanes.map((l) => `<label><input type="checkbox" data-lane="${l.i}" ${l.hidden ? '' : 'checked'}> ${esc(l.name)} <span class="count">${esc(l.group)} · ${fmtInt(laneEv[l.i].length)}</span></label>`).join('');
      for (const cb of box.querySelectorAll('[data-lane]')) {
        cb.addEventListener('change', () => { lanes[+cb.dataset.lane].hidden = !cb.checked; afterFilter(); });
      }
      for (const b of box.querySelectorAll('[data-all]')) {
        b.addEventListener('click', () => {
          for (const l of lanes) l.hidden = b.dataset.all === 'nodes' ? l.group === 'client' : false;
          buildLaneList(); afterFilter();
        });
      }
    }
    function buildKindList() {
      const box = $('kind-list');
      const byCat = new Map(cats.map((c) => [c, []]));
      kinds.forEach((k, i) => byCat.get(kindCat[i]).push(i));
      let html = `<div class="dd-actions"><button type="button" data-kall="1">all</button><button type="button" data-kall="0">none</button><button type="button" data-kall="quiet">hide disk &amp; task</button></div>`;
      for (const [c, list] of byCat) {
        const n = list.reduce((s, i) => s + kindCount[i], 0);
        html += `<label class="dd-cat"><input type="checkbox" data-cat="${esc(c)}" ${list.every((i) => !kindHidden[i]) ? 'checked' : ''}> <span class="swatch" style="background:${CAT_COLOR[c]}"></span> ${esc(c)} <span class="count">${fmtInt(n)}</span></label><div class="dd-kinds">` +
          list.map((i) => `<label><input type="checkbox" data-kind="${i}" ${kindHidden[i] ? '' : 'checked'}> ${esc(kinds[i])} <span class="count">${fmtInt(kindCount[i])}</span></label>`).join('') + '</div>';
      }
      box.innerHTML = html;
      for (const cb of box.querySelectorAll('[data-kind]')) cb.addEventListener('change', () => { kindHidden[+cb.dataset.kind] = cb.checked ? 0 : 1; buildKindList(); afterFilter(); });
      for (const cb of box.querySelectorAll('[data-cat]')) {
        cb.addEventListener('change', () => {
          kinds.forEach((k, i) => { if (kindCat[i] === cb.dataset.cat) kindHidden[i] = cb.checked ? 0 : 1; });
          buildKindList(); afterFilter();
        });
      }
      for (const b of box.querySelectorAll('[data-kall]')) {
        b.addEventListener('click', () => {
          kinds.forEach((k, i) => { kindHidden[i] = b.dataset.kall === '1' ? 0 : b.dataset.kall === '0' ? 1 : (kindCat[i] === 'disk' || kindCat[i] === 'task') ? 1 : kindHidden[i]; });
          buildKindList(); afterFilter();
        });
      }
    }
    function afterFilter() { resize(); scheduleList(); }
    // Close a dropdown when clicking elsewhere.
    document.addEventListener('click', (e) => {
      for (const d of document.querySelectorAll('details.dropdown[open]')) if (!d.contains(e.target)) d.open = false;
    });

    // ---- legend ------------------------------------------------------------------------------------------
    function buildLegend() {
      const items = [
        ['background:#dbeafe;border-top:2px solid #1d4ed8', 'primary'], ['background:#e7f6ec;border-top:2px solid #15803d', 'replica'],
        ['background:#fb923c', 'recovering'], ['background:repeating-linear-gradient(135deg,#4b5563 0 2px,#d1d5db 2px 5px)', 'down'],
        ['background:repeating-linear-gradient(135deg,#b45309 0 2px,#fde68a 2px 5px)', 'paused'], ['background:#a855f7', 'partitioned'],
        ['background:#b45309', 'clogged'], ['background:#ef4444', 'disk faults'], ['background:#2563eb;height:2px', 'message node↔node'],
        ['background:#64748b;height:2px', 'message with a client'], ['background:#22c55e', 'op ok'], ['background:#ef4444', 'op failed'],
        ['background:#f59e0b', 'op unknown'], ['background:#dc2626;width:3px', 'violation'],
      ];
      $('legend').innerHTML = items.map(([st, name]) => `<span class="item"><span class="swatch" style="${st}"></span>${esc(name)}</span>`).join('') +
        '<span class="item" style="margin-left:auto">' + cats.map((c) => `<span class="item"><span class="swatch" style="background:${CAT_COLOR[c]};width:8px"></span>${esc(c)}</span>`).join(' ') + '</span>';
    }

    // ---- the event list (virtualized) ------------------------------------------------------------------
    const ROW = 20;
    let listItems = new Int32Array(0);
    let listTimer = 0;
    let searchLower = '';
    let selectedRowEvent = -1;
    const scrollBox = $('events-scroll');
    function scheduleList() { clearTimeout(listTimer); listTimer = setTimeout(buildList, 80); }
    function buildList() {
      const follow = $('events-follow').checked;
      const a = follow ? lowerBoundT(view.t0) : 0;
      const b = follow ? lowerBoundT(view.t1 + 1) : N;
      const out = [];
      const q = searchLower;
      for (let i = a; i < b; i++) {
        if (kindHidden[EK[i]] || lanes[EL[i]].hidden) continue;
        if (q && !(kinds[EK[i]].includes(q) || lanes[EL[i]].name.includes(q) || DET[i].toLowerCase().includes(q))) continue;
        out.push(i);
      }
      listItems = Int32Array.from(out);
      $('events-spacer').style.height = (listItems.length * ROW) + 'px';
      $('events-count').textContent = `${fmtInt(listItems.length)} of ${fmtInt(N)} events${follow ? ' (visible window)' : ''}`;
      renderRows();
    }
    function renderRows() {
      const top = scrollBox.scrollTop;
      const h = scrollBox.clientHeight || 260;
      const first = Math.max(0, Math.floor(top / ROW) - 5);
      const last = Math.min(listItems.length, Math.ceil((top + h) / ROW) + 5);
      const rows = [];
      for (let r = first; r < last; r++) {
        const e = listItems[r];
        const k = EK[e];
        rows.push(`<div class="ev-row${e === selectedRowEvent ? ' sel' : ''}" data-row="${e}" style="position:absolute;top:${r * ROW}px;left:0;right:0"><span>${traceIndex(e)}</span><span>${(T[e] / 1e9).toFixed(9)}</span><span>${esc(lanes[EL[e]].name)}</span><span class="k"><span class="swatch" style="background:${catColors[kindCatIdx[k]]}"></span>${esc(kinds[k])}</span><span title="${esc(DET[e].slice(0, 2000))}">${esc(DET[e].slice(0, 400))}</span></div>`);
      }
      $('events-rows').innerHTML = rows.join('');
    }
    scrollBox.addEventListener('scroll', renderRows);
    $('events-rows').addEventListener('click', (e) => {
      const row = e.target.closest('[data-row]');
      if (row) selectEvent(+row.dataset.row, true);
    });
    let searchTimer = 0;
    $('event-search').addEventListener('input', (e) => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => { searchLower = e.target.value.trim().toLowerCase(); buildList(); }, 150);
    });
    $('events-follow').addEventListener('change', buildList);
    function syncListSelection(e, reveal) {
      selectedRowEvent = e;
      if (reveal) {
        clearTimeout(listTimer);
        buildList();
        let lo = 0, hi = listItems.length;
        while (lo < hi) { const m = (lo + hi) >> 1; if (listItems[m] < e) lo = m + 1; else hi = m; }
        if (lo < listItems.length && listItems[lo] === e) {
          const y = lo * ROW;
          if (y < scrollBox.scrollTop || y > scrollBox.scrollTop + scrollBox.clientHeight - ROW) scrollBox.scrollTop = Math.max(0, y - scrollBox.clientHeight / 2);
        }
      }
      renderRows();
    }

    // ---- start -------------------------------------------------------------------------------------------
    renderSummary();
    buildLaneList();
    buildKindList();
    buildLegend();
    renderSide();
    window.addEventListener('resize', resize);
    resize();
    // A failing run opens on its first violation, a passing run on the whole run (unless the
    // address names a moment).
    if (readHash()) {
      // the address chose the view
    } else if (violations.length) {
      selectViolation(0, true);
      violationCursor = 0;
    } else {
      setView(0, END * 1.01);
    }
    buildList();
    draw(); drawOverview();
  }
})();
