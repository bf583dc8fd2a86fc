// Operators: people. Search by name, username, email or organization; a
// person's page (organization, role, second-factor methods in use, last
// sign-in, lock state, sessions) and the account actions. The server decides
// who may do what; the page only shows its answers.
import { api, showError, showStatus } from '/assets/api.js';
import { chrome, el, when } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);
const form = $('filters');
let page = 1;
let current = null;
let me = null;

function state(p) {
  if (p.deactivated) return 'Deactivated';
  if (p.locked) return 'Locked';
  return 'Active';
}

async function load() {
  const q = new URLSearchParams({ q: form.q.value, role: form.role.value, page: String(page) });
  window.history.replaceState(null, '', `?${q}${current ? `#${encodeURIComponent(current.id)}` : ''}`);
  const res = await api('GET', `/api/admin/users?${q}`);
  $('empty').hidden = res.items.length > 0;
  $('people').tBodies[0].replaceChildren(...res.items.map((p) => {
    const tr = el('tr', { 'data-user': p.username });
    const name = el('td');
    const a = el('a', { href: `#${encodeURIComponent(p.id)}` }, p.full_name);
    a.addEventListener('click', (ev) => { ev.preventDefault(); show(p.id); });
    name.append(a);
    tr.append(name, el('td', {}, p.username), el('td', {}, p.email), el('td', {}, p.organization || ''),
      el('td', {}, p.role), el('td', { 'data-state': '' }, state(p)), el('td', {}, when(p.last_login_at) || 'Never'));
    return tr;
  }));
  const pages = Math.max(1, Math.ceil(res.total / res.per_page));
  $('page-info').textContent = `Page ${res.page} of ${pages} · ${res.total} people`;
  $('prev').disabled = page <= 1;
  $('next').disabled = page >= pages;
}

function fact(dl, term, value) {
  dl.append(el('dt', {}, term), el('dd', {}, value));
}

function render(p) {
  current = p;
  $('person').hidden = false;
  $('person-title').textContent = `${p.full_name} (${p.username})`;
  const dl = $('facts');
  dl.replaceChildren();
  fact(dl, 'Email', `${p.email}${p.email_confirmed ? '' : ' (not confirmed)'}`);
  fact(dl, 'Organization', p.organization ? `${p.organization.name} (${p.organization.access})` : 'None');
  fact(dl, 'Role', p.role);
  fact(dl, 'Second factor', p.two_factor.methods.length
    ? p.two_factor.methods.map((m) => (m === p.two_factor.primary ? `${m} (primary)` : m)).join(', ')
    : 'None set up');
  fact(dl, 'Last sign-in', when(p.last_login_at) || 'Never');
  fact(dl, 'State', p.deactivated ? `Deactivated ${when(p.deactivated_at)}`
    : p.locked ? `Locked until ${when(p.locked_until)}` : 'Active');
  fact(dl, 'Wrong passwords lately', String(p.recent_failures));
  fact(dl, 'Member since', when(p.created_at));
  $('sessions').tBodies[0].replaceChildren(...p.sessions.map((s) => {
    const tr = el('tr');
    tr.append(el('td', {}, when(s.created_at)), el('td', {}, when(s.last_seen_at)),
      el('td', {}, when(s.expires_at)), el('td', {}, s.stage));
    return tr;
  }));
  const actions = $('actions');
  actions.querySelector('[data-action=unlock]').disabled = !p.locked;
  actions.querySelector('[data-action=deactivate]').hidden = p.deactivated;
  actions.querySelector('[data-action=reactivate]').hidden = !p.deactivated;
  $('role').value = p.role;
  $('role-row').hidden = !(me && me.user.role === 'admin');
  $('person-audit').href = `/admin/audit?target=${encodeURIComponent(`user:${p.id}`)}`;
}

async function show(id) {
  const actions = $('actions');
  showError(actions, null);
  showStatus(actions, '');
  render(await api('GET', `/api/admin/users/${encodeURIComponent(id)}`));
  window.history.replaceState(null, '', `${window.location.search}#${encodeURIComponent(id)}`);
  $('person').focus();
}

const CONFIRM = {
  'reset-2fa': (p) => `Reset the second factor of ${p.full_name}? Their methods and trusted devices are removed, they are signed out and mailed, and they set up a new one at their next sign-in.`,
  'end-sessions': (p) => `Sign ${p.full_name} out everywhere?`,
  deactivate: (p) => `Deactivate ${p.full_name}? They are signed out at once and cannot sign in until reactivated.`,
};

const DONE = {
  unlock: 'Unlocked.',
  'reset-2fa': 'Second factor reset; they were mailed.',
  'end-sessions': 'All sessions ended.',
  deactivate: 'Deactivated.',
  reactivate: 'Reactivated.',
  role: 'Role changed.',
};

async function act(action) {
  const p = current;
  const actions = $('actions');
  showError(actions, null);
  showStatus(actions, '');
  if (CONFIRM[action] && !window.confirm(CONFIRM[action](p))) return;
  const id = encodeURIComponent(p.id);
  try {
    if (action === 'reset-2fa') {
      await api('POST', `/api/admin/second-factor/${id}/reset`);
      render(await api('GET', `/api/admin/users/${id}`));
    } else if (action === 'role') {
      render(await api('POST', `/api/admin/users/${id}/role`, { role: $('role').value }));
    } else if (action === 'deactivate') {
      const reason = window.prompt('Reason (kept in the audit log; optional):', '') || '';
      render(await api('POST', `/api/admin/users/${id}/deactivate`, { reason }));
    } else {
      render(await api('POST', `/api/admin/users/${id}/${action}`));
    }
    showStatus(actions, DONE[action]);
    await load();
  } catch (err) { showError(actions, err); }
}

async function main() {
  me = await chrome({ area: 'admin', signIn: 'required', operators: true });
  const p = new URLSearchParams(window.location.search);
  form.q.value = p.get('q') || '';
  form.role.value = p.get('role') || '';
  page = Math.max(1, parseInt(p.get('page') || '1', 10) || 1);
  form.addEventListener('submit', (ev) => { ev.preventDefault(); page = 1; load(); });
  form.role.addEventListener('change', () => { page = 1; load(); });
  $('prev').addEventListener('click', () => { page -= 1; load(); });
  $('next').addEventListener('click', () => { page += 1; load(); });
  $('actions').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-action]');
    if (b) act(b.dataset.action);
  });
  await load();
  const id = decodeURIComponent(window.location.hash.slice(1));
  if (id) await show(id).catch(() => {});
}

main();
