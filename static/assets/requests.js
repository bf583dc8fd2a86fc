// The customer's requests list: created by me / anyone, status, topic, search; paged.
import { api } from '/assets/api.js';
import { chrome, el, when } from '/assets/chrome.js';
import { ticketBadge } from '/assets/ticket-view.js';

const $ = (id) => document.getElementById(id);
const form = $('filters');
let page = 1;

function readUrl() {
  const p = new URLSearchParams(window.location.search);
  for (const name of ['created_by', 'status', 'request_type', 'q']) {
    if (p.has(name)) form.elements[name].value = p.get(name);
  }
  page = Math.max(1, parseInt(p.get('page') || '1', 10) || 1);
}

async function load() {
  const q = new URLSearchParams();
  for (const name of ['created_by', 'status', 'request_type', 'q']) {
    if (form.elements[name].value) q.set(name, form.elements[name].value);
  }
  q.set('page', String(page));
  window.history.replaceState(null, '', `?${q}`);
  const res = await api('GET', `/api/requests?${q}`);
  $('empty').hidden = res.items.length > 0;
  $('list').tBodies[0].replaceChildren(...res.items.map((t) => {
    const tr = el('tr', { 'data-key': t.key });
    const key = el('td');
    key.append(el('a', { href: `/request?key=${encodeURIComponent(t.key)}` }, t.key));
    const status = el('td');
    status.append(ticketBadge(t.status));
    tr.append(key, el('td', {}, t.summary), status, el('td', {}, t.reporter.full_name), el('td', {}, when(t.last_activity_at)));
    return tr;
  }));
  const pages = Math.max(1, Math.ceil(res.total / res.per_page));
  $('page-info').textContent = `Page ${res.page} of ${pages} · ${res.total} requests`;
  $('prev').disabled = page <= 1;
  $('next').disabled = page >= pages;
}

async function main() {
  await chrome({ area: 'portal', signIn: 'required' });
  const { items } = await api('GET', '/api/request-types');
  form.request_type.append(...items.map((t) => el('option', { value: t.key }, t.name)));
  readUrl();
  form.addEventListener('submit', (ev) => { ev.preventDefault(); page = 1; load(); });
  form.addEventListener('change', () => { page = 1; load(); });
  $('prev').addEventListener('click', () => { page -= 1; load(); });
  $('next').addEventListener('click', () => { page += 1; load(); });
  await load();
}

main();
