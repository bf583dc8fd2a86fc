// The page a mailed rating lands on: the score is recorded (a POST, made by
// the page, so link scanners rate nothing), then a comment can be added.
import { api, showError, showStatus } from '/assets/api.js';
import { chrome } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(window.location.search).get('token') || '';
const LABELS = ['', 'Very poor', 'Poor', 'Neither good nor poor', 'Good', 'Very good'];

async function main() {
  await chrome({ area: 'portal' });
  let state;
  try {
    state = await api('POST', '/api/requests/rating-link', { token });
  } catch (err) {
    $('invalid').hidden = false;
    if (err.message) $('invalid-text').textContent = err.message;
    return;
  }
  $('thanks').hidden = false;
  $('thanks-text').textContent = `You rated ${state.key} “${state.summary}”: ${LABELS[state.score]}.`;
  const form = $('comment');
  if (state.comment) { form.hidden = true; return; }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(form, null);
    try {
      await api('POST', '/api/requests/rating-link', { token, comment: form.comment.value });
      showStatus(form, 'Thank you, your comment was added.');
      form.querySelector('button').disabled = true;
    } catch (err) { showError(form, err); }
  });
}

main();
