// The search page. Searches are POSTed (a pasted line may be longer than a URL should be); the address bar
// links to the search when it is short enough. A token the API asks for is kept for this tab only.
const f = document.getElementById('f'), tbody = document.getElementById('hits');
const status = document.getElementById('status'), login = document.getElementById('login');
const MAX_LINK = 2000;  // characters of a query the address bar keeps
const esc = s => (s ?? '').toString().replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const say = (text, error) => { status.textContent = text; status.className = error ? 'error' : ''; };

async function search() {
  const body = {}, link = new URLSearchParams();
  for (const [key, v] of new FormData(f)) {
    if (!v) continue;
    body[key] = key === 'anomalies' ? true : key === 'k' ? Number(v) : v;
    link.set(key, key === 'anomalies' ? 'true' : v);
  }
  tbody.innerHTML = '';  // never leave the last search's hits under this one's status
  say('searching…');
  const headers = {'Content-Type': 'application/json'};
  const token = sessionStorage.getItem('logvec-token');
  if (token) headers.Authorization = 'Bearer ' + token;
  let r, answer;
  try {
    r = await fetch('/api/search', {method: 'POST', headers, body: JSON.stringify(body)});
    const text = await r.text();
    try { answer = JSON.parse(text); } catch { answer = {detail: text || r.statusText}; }
  } catch (e) {
    return say('the server did not answer: ' + e.message, true);
  }
  if (r.status === 401) {
    login.classList.add('shown');
    return say(answer.detail ?? 'authentication required', true);
  }
  if (!r.ok) {
    const detail = Array.isArray(answer.detail) ? answer.detail.map(d => d.msg).join('; ') : answer.detail;
    return say(`${r.status}: ${detail ?? r.statusText}`, true);
  }
  say(answer.length + ' hits');
  tbody.innerHTML = answer.map(h => `<tr class="${h.is_anomaly ? 'anomaly' : ''}"><td>${h.score.toFixed(3)}</td>
    <td>${esc(h.timestamp)}</td><td>${esc(h.service)}</td><td class="msg">${esc(h.message)}</td>
    <td class="why">${esc(h.reason)}</td></tr>`).join('');
  const address = '/?' + link;
  history.replaceState(null, '', address.length <= MAX_LINK ? address : '/');  // a link to this search
}

f.onsubmit = e => { e.preventDefault(); search(); };
login.onsubmit = e => {
  e.preventDefault();
  sessionStorage.setItem('logvec-token', login.elements.token.value.trim());
  login.classList.remove('shown');
  search();
};
const given = new URLSearchParams(location.search);  // a shared link: fill the form and search
if (given.get('q')) {
  for (const [key, v] of given) {
    const el = f.elements[key];
    if (el) el.type === 'checkbox' ? el.checked = v === 'true' : el.value = v;
  }
  search();
}
