// Operators: the audit log, newest first, filtered; the same filter exports CSV.
import { api } from '/assets/api.js';
import { chrome, el, when } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);
const form = $('filters');
const NAMES = ['action', 'actor', 'target', 'since', 'until'];
let page = 1;

function query() {
  const q = new URLSearchParams();
  for (const n of NAMES) if (form.elements[n].value) q.set(n, form.elements[n].value);
  return q;
}

async function load() {
  const q = query();
  const csv = new URLSearchParams(q);
  csv.set('format', 'csv');
  $('csv').href = `/api/admin/audit?${csv}`;
  q.set('page', String(page));
  window.history.replaceState(null, '', `?${q}`);
  $('list-error').hidden = true;
  let res;
  try {
    res = await api('GET', `/api/admin/audit?${q}`);
  } catch (err) {
    $('list-error').textContent = err.message;
    $('list-error').hidden = false;
    return;
  }
  $('empty').hidden = res.items.length > 0;
  $('audit').tBodies[0].replaceChildren(...res.items.map((e) => {
    const tr = el('tr', { 'data-action': e.action });
    const target = el('td');
    if (e.target.startsWith('user:') && e.target !== 'user:unknown') {
      target.append(el('a', { href: `/admin/people#${encodeURIComponent(e.target.slice(5))}` }, e.target_label || e.target));
    } else {
      target.textContent = e.target_label || e.target;
    }
    tr.append(el('td', {}, when(e.at)), el('td', {}, e.actor), el('td', {}, e.action), target,
      el('td', {}, e.detail), el('td', {}, e.address));
    return tr;
  }));
  const pages = Math.max(1, Math.ceil(res.total / res.per_page));
  $('page-info').textContent = `Page ${res.page} of ${pages} · ${res.total >= 10000 ? '10,000+' : res.total} entries`;
  $('prev').disabled = page <= 1;
  $('next').disabled = page >= pages;
}

async function main() {
  await chrome({ area: 'admin', signIn: 'required', operators: true });
  const p = new URLSearchParams(window.location.search);
  for (const n of NAMES) if (p.has(n)) form.elements[n].value = p.get(n);
  page = Math.max(1, parseInt(p.get('page') || '1', 10) || 1);
  form.addEventListener('submit', (ev) => { ev.preventDefault(); page = 1; load(); });
  form.elements.action.addEventListener('change', () => { page = 1; load(); });
  $('prev').addEventListener('click', () => { page -= 1; load(); });
  $('next').addEventListener('click', () => { page += 1; load(); });
  await load();
}

main();
