// The page an on-call SRE keeps open: lines and anomalies over time, the incidents (each with its timeline,
// templates, similar past incidents and feedback), and search grouped by template with the lines around a hit.
// Every request goes through `api`, which sends the tab's token, asks for one on 401 and says every error.
// Searches are POSTed (a pasted line may be longer than a URL should be); the address bar links to what is shown.
const $ = id => document.getElementById(id);
const f = $('f'), hitsBody = $('hits'), status = $('status'), login = $('login');
const MAX_LINK = 2000;  // characters of a query the address bar keeps
const COLORS = ['#c0392b', '#2874a6', '#b9770e', '#1e8449', '#7d3c98', '#117a65', '#a04000', '#5d6d7e'];
const esc = s => (s ?? '').toString().replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const say = (text, error) => { status.textContent = text; status.className = error ? 'error' : ''; };
const utc = iso => iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : '';
let pending = null;  // what to do again once a token is given
let charts = [];

class ApiError extends Error {}

async function api(path, options = {}) {
  const headers = {'Content-Type': 'application/json'};
  const token = sessionStorage.getItem('logvec-token');
  if (token) headers.Authorization = 'Bearer ' + token;
  let r, answer;
  try {
    r = await fetch(path, {...options, headers});
    const text = await r.text();
    try { answer = JSON.parse(text); } catch { answer = {detail: text || r.statusText}; }
  } catch (e) {
    say('the server did not answer: ' + e.message, true);
    throw new ApiError(e.message);
  }
  if (r.status === 401) {
    login.classList.add('shown');
    say(answer.detail ?? 'authentication required', true);
    throw new ApiError('401');
  }
  if (!r.ok) {
    const detail = Array.isArray(answer.detail) ? answer.detail.map(d => d.msg).join('; ') : answer.detail;
    say(`${r.status}: ${detail ?? r.statusText}`, true);
    throw new ApiError(String(r.status));
  }
  return answer;
}

const quietly = fn => async (...args) => { try { await fn(...args); } catch (e) { if (!(e instanceof ApiError)) say(String(e), true); } };

// ------------------------------------------------------------------ charts
function draw(el, xs, series, opts = {}) {
  charts = charts.filter(([chart, at]) => at === el ? (chart.destroy(), false) : true);
  el.textContent = '';
  if (!xs.length) { el.textContent = 'nothing in this range'; return; }
  const width = Math.max(el.clientWidth, 200);
  const chart = new uPlot({
    width, height: opts.height ?? 180, legend: {show: true}, cursor: {drag: {x: false, y: false}},
    scales: {x: {time: true}, n: {auto: true}, a: {auto: true}},
    axes: [{}, {scale: 'n', label: opts.left ?? 'lines', size: 50},
           {scale: 'a', side: 1, label: 'anomalies', grid: {show: false}, size: 50}],
    series: [{}, ...series.map(s => s.options)],
  }, [xs, ...series.map(s => s.values)], el);
  charts.push([chart, el]);
}

const bars = uPlot.paths.bars({size: [0.8, 40]});

function seriesOf(h, withLines) {
  const out = [];
  if (withLines) {
    const total = new Array(h.buckets).fill(0);
    for (const counts of Object.values(h.lines ?? {})) counts.forEach((n, i) => total[i] += n);
    out.push({values: total, options: {label: 'lines', scale: 'n', stroke: '#bbb', fill: '#e4e4e4', paths: bars}});
  }
  Object.entries(h.anomalies ?? {}).filter(([, v]) => v.some(n => n > 0)).forEach(([service, values], i) =>
    out.push({values, options: {label: service || '(none)', scale: withLines ? 'a' : 'n', width: 2,
                                stroke: COLORS[i % COLORS.length], points: {show: !withLines}}}));
  return out;
}

const buckets = h => Array.from({length: h.buckets}, (_, i) => h.since + i * h.bucket_seconds);

async function loadHistogram() {
  const form = $('range'), q = new URLSearchParams({buckets: 80});
  for (const name of ['since', 'until']) if (form.elements[name].value) q.set(name, form.elements[name].value);
  const h = await api('/api/histogram?' + q);
  const end = new Date((h.since + h.buckets * h.bucket_seconds) * 1000).toISOString();
  $('range-said').textContent = `${utc(new Date(h.since * 1000).toISOString())} – ${utc(end)} UTC`;
  draw($('histogram'), buckets(h), seriesOf(h, true));
}

// ------------------------------------------------------------------ incidents
async function loadIncidents() {
  const form = $('range'), q = new URLSearchParams({limit: 50});
  for (const name of ['since', 'until']) if (form.elements[name].value) q.set(name, form.elements[name].value);
  const list = await api('/api/incidents?' + q);
  $('incidents').innerHTML = list.map(i => `<tr class="incident ${esc(i.status)}" data-id="${esc(i.id)}" tabindex="0">
    <td>${esc(utc(i.start))}</td><td data-label="min">${minutes(i)}</td><td data-label="anomalies">${i.anomalies}</td>
    <td>${esc(i.status)}</td>
    <td class="msg">${esc(i.summary)}</td></tr>`).join('') ||
    '<tr><td colspan="5">no incident in this range</td></tr>';
  return list;
}

