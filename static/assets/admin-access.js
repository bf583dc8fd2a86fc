// Operators: every access request, with Approve and Decline (a reason is asked).
import { api } from '/assets/api.js';
import { chrome, el, when } from '/assets/chrome.js';
import { statusBadge } from '/assets/access.js';

const $ = (id) => document.getElementById(id);

async function decide(r, action) {
  let body;
  if (action === 'decline') {
    const reason = window.prompt(`Why decline ${r.requester.full_name}'s request to join ${r.organization.name}?`);
    if (reason === null) return;
    body = { reason };
  }
  try {
    await api('POST', `/api/access-requests/${encodeURIComponent(r.id)}/${action}`, body);
    $('error').hidden = true;
  } catch (err) {
    $('error').hidden = false;
    $('error').textContent = err.message;
  }
  await load();
}

async function load() {
  const q = new URLSearchParams({ status: $('status').value, per_page: '100' });
  if ($('approver').value) q.set('approver', $('approver').value);
  const page = await api('GET', `/api/access-requests?${q}`);
  $('empty').hidden = page.items.length > 0;
  $('list').tBodies[0].replaceChildren(...page.items.map((r) => {
    const tr = el('tr', { 'data-request': r.id });
    const who = el('td');
    who.append(el('a', { href: `/access-request?id=${encodeURIComponent(r.id)}` }, r.requester.full_name),
      document.createTextNode(` (${r.requester.email})`));
    const company = el('td', {}, r.organization.name + (r.approver === 'operators' ? ' · new company' : ''));
    const status = el('td');
    status.append(statusBadge(r.status));
    const actions = el('td');
    if (r.can_decide) {
      const ok = el('button', { type: 'button', 'data-action': 'approve' }, 'Approve');
      ok.addEventListener('click', () => decide(r, 'approve'));
      const no = el('button', { type: 'button', class: 'secondary', 'data-action': 'decline' }, 'Decline');
      no.addEventListener('click', () => decide(r, 'decline'));
      actions.append(ok, document.createTextNode(' '), no);
    } else if (r.reason) {
      actions.textContent = r.reason;
    }
    tr.append(who, company, status, el('td', {}, when(r.created_at)), actions);
    return tr;
  }));
}

async function main() {
  await chrome({ area: 'admin', signIn: 'required', operators: true });
  $('status').addEventListener('change', load);
  $('approver').addEventListener('change', load);
  await load();
}

main();
