// The page behind "Turn off this request's notifications" in request mail:
// opening it changes nothing; the button's POST does.
import { api } from '/assets/api.js';
import { chrome } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(window.location.search).get('token') || '';

function done(info) {
  $('done').hidden = false;
  $('done').textContent = `You will get no more mail about ${info.key}. You can turn them back on from its page.`;
  $('off').disabled = true;
}

async function main() {
  await chrome({ area: 'portal' });
  let info;
  try {
    info = await api('GET', `/api/notifications/unsubscribe?token=${encodeURIComponent(token)}`);
  } catch {
    $('invalid').hidden = false;
    return;
  }
  $('confirm').hidden = false;
  $('question').textContent = `Stop mail about ${info.key} “${info.summary}”?`;
  if (info.muted) { done(info); return; }
  $('off').addEventListener('click', async () => {
    try { done(await api('POST', '/api/notifications/unsubscribe', { token })); } catch {
      $('confirm').hidden = true;
      $('invalid').hidden = false;
    }
  });
}

main();