async function loadSessions() {
  const list = await api('/api/sessions?anomalies=true&limit=20');
  $('sessions-part').hidden = !list.length;
  $('sessions').innerHTML = list.map(s => `<tr><td>${Number(s.anomaly_score).toFixed(3)}</td><td>${s.lines}</td>
    <td><span class="msg">${esc(s.key)}</span> <button class="session" data-key="${esc(s.key)}">its lines</button>
    <div class="why">${esc(s.reason)}</div></td></tr>`).join('');
}

async function sessionLines(key) {
  const s = await api('/api/sessions/lines?' + new URLSearchParams({key, limit: 500}));
  showLines(`Session ${key}`, s.lines, null);
  say(`${s.lines.length} lines of session ${key}`);
}

const minutes = i => Math.max(Math.round((Date.parse(i.end) - Date.parse(i.start)) / 60000), 0);

async function showIncident(id) {
  const inc = await api('/api/incidents/' + encodeURIComponent(id));
  $('inc-title').textContent = inc.summary;
  const kinds = Object.entries(inc.kinds).map(([k, n]) => `${k} ${n}`).join(', ');
  const resolved = inc.resolution ? ` · resolved by ${inc.resolution.by}: ${inc.resolution.note || '(no note)'}` : '';
  $('inc-meta').textContent = `${inc.status} · ${utc(inc.start)} – ${utc(inc.end)} UTC · ${inc.anomalies} anomalies` +
    ` (${kinds}) · services ${inc.services.join(', ')} · id ${inc.id}${resolved}`;
  $('inc-templates').innerHTML = inc.top_templates.map(t => `<tr><td>${t.count}</td><td>${esc(t.service)}</td>
    <td><div class="msg">${esc(t.template)}</div><div class="example msg">${esc(t.example)}
    <button class="ctx" data-id="${esc(t.example_id)}">lines around it</button></div></td></tr>`).join('');
  $('incident').dataset.id = inc.id;
  const similar = await api(`/api/incidents/${encodeURIComponent(id)}/similar?k=5`);
  $('similar').innerHTML = similar.map(s => `<li><a href="#incident=${esc(s.id)}">${s.score.toFixed(3)}</a>
    <span class="meta">${esc(utc(s.start))} UTC, ${esc(s.status)}</span> — ${esc(s.summary)}
    <div class="why">shared: ${esc([...s.why.templates.map(t => '“' + t + '”'), ...s.why.services].join(', ') || 'words only')}
    </div></li>`).join('') || '<li>no similar past incident</li>';
  draw($('inc-chart'), buckets(inc.timeline), seriesOf(inc.timeline, false), {height: 140, left: 'anomalies'});
  say(`incident ${inc.id}: ${similar.length} similar past incidents`);
}

async function feedback(kind, form) {
  const id = $('incident').dataset.id;
  const note = form.elements.note.value;
  if (kind === 'resolve') {
    await api(`/api/incidents/${encodeURIComponent(id)}/resolve`, {method: 'POST', body: JSON.stringify({note})});
    say(`incident ${id} marked resolved`);
    await showIncident(id);
  } else {
    const expires = form.elements.expires.value || null;
    const marks = await api('/api/feedback/normal', {method: 'POST', body: JSON.stringify({incident: id, expires, note})});
    say(`${marks.length} templates marked normal` + (expires ? ` for ${expires}` : ' for good'));
  }
}

// ------------------------------------------------------------------ search
async function search() {
  const body = {}, link = new URLSearchParams();
  for (const [key, v] of new FormData(f)) {
    if (!v) continue;
    body[key] = key === 'anomalies' ? true : key === 'k' ? Number(v) : v;
    link.set(key, key === 'anomalies' ? 'true' : v);
  }
  hitsBody.innerHTML = '';  // never leave the last search's hits under this one's status
  say('searching…');
  const hits = await api('/api/search', {method: 'POST', body: JSON.stringify(body)});
  const groups = new Map();
  for (const h of hits) {
    const key = h.template || h.message;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(h);
  }
  say(hits.length ? `${hits.length} hits in ${groups.size} templates` : 'no close match');
  hitsBody.innerHTML = [...groups.entries()].map(([template, hs], g) => {
    const times = hs.map(h => h.timestamp).filter(Boolean).sort();
    const head = `<tr class="group${g === 0 ? ' open' : ''}" data-group="${g}" tabindex="0"><td data-label="score">${hs[0].score.toFixed(3)}</td>
      <td data-label="lines">${hs.length}</td><td>${esc(utc(times[0]))}${times.length > 1 ? ' – ' + esc(utc(times[times.length - 1])) : ''}</td>
      <td><div class="msg">${esc(template)}</div><div class="example msg">${esc(hs[0].message)}</div></td></tr>`;
    const rows = hs.map(h => `<tr class="hit${h.is_anomaly ? ' anomaly' : ''}" data-group="${g}"${g === 0 ? '' : ' hidden'}>
      <td>${h.score.toFixed(3)}</td><td>${esc(h.service)}</td><td>${esc(utc(h.timestamp))}</td>
      <td><div class="msg">${esc(h.message)}</div>${h.reason ? `<div class="why">${esc(h.reason)}</div>` : ''}
      <button class="ctx" data-id="${esc(h.id)}">lines around it</button></td></tr>`).join('');
    return head + rows;
  }).join('');
  const address = '/?' + link + '#search';
  history.replaceState(null, '', address.length <= MAX_LINK ? address : '/#search');  // a link to this search
}

