// The member's organization: who is in it, and who asks to join (with a link
// to each request's page, where members approve or decline).
import { api } from '/assets/api.js';
import { chrome, el, when } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);

async function main() {
  await chrome({ area: 'portal', signIn: 'required' });
  let org;
  try {
    org = await api('GET', '/api/organizations/mine');
  } catch {
    document.querySelectorAll('main > section').forEach((s) => { s.hidden = true; });
    $('no-org').hidden = false;
    return;
  }
  $('org-name').textContent = org.name;
  $('members').tBodies[0].replaceChildren(...org.members.map((m) => {
    const tr = el('tr');
    tr.append(el('td', {}, m.full_name), el('td', {}, m.username), el('td', {}, m.email));
    return tr;
  }));
  const pending = await api('GET', '/api/access-requests?status=pending&per_page=100');
  $('pending-empty').hidden = pending.items.length > 0;
  $('pending').hidden = pending.items.length === 0;
  $('pending').tBodies[0].replaceChildren(...pending.items.map((r) => {
    const tr = el('tr', { 'data-request': r.id });
    const open = el('a', { href: `/access-request?id=${encodeURIComponent(r.id)}`, class: 'button secondary' },
      r.can_decide ? 'Review' : 'View');
    tr.append(el('td', {}, `${r.requester.full_name} (${r.requester.email})`), el('td', {}, when(r.created_at)), el('td', {}));
    tr.lastChild.append(open);
    return tr;
  }));
}

main();
