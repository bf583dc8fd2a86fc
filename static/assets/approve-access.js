// The page behind a mailed "Approve" link. Opening it changes nothing: the
// approval is the POST behind the button, so mail scanners approve nothing.
import { api } from '/assets/api.js';
import { chrome } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(window.location.search).get('token') || '';

function invalid(err) {
  $('confirm').hidden = true;
  $('invalid').hidden = false;
  if (err && err.message) $('invalid-text').textContent = err.message;
}

async function main() {
  await chrome({ area: 'portal' });
  let info;
  try {
    info = await api('GET', `/api/access-requests/approve-link?token=${encodeURIComponent(token)}`);
  } catch (err) {
    invalid(err);
    return;
  }
  const req = info.request;
  if (req.status !== 'pending') {
    invalid({ message: `This request was already ${req.status}.` });
    return;
  }
  $('confirm').hidden = false;
  $('question').textContent = `${req.requester.full_name} (${req.requester.email}) asks to join ${req.organization.name}.`;
  $('for-whom').textContent = `You are approving as ${info.approver.full_name}.`;
  $('view').href = `/access-request?id=${encodeURIComponent(req.id)}`;
  $('approve').addEventListener('click', async () => {
    $('approve').disabled = true;
    try {
      const done = await api('POST', '/api/access-requests/approve-link', { token });
      $('confirm').hidden = true;
      $('done').hidden = false;
      $('done-text').textContent = `${done.requester.full_name} is now a member of ${done.organization.name}. They and your colleagues are told by email.`;
    } catch (err) {
      $('error').hidden = false;
      $('error').textContent = err.message;
      $('approve').disabled = false;
    }
  });
}

main();
