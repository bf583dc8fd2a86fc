// Operators: outgoing mail with its delivery state, attempts and last error;
// a waiting or given-up message can be sent again now.
import { api } from '/assets/api.js';
import { chrome, el, when } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);
const LABEL = { pending: 'Waiting', sending: 'Being sent', delivered: 'Delivered', failed: 'Given up' };
let page = 1;

async function load() {
  const q = new URLSearchParams({ page: String(page) });
  const state = $('filters').state.value;
  if (state) q.set('state', state);
  const res = await api('GET', `/api/admin/outbox?${q}`);
  $('empty').hidden = res.items.length > 0;
  $('outbox').tBodies[0].replaceChildren(...res.items.map((m) => {
    const tr = el('tr', { 'data-mail': m.id });
    const action = el('td');
    if (m.state === 'pending' || m.state === 'failed') {
      const b = el('button', { type: 'button', class: 'secondary' }, 'Retry now');
      b.addEventListener('click', async () => {
        b.disabled = true;
        $('list-error').hidden = true;
        try {
          await api('POST', `/api/admin/outbox/${encodeURIComponent(m.id)}/retry`);
          await load();
        } catch (err) {
          $('list-error').textContent = err.message;
          $('list-error').hidden = false;
          b.disabled = false;
        }
      });
      action.append(b);
    }
    const badge = el('span', { class: `badge badge-${m.state === 'delivered' ? 'answered' : m.state === 'failed' ? 'declined' : 'pending'}` }, LABEL[m.state] || m.state);
    const st = el('td');
    st.append(badge);
    tr.append(el('td', {}, when(m.created_at)), el('td', {}, m.to), el('td', {}, m.subject), st,
      el('td', {}, String(m.attempts)), el('td', {}, m.last_error || ''), el('td', {}, when(m.next_try_at)), action);
    return tr;
  }));
  const pages = Math.max(1, Math.ceil(res.total / res.per_page));
  $('page-info').textContent = `Page ${res.page} of ${pages} · ${res.total} messages`;
  $('prev').disabled = page <= 1;
  $('next').disabled = page >= pages;
}

async function main() {
  await chrome({ area: 'admin', signIn: 'required', operators: true });
  $('filters').addEventListener('change', () => { page = 1; load(); });
  $('prev').addEventListener('click', () => { page -= 1; load(); });
  $('next').addEventListener('click', () => { page += 1; load(); });
  await load();
}

main();
