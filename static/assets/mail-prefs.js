// The profile page's email notification preferences: each box saves at once.
import { api, showError, showStatus } from '/assets/api.js';

async function main() {
  const form = document.getElementById('mail-prefs');
  if (!form) return;
  let prefs;
  try { prefs = await api('GET', '/api/notifications/preferences'); } catch { form.closest('section').hidden = true; return; }
  for (const name of ['request_created', 'comments', 'status_changes']) form.elements[name].checked = prefs[name];
  form.addEventListener('change', async (ev) => {
    showError(form, null);
    try {
      await api('PATCH', '/api/notifications/preferences', { [ev.target.name]: ev.target.checked });
      showStatus(form, 'Saved.');
    } catch (err) {
      ev.target.checked = !ev.target.checked;
      showError(form, err);
    }
  });
}

main();
