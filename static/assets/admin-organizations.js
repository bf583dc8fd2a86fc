// Operators: organizations, their email domains and members; create, rename,
// merge; add or remove members.
import { api, showError, showStatus } from '/assets/api.js';
import { chrome, el } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);
let all = [];
let current = null;

async function loadList() {
  const q = new URLSearchParams({ per_page: '100', q: $('q').value });
  const page = await api('GET', `/api/admin/organizations?${q}`);
  all = page.items;
  $('list').tBodies[0].replaceChildren(...all.map((o) => {
    const tr = el('tr', { 'data-org': o.id });
    const name = el('td');
    const a = el('a', { href: `#${o.id}` }, o.name);
    a.addEventListener('click', (ev) => { ev.preventDefault(); show(o.id); });
    name.append(a);
    tr.append(name, el('td', {}, o.state), el('td', {}, o.domains.join(', ')),
      el('td', {}, String(o.member_count)), el('td', {}, String(o.pending_count)));
    return tr;
  }));
}

async function show(id) {
  current = await api('GET', `/api/admin/organizations/${encodeURIComponent(id)}`);
  $('detail').hidden = false;
  $('detail-title').textContent = current.name;
  $('edit-name').value = current.name;
  $('edit-domains').value = current.domains.join('\n');
  $('members').tBodies[0].replaceChildren(...current.members.map((m) => {
    const tr = el('tr', { 'data-member': m.id });
    const remove = el('button', { type: 'button', class: 'secondary' }, 'Remove');
    remove.addEventListener('click', async () => {
      if (!window.confirm(`Remove ${m.full_name} from ${current.name}?`)) return;
      await api('DELETE', `/api/admin/organizations/${encodeURIComponent(current.id)}/members/${encodeURIComponent(m.id)}`);
      await show(current.id);
      await loadList();
    });
    const actions = el('td');
    actions.append(remove);
    tr.append(el('td', {}, m.full_name), el('td', {}, m.email), el('td', {}, m.access), actions);
    return tr;
  }));
  const into = $('merge').into;
  into.replaceChildren(...all.filter((o) => o.id !== current.id).map((o) => el('option', { value: o.id }, o.name)));
}

async function main() {
  await chrome({ area: 'admin', signIn: 'required', operators: true });
  $('q').addEventListener('input', () => loadList());
  $('create').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    showError(form, null);
    try {
      const o = await api('POST', '/api/admin/organizations', { name: form.name.value });
      form.reset();
      await loadList();
      await show(o.id);
    } catch (err) { showError(form, err); }
  });
  $('edit').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    showError(form, null);
    const domains = form.domains.value.split(/[\s,]+/).filter(Boolean);
    try {
      await api('PATCH', `/api/admin/organizations/${encodeURIComponent(current.id)}`, { name: form.name.value, domains });
      showStatus(form, 'Saved.');
      await loadList();
      await show(current.id);
    } catch (err) { showError(form, err); }
  });
  $('add-member').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    showError(form, null);
    try {
      await api('POST', `/api/admin/organizations/${encodeURIComponent(current.id)}/members`, { login: form.login.value });
      form.reset();
      await show(current.id);
      await loadList();
    } catch (err) { showError(form, err); }
  });
  $('merge').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const target = all.find((o) => o.id === form.into.value);
    if (!target || !window.confirm(`Merge ${current.name} into ${target.name}? Its members and requests move; ${current.name} is deleted.`)) return;
    try {
      await api('POST', `/api/admin/organizations/${encodeURIComponent(current.id)}/merge`, { into: target.id });
      await loadList();
      await show(target.id);
    } catch (err) { showError(form, err); }
  });
  await loadList();
}

main();
