// Administrators: topics (request types). Create, edit, reorder (move up or
// down: the whole order is sent at once, positions become 1…n) and hide. Operators see the list; the
// server answers 403 to their changes.
import { api, showError, showStatus } from '/assets/api.js';
import { chrome, el } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);
const form = $('topic');
let topics = [];

function listError(err) {
  $('list-error').textContent = err ? err.message : '';
  $('list-error').hidden = !err;
}

async function load() {
  topics = (await api('GET', '/api/admin/request-types')).items;
  $('topics').tBodies[0].replaceChildren(...topics.map((t, i) => {
    const tr = el('tr', { 'data-topic': t.key });
    const order = el('td');
    const up = el('button', { type: 'button', class: 'secondary', 'aria-label': `Move ${t.name} up` }, '↑');
    const down = el('button', { type: 'button', class: 'secondary', 'aria-label': `Move ${t.name} down` }, '↓');
    up.disabled = i === 0;
    down.disabled = i === topics.length - 1;
    up.addEventListener('click', () => move(i, -1));
    down.addEventListener('click', () => move(i, 1));
    order.append(up, ' ', down);
    const edit = el('button', { type: 'button', class: 'secondary' }, 'Edit');
    edit.addEventListener('click', () => startEdit(t));
    const toggle = el('button', { type: 'button', class: 'secondary' }, t.hidden ? 'Show' : 'Hide');
    toggle.addEventListener('click', () => patch(t.id, { hidden: !t.hidden }));
    const actions = el('td');
    actions.append(edit, ' ', toggle);
    tr.append(el('td', {}, String(i + 1)), el('td', {}, t.name), el('td', {}, t.key),
      el('td', {}, t.hidden ? 'Hidden' : 'Shown'), order, actions);
    return tr;
  }));
}

async function patch(id, body) {
  listError(null);
  try {
    await api('PATCH', `/api/admin/request-types/${encodeURIComponent(id)}`, body);
  } catch (err) { listError(err); }
  await load();
}

/** Swaps a topic with its neighbour: the whole order goes in one request
 * (one transaction on the server, positions rewritten 1…n), so a failure
 * leaves the old order, never half of the new one. */
async function move(i, delta) {
  const order = topics.slice();
  const [t] = order.splice(i, 1);
  order.splice(i + delta, 0, t);
  listError(null);
  try {
    await api('POST', '/api/admin/request-types/order', { ids: order.map((x) => x.id) });
  } catch (err) { listError(err); }
  await load();
  // Keyboard users keep their place: focus follows the moved topic.
  const row = $('topics').querySelector(`tr[data-topic="${CSS.escape(t.key)}"]`);
  const buttons = row ? row.querySelectorAll('td:nth-child(5) button') : [];
  const b = buttons[delta < 0 ? 0 : 1];
  if (b && !b.disabled) b.focus(); else if (buttons.length) [...buttons].find((x) => !x.disabled)?.focus();
}

function startEdit(t) {
  form.elements.id.value = t.id;
  form.elements.name.value = t.name;
  form.elements.key.value = t.key;
  form.elements.description.value = t.description;
  form.elements.hidden.checked = t.hidden;
  $('form-title').textContent = `Edit “${t.name}”`;
  $('t-save').textContent = 'Save';
  $('t-cancel').hidden = false;
  showError(form, null);
  showStatus(form, '');
  form.elements.name.focus();
}

function reset() {
  form.reset();
  form.elements.id.value = '';
  $('form-title').textContent = 'New topic';
  $('t-save').textContent = 'Create topic';
  $('t-cancel').hidden = true;
}

async function main() {
  await chrome({ area: 'admin', signIn: 'required', operators: true });
  $('t-cancel').addEventListener('click', () => { reset(); showError(form, null); showStatus(form, ''); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(form, null);
    showStatus(form, '');
    const body = {
      name: form.elements.name.value,
      description: form.elements.description.value,
      hidden: form.elements.hidden.checked,
    };
    if (form.elements.key.value.trim()) body.key = form.elements.key.value;
    const id = form.elements.id.value;
    try {
      if (id) {
        await api('PATCH', `/api/admin/request-types/${encodeURIComponent(id)}`, body);
      } else {
        await api('POST', '/api/admin/request-types', body);
      }
      reset();
      showStatus(form, id ? 'Saved.' : 'Topic created.');
      await load();
    } catch (err) { showError(form, err); }
  });
  await load();
}

main();
