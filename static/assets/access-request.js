// One access request: who asked to join which company, its history, and (for
// colleagues and operators) the Approve and Decline buttons.
import { api, showError, showStatus } from '/assets/api.js';
import { chrome } from '/assets/chrome.js';
import { historyItems, statusBadge } from '/assets/access.js';

const $ = (id) => document.getElementById(id);

function render(req) {
  $('request').hidden = false;
  $('title').textContent = `${req.requester.full_name} asks to join ${req.organization.name}`;
  $('badge').replaceChildren(statusBadge(req.status));
  $('requester').textContent = `${req.requester.full_name} (${req.requester.email})`;
  $('company').textContent = req.company_name === req.organization.name
    ? req.organization.name : `${req.organization.name} (typed as “${req.company_name}”)`;
  $('approver').textContent = req.approver === 'organization'
    ? `A member of ${req.organization.name}, or an operator` : 'Our operators';
  $('history').replaceChildren(...historyItems(req));
  $('reason').hidden = !req.reason;
  $('reason').textContent = req.reason ? `Reason: ${req.reason}` : '';
  $('decide').hidden = !req.can_decide;
}

async function main() {
  await chrome({ area: 'portal', signIn: 'required' });
  const id = new URLSearchParams(window.location.search).get('id') || '';
  let req;
  try {
    req = await api('GET', `/api/access-requests/${encodeURIComponent(id)}`);
  } catch {
    $('missing').hidden = false;
    return;
  }
  render(req);
  const form = $('decide');
  const decide = async (action, body) => {
    showError(form, null);
    form.querySelectorAll('button').forEach((b) => { b.disabled = true; });
    try {
      req = await api('POST', `/api/access-requests/${encodeURIComponent(id)}/${action}`, body);
      render(req);
      showStatus(form, action === 'approve' ? 'Approved. Everyone concerned is told by email.' : 'Declined. The person is told why by email.');
      form.hidden = false;
      form.querySelectorAll('button, textarea').forEach((b) => { b.disabled = true; });
    } catch (err) {
      showError(form, err);
      form.querySelectorAll('button').forEach((b) => { b.disabled = false; });
    }
  };
  $('approve').addEventListener('click', () => decide('approve'));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); decide('decline', { reason: form.reason.value }); });
}

main();
