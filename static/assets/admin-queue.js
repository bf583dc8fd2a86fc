// Operators' queue: counts per status, filters, oldest waiting first, time
// waiting in working hours next to the wall-clock age.
import { api } from '/assets/api.js';
import { chrome, desk, el } from '/assets/chrome.js';
import { ticketBadge, statusLabel } from '/assets/ticket-view.js';
import { duration, workingMs } from '/assets/hours.js';

const $ = (id) => document.getElementById(id);
const form = $('filters');
const NAMES = ['status', 'assignee', 'request_type', 'organization', 'sort', 'q'];
let page = 1;
let hours = null;

async function counts() {
  const c = await api('GET', '/api/agent/counts');
  $('counts').replaceChildren(...['open', 'in_progress', 'answered', 'closed'].map((s) => {
    const a = el('a', { href: '#', 'data-count': s }, `${statusLabel(s)}: ${c[s]}`);
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      form.status.value = { open: 'open_only', closed: 'closed_only' }[s] || s;
      page = 1; load();
    });
    return a;
  }), el('span', { 'data-count': 'mine' }, `Assigned to me: ${c.assigned_to_me}`));
}

async function load() {
  const q = new URLSearchParams();
  for (const n of NAMES) if (form.elements[n].value) q.set(n, form.elements[n].value);
  q.set('page', String(page));
  window.history.replaceState(null, '', `?${q}`);
  const res = await api('GET', `/api/agent/requests?${q}`);
  const now = Date.now();
  $('empty').hidden = res.items.length > 0;
  $('queue').tBodies[0].replaceChildren(...res.items.map((t) => {
    const tr = el('tr', { 'data-key': t.key });
    const key = el('td');
    key.append(el('a', { href: `/admin/request?key=${encodeURIComponent(t.key)}` }, t.key));
    const status = el('td');
    status.append(ticketBadge(t.status));
    const waiting = t.waiting_since ? duration(workingMs(t.waiting_since, now, hours)) : '—';
    tr.append(key, el('td', {}, t.summary), status, el('td', {}, t.organization ? t.organization.name : ''),
      el('td', {}, t.assignee ? t.assignee.full_name : 'Unassigned'), el('td', {}, waiting),
      el('td', {}, duration(now - new Date(t.created_at).getTime())));
    return tr;
  }));
  const pages = Math.max(1, Math.ceil(res.total / res.per_page));
  $('page-info').textContent = `Page ${res.page} of ${pages} · ${res.total >= 10000 ? '10,000+' : res.total} requests`;
  $('prev').disabled = page <= 1;
  $('next').disabled = page >= pages;
}

async function main() {
  await chrome({ area: 'admin', signIn: 'required', operators: true });
  hours = (await desk()).working_hours;
  const [types, orgs] = await Promise.all([
    api('GET', '/api/request-types'), api('GET', '/api/admin/organizations?per_page=100'),
  ]);
  form.request_type.append(...types.items.map((t) => el('option', { value: t.key }, t.name)));
  form.organization.append(...orgs.items.map((o) => el('option', { value: o.id }, o.name)));
  const p = new URLSearchParams(window.location.search);
  for (const n of NAMES) if (p.has(n)) form.elements[n].value = p.get(n);
  page = Math.max(1, parseInt(p.get('page') || '1', 10) || 1);
  form.addEventListener('submit', (ev) => { ev.preventDefault(); page = 1; load(); });
  form.addEventListener('change', () => { page = 1; load(); });
  $('prev').addEventListener('click', () => { page -= 1; load(); });
  $('next').addEventListener('click', () => { page += 1; load(); });
  await Promise.all([counts(), load()]);
}

main();
