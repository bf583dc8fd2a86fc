// Company access on the portal: the request form, the status of one's own
// request, and the decision buttons for colleagues and operators.
import { api, showError } from '/assets/api.js';
import { el, when } from '/assets/chrome.js';

const STATUS_TEXT = { pending: 'Waiting for a decision', approved: 'Approved', declined: 'Declined' };

/** The status history as list items: "Requested by Ann · 3 Jan 2027, 10:02". */
export function historyItems(req) {
  return req.history.map((h) => {
    const verb = h.status === 'pending' ? 'Requested' : (h.status === 'approved' ? 'Approved' : 'Declined');
    const li = el('li', { 'data-status': h.status });
    li.append(el('strong', {}, verb), document.createTextNode(
      ` by ${h.by ? h.by.full_name : 'an operator'} · ${when(h.at)}`));
    return li;
  });
}

export function statusBadge(status) {
  return el('span', { class: `badge badge-${status}`, 'data-status': status }, STATUS_TEXT[status] || status);
}

/** Fills the home page's access cards for a customer without approved access. */
export async function showAccess(session) {
  const mine = await api('GET', '/api/access-requests/mine?per_page=1');
  const latest = mine.items[0];
  if (latest && latest.status === 'pending') {
    const card = document.getElementById('access-status-card');
    card.hidden = false;
    document.getElementById('access-status-text').textContent = latest.approver === 'organization'
      ? `You asked to join ${latest.organization.name}. A colleague who is already a member, or one of our operators, will decide.`
      : `You asked to join ${latest.company_name}. Our operators will decide.`;
    document.getElementById('access-history').replaceChildren(...historyItems(latest));
    document.getElementById('access-link').href = `/access-request?id=${encodeURIComponent(latest.id)}`;
    return;
  }
  const card = document.getElementById('access-form-card');
  card.hidden = false;
  if (latest && latest.status === 'declined') {
    const note = el('p', { class: 'error', id: 'declined-note' },
      `Your request to join ${latest.company_name} was declined: ${latest.reason || ''}`);
    card.insertBefore(note, card.querySelector('form'));
  }
  const form = document.getElementById('access-form');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(form, null);
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      await api('POST', '/api/access-requests', { company_name: form.company_name.value });
      window.location.reload();
    } catch (err) {
      showError(form, err);
    } finally {
      button.disabled = false;
    }
  });
  if (session) form.company_name.focus();
}
