// yggr console: one page over the node's own HTTP API. No dependencies,
// no build step. Keys and values are untrusted: they only ever reach the
// page as text nodes (el, textContent) or canvas text, never as HTML.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = 'yggr-token';
  const REFRESH_MS = 1000;
  const HISTORY_S = 300; // the charts' window: five minutes
  const PAGE = 50;
  const TAIL_MAX = 200;
  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let signedIn = false;
  let timer = null;

  // el builds an element; string children become text nodes.
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'data') Object.assign(e.dataset, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid != null) e.append(kid);
    return e;
  }

  // ---- bytes: keys and values are arbitrary bytes ----
  const utf8 = (s) => new TextEncoder().encode(s);
  const unb64 = (s) => Uint8Array.from(atob(s || ''), (c) => c.charCodeAt(0));
  // pct percent-encodes bytes for a path segment or a query value.
  function pct(bytes) {
    let out = '';
    for (const b of bytes) {
      const c = String.fromCharCode(b);
      out += /[A-Za-z0-9\-._~]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
    }
    return out;
  }
  // show returns a cell for bytes: text when printable UTF-8, hex otherwise.
  function show(bytes) {
    let text = null;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) text = null;
    } catch (_) { text = null; }
    if (text !== null) return el('span', null, text);
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
    return el('span', { class: 'hex', title: 'hex' }, hex);
  }

  // ---- the API ----
  class APIError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  async function api(method, path, body, headers) {
    const h = Object.assign({}, headers);
    if (token) h.Authorization = 'Bearer ' + token;
    let resp;
    try {
      resp = await fetch(path, { method, headers: h, body, cache: 'no-store' });
    } catch (_) {
      throw new APIError(0, 'unreachable', 'the node does not answer');
    }
    if (resp.status === 401) {
      showLogin(token ? 'Wrong token: the node refused it.' : 'This node needs a token.');
      throw new APIError(401, 'unauthorized', 'wrong token');
    }
    if (!resp.ok) {
      let code = 'http_' + resp.status, message = resp.statusText;
      try { const j = await resp.json(); code = j.error.code; message = j.error.message; } catch (_) { /* not JSON */ }
      throw new APIError(resp.status, code, message);
    }
    return resp;
  }
  const apiJSON = async (method, path, body) =>
    (await api(method, path, body === undefined ? undefined : JSON.stringify(body))).json();

  // ---- sign-in state ----
  function showLogin(msg) {
    signedIn = false;
    clearTimeout(timer);
    stopTail();
    sessionStorage.removeItem(TOKEN_KEY);
    $('app').hidden = true;
    $('signout').hidden = true;
    $('login').hidden = false;
    $('login-msg').textContent = msg;
    setBanner('ok', '');
    $('token').focus();
  }
  async function signIn(t) {
    token = t;
    try {
      await api('GET', '/v1/status');
    } catch (e) {
      if (e.status === 0) { setBanner('unreachable', 'Node unreachable: ' + location.host + ' does not answer.'); setTimeout(() => signIn(t), 2000); }
      return; // 401: showLogin already ran
    }
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    signedIn = true;
    $('login').hidden = true;
    $('app').hidden = false;
    $('signout').hidden = !token;
    refresh();
    if (!$('keys').childElementCount) browse(null);
  }
  $('login-form').addEventListener('submit', (ev) => { ev.preventDefault(); signIn($('token').value); });
  $('signout').addEventListener('click', () => { token = ''; showLogin('Signed out.'); });

  function setBanner(state, text) {
    const b = $('banner');
    b.dataset.state = state;
    b.textContent = text;
    b.hidden = state === 'ok';
  }

  // ---- cluster and metrics, refreshed every second ----
  const history = []; // {t, applied, reads, buckets, lag}
  const series = { writes: [], reads: [], p99: [], lag: [] };

  // refresh runs one round now (unless one is running) and schedules the
  // next: one chain of rounds however often it is called.
  let refreshing = null;
  function refresh() {
    if (refreshing || !signedIn) return;
    clearTimeout(timer);
    refreshing = refreshRound().finally(() => {
      refreshing = null;
      if (signedIn) timer = setTimeout(refresh, REFRESH_MS);
    });
  }

  async function refreshRound() {
    try {
      const [cluster, metrics] = await Promise.all([apiJSON('GET', '/v1/cluster'), api('GET', '/metrics').then((r) => r.text())]);
      $('node').textContent = 'console of ' + cluster.node + ' (' + location.host + ')';
      const leader = cluster.members.some((m) => m.reachable && m.role === 'leader');
      renderMembers(cluster.members, leader);
      setBanner(leader ? 'ok' : 'no-leader', leader ? '' : 'No leader: the cluster is electing one or has lost its quorum; writes and linearizable reads wait.');
      sample(parseProm(metrics), Math.max(0, ...cluster.members.filter((m) => m.reachable).map((m) => m.lag)));
    } catch (e) {
      if (e.status === 401) return;
      if (e.status === 0) setBanner('unreachable', 'Node unreachable: ' + location.host + ' does not answer; retrying.');
      else setBanner('error', 'Refresh failed: ' + e.message);
    }
  }

  function renderMembers(members, hasLeader) {
    const rows = members.map((m) => {
      const leader = m.reachable && m.role === 'leader';
      const num = (v) => el('td', { class: 'num' }, m.reachable ? String(v) : '–');
      const transfer = hasLeader && m.voter && m.reachable && !leader
        ? el('button', { type: 'button', onclick: () => act('POST', '/v1/leader/transfer', { to: m.id }, (r) => 'leader is now ' + r.leader) }, 'Make leader')
        : null;
      return el('tr', { class: (leader ? 'leader' : '') + (m.reachable ? '' : ' down'), data: { id: m.id, role: m.reachable ? m.role : '', reachable: String(m.reachable) } },
        el('td', { title: m.addr }, m.id, m.self ? ' (this node)' : '', leader ? el('span', { class: 'badge' }, 'leader') : null),
        el('td', null, m.reachable ? m.role : '–'),
        num(m.term), num(m.commit), num(m.applied), num(m.lag),
        el('td', { class: 'state', title: m.error || '' }, m.reachable ? 'reachable' : 'unreachable'),
        el('td', null, m.voter ? 'voter' : 'learner'),
        el('td', null, transfer));
    });
    $('members').replaceChildren(...rows);
  }

  async function act(method, path, body, describe) {
    $('action-msg').textContent = '…';
    try {
      $('action-msg').textContent = describe(await apiJSON(method, path, body));
    } catch (e) {
      $('action-msg').textContent = 'failed: ' + e.message;
    }
    refresh();
  }
  $('transfer').addEventListener('click', () => act('POST', '/v1/leader/transfer', { to: '' }, (r) => 'leader is now ' + r.leader));
  $('snapshot').addEventListener('click', () => act('POST', '/v1/snapshot', undefined, (r) => 'snapshot at index ' + r.index));

  // parseProm reads Prometheus text into a map from "name{labels}" to value.
  function parseProm(text) {
    const m = new Map();
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const sp = line.lastIndexOf(' ');
      m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
    }
    return m;
  }

  function sample(m, lag) {
    const s = { t: Date.now() / 1000, applied: m.get('yggr_entries_applied_total') || 0, reads: 0, buckets: [], lag };
    const buckets = new Map();
    for (const [k, v] of m) {
      if (k.startsWith('yggr_http_requests_total{') && /route="GET \/v1\/kv(\/\{key\})?"/.test(k)) s.reads += v;
      // Writes through this node, from request to committed and applied
      // (this node may not lead: the engine's own commit timings are the
      // leader's only).
      const b = /^yggr_http_request_duration_seconds_bucket\{route="(?:PUT \/v1\/kv\/\{key\}|DELETE \/v1\/kv\/\{key\}|POST \/v1\/txn|POST \/v1\/batch)",le="([^"]+)"\}$/.exec(k);
      const le = b && (b[1] === '+Inf' ? Infinity : Number(b[1]));
      if (b) buckets.set(le, (buckets.get(le) || 0) + v);
    }
    s.buckets = [...buckets].sort((a, b) => a[0] - b[0]);
    const prev = history[history.length - 1];
    history.push(s);
    while (history.length && history[0].t < s.t - HISTORY_S) history.shift();
    if (!prev) return;
    const dt = s.t - prev.t;
    push('writes', s.t, (s.applied - prev.applied) / dt, (v) => v.toFixed(1));
    push('reads', s.t, (s.reads - prev.reads) / dt, (v) => v.toFixed(1));
    push('p99', s.t, p99(prev.buckets, s.buckets), (v) => (v * 1000).toFixed(1) + ' ms');
    push('lag', s.t, lag, (v) => String(v));
  }

  // p99 is the bucket bound under which 99% of the writes between two
  // samples fell (null without writes).
  function p99(before, after) {
    const old = new Map(before);
    const total = after.length ? after[after.length - 1][1] - (old.get(after[after.length - 1][0]) || 0) : 0;
    if (total <= 0) return null;
    for (const [le, c] of after) {
      if (c - (old.get(le) || 0) >= 0.99 * total) return Number.isFinite(le) ? le : after[after.length - 2][0];
    }
    return null;
  }

  function push(name, t, v, fmt) {
    const pts = series[name];
    pts.push({ t, v: Number.isFinite(v) ? Math.max(0, v) : null });
    while (pts.length && pts[0].t < t - HISTORY_S) pts.shift();
    const last = pts[pts.length - 1].v;
    $('val-' + name).textContent = last === null ? '–' : fmt(last);
    draw($('chart-' + name), pts, t, fmt);
  }

  // draw plots pts over the last minute, or over as long as the page has
  // been sampling, up to HISTORY_S.
  function draw(canvas, pts, now, fmt) {
    const g = canvas.getContext('2d'), w = canvas.width, h = canvas.height;
    g.clearRect(0, 0, w, h);
    const max = Math.max(0, ...pts.map((p) => p.v || 0)) || 1;
    const span = Math.min(HISTORY_S, Math.max(60, now - pts[0].t));
    const x = (t) => w - ((now - t) / span) * w;
    const y = (v) => h - 4 - (v / max) * (h - 18);
    g.strokeStyle = '#2f5bd3';
    g.lineWidth = 1.5;
    g.beginPath();
    let pen = false;
    for (const p of pts) {
      if (p.v === null) { pen = false; continue; }
      if (pen) g.lineTo(x(p.t), y(p.v)); else g.moveTo(x(p.t), y(p.v));
      pen = true;
    }
    g.stroke();
    g.fillStyle = '#6b7280';
    g.font = '10px system-ui, sans-serif';
    g.fillText('max ' + fmt(max) + ', last ' + Math.round(span) + ' s', 4, 11);
  }

  // ---- keys ----
  let pageStart = null, nextStart = null;

  async function browse(start) {
    const prefix = utf8($('prefix').value);
    let q = '/v1/kv?limit=' + PAGE + '&prefix=' + pct(prefix);
    if (start) q += '&start=' + pct(start);
    $('keys-msg').textContent = '…';
    try {
      const r = await apiJSON('GET', q);
      pageStart = start;
      $('keys').replaceChildren(...r.items.map(keyRow));
      const last = r.items.length ? unb64(r.items[r.items.length - 1].key) : null;
      nextStart = r.more && last ? Uint8Array.from([...last, 0]) : null;
      $('more').hidden = !nextStart;
      $('first').hidden = !start;
      $('keys-msg').textContent = r.items.length + (r.more ? '+' : '') + ' keys at revision ' + r.revision;
    } catch (e) {
      $('keys-msg').textContent = e.code === 'no_leader' ? 'No leader: the read waits for one.' : 'failed: ' + e.message;
    }
  }

  function keyRow(it) {
    const key = unb64(it.key);
    const del = el('button', { type: 'button', onclick: async () => {
      try { await api('DELETE', '/v1/kv/' + pct(key)); } catch (e) { $('keys-msg').textContent = 'delete failed: ' + e.message; return; }
      browse(pageStart);
    } }, 'Delete');
    return el('tr', null,
      el('td', { class: 'val' }, show(key)), el('td', { class: 'val' }, show(unb64(it.value))),
      el('td', { class: 'num' }, String(it.create_index)), el('td', { class: 'num' }, String(it.mod_index)),
      el('td', { class: 'num' }, String(it.version)), el('td', null, del));
  }

  $('browse-form').addEventListener('submit', (ev) => { ev.preventDefault(); browse(null); });
  $('more').addEventListener('click', () => browse(nextStart));
  $('first').addEventListener('click', () => browse(null));
  $('put-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = utf8($('put-key').value);
    if (!key.length) { $('keys-msg').textContent = 'a key is required'; return; }
    try {
      const r = await (await api('PUT', '/v1/kv/' + pct(key), $('put-value').value)).json();
      $('keys-msg').textContent = 'put at revision ' + r.index;
    } catch (e) { $('keys-msg').textContent = 'put failed: ' + e.message; return; }
    browse(pageStart);
  });

  // ---- live tail: the watch stream as Server-Sent Events over fetch
  // (EventSource cannot send the token) ----
  let tail = null; // {ctrl, last, done}

  function setTail(state, text) { $('tail-state').dataset.state = state; $('tail-state').textContent = text; }
  function stopTail() {
    if (tail) { tail.done = true; tail.ctrl.abort(); tail = null; }
    setTail('stopped', 'stopped');
  }
  const delay = (ms) => new Promise((r) => setTimeout(r, ms));

  async function startTail(prefix, from) {
    stopTail();
    const t = { ctrl: new AbortController(), last: from > 0 ? from - 1 : 0, done: false };
    tail = t;
    setTail('connecting', 'connecting…');
    for (let wait = 500; !t.done; wait = Math.min(wait * 2, 8000)) {
      const h = { Accept: 'text/event-stream' };
      if (token) h.Authorization = 'Bearer ' + token;
      if (t.last) h['Last-Event-ID'] = String(t.last);
      let resp = null;
      try {
        const start = !t.last && from > 0 ? '&from=' + from : '';
        resp = await fetch('/v1/watch?progress=5s&prefix=' + pct(prefix) + start, { headers: h, signal: t.ctrl.signal, cache: 'no-store' });
      } catch (_) { /* unreachable or aborted */ }
      if (t.done) return;
      if (resp && resp.status === 401) { showLogin(token ? 'Wrong token: the node refused it.' : 'This node needs a token.'); return; }
      if (resp && resp.ok) {
        wait = 500;
        setTail('live', 'live');
        try { await readSSE(resp.body, (ev) => tailEvent(t, ev)); } catch (_) { /* dropped or aborted */ }
        if (t.done) return;
      } else if (resp) {
        let err = { code: 'http_' + resp.status, message: resp.statusText };
        try { err = (await resp.json()).error; } catch (_) { /* not JSON */ }
        if (err.code === 'compacted') { compacted(t, err.oldest); return; }
        setTail('error', 'watch failed: ' + err.message + '; retrying');
      }
      if (!t.done && $('tail-state').dataset.state !== 'error') setTail('connecting', 'disconnected; resuming after revision ' + t.last);
      await delay(wait);
    }
  }

  // readSSE calls onEvent with {event, id, data} for each event of body.
  async function readSSE(body, onEvent) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = { event: 'message', id: '', data: '' };
        for (const line of buf.slice(0, i).split('\n')) {
          const c = line.indexOf(':');
          if (c <= 0) continue;
          const field = line.slice(0, c), v = line.slice(c + 1).replace(/^ /, '');
          if (field === 'data') ev.data += (ev.data ? '\n' : '') + v; else if (field in ev) ev[field] = v;
        }
        buf = buf.slice(i + 2);
        onEvent(ev);
      }
    }
  }

  function tailEvent(t, ev) {
    const line = JSON.parse(ev.data);
    if (ev.event === 'end') {
      if (line.error.code === 'compacted') compacted(t, line.error.oldest);
      else setTail('connecting', 'stream ended (' + line.error.code + '); resuming');
      return;
    }
    t.last = line.revision;
    if (ev.event === 'progress') { setTail('live', 'live, at revision ' + line.revision); return; }
    setTail('live', 'live, at revision ' + line.revision);
    const list = $('tail');
    for (const e of line.events || []) {
      const li = el('li', { data: { type: e.type } }, 'rev ' + line.revision + ' ' + e.type + ' ', show(unb64(e.item.key)));
      if (e.type === 'put') li.append(' = ', show(unb64(e.item.value)));
      list.prepend(li);
    }
    while (list.childElementCount > TAIL_MAX) list.lastElementChild.remove();
  }

  function compacted(t, oldest) {
    t.done = true;
    t.ctrl.abort();
    setTail('compacted', 'Compacted: the history before revision ' + oldest + ' is gone, so the changes since the last one shown are lost. Browse the keys again and restart the tail.');
  }

  $('tail-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const from = Number($('tail-from').value.trim() || '0');
    if (!Number.isSafeInteger(from) || from < 0) { setTail('error', 'from must be a revision'); return; }
    $('tail').replaceChildren();
    startTail(utf8($('tail-prefix').value), from);
  });
  $('tail-stop').addEventListener('click', stopTail);

  signIn(token);
})();