async function context(id) {
  const c = await api('/api/records/context?' + new URLSearchParams({id, before: 5, after: 5}));
  showLines('Lines around it', c.lines, c.record.id);
  say(`${c.lines.length} lines around it, from its ${c.by === 'source' ? 'source' : 'service'}`);
}

function showLines(title, lines, current) {
  $('context-title').textContent = title;
  $('context-lines').innerHTML = lines.map(l => `<li class="${l.id === current ? 'this' : ''}${l.is_anomaly ? ' anomaly' : ''}">
    <span class="meta">${esc(utc(l.timestamp))} ${esc(l.service)} ${esc(l.level)}</span> <span class="msg">${esc(l.message)}</span></li>`).join('');
  $('context').hidden = false;
}

// ------------------------------------------------------------------ wiring
function route() {
  const hash = location.hash;
  const searching = hash === '#search';
  $('search-view').hidden = !searching;
  $('incidents-view').hidden = searching;
  $('overview').hidden = searching;
  $('tab-search').classList.toggle('on', searching);
  $('tab-incidents').classList.toggle('on', !searching);
  const m = hash.match(/^#incident=(.+)$/);
  $('incident').hidden = !m;
  $('incidents').closest('table').hidden = !!m;
  if (m || searching) $('sessions-part').hidden = true;
  if (m) return quietly(showIncident)(decodeURIComponent(m[1]));
  if (!searching) {
    return quietly(async () => {
      say('loading…');  // a refusal from before sign-in must not stand beside what this loads
      await loadHistogram();
      const l = await loadIncidents();
      await loadSessions();
      say(`${l.length} incident${l.length === 1 ? '' : 's'}`);
    })();
  }
}

document.addEventListener('click', e => {
  const ctx = e.target.closest('button.ctx');
  if (ctx) { e.preventDefault(); pending = () => context(ctx.dataset.id); return quietly(context)(ctx.dataset.id); }
  const session = e.target.closest('button.session');
  if (session) { e.preventDefault(); return quietly(sessionLines)(session.dataset.key); }
  const row = e.target.closest('tr.incident');
  if (row) { location.hash = '#incident=' + encodeURIComponent(row.dataset.id); return; }
  const group = e.target.closest('tr.group');
  if (group) {
    group.classList.toggle('open');
    for (const r of hitsBody.querySelectorAll(`tr.hit[data-group="${group.dataset.group}"]`)) r.hidden = !group.classList.contains('open');
  }
});
document.addEventListener('keydown', e => {
  if (e.key === 'Enter' && e.target.matches('tr.incident, tr.group')) e.target.click();
  if (e.key === 'Escape') $('context').hidden = true;
});
$('context-close').onclick = () => { $('context').hidden = true; };
$('context').onclick = e => { if (e.target === $('context')) $('context').hidden = true; };
f.onsubmit = e => { e.preventDefault(); pending = search; quietly(search)(); };
$('range').onsubmit = e => { e.preventDefault(); pending = route; route(); };
$('resolve').onsubmit = e => { e.preventDefault(); quietly(feedback)('resolve', e.target); };
$('normal').onsubmit = e => { e.preventDefault(); quietly(feedback)('normal', e.target); };
login.onsubmit = e => {
  e.preventDefault();
  sessionStorage.setItem('logvec-token', login.elements.token.value.trim());
  login.classList.remove('shown');
  (pending ?? route)();
};
window.addEventListener('hashchange', () => { pending = route; route(); });
window.addEventListener('resize', () => {
  for (const [chart, el] of charts) if (el.isConnected) chart.setSize({width: Math.max(el.clientWidth, 200), height: chart.height});
});

const given = new URLSearchParams(location.search);  // a shared link to a search: fill the form and search
if (given.get('q')) {
  for (const [key, v] of given) {
    const el = f.elements[key];
    if (el) el.type === 'checkbox' ? el.checked = v === 'true' : el.value = v;
  }
  if (location.hash !== '#search') history.replaceState(null, '', location.pathname + location.search + '#search');
  route();
  pending = search;
  quietly(search)();
} else {
  pending = route;
  route();
}
