// Raise a request under a topic; on success its page opens.
import { api, showError } from '/assets/api.js';
import { chrome } from '/assets/chrome.js';
import { attachmentArea } from '/assets/attachments.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);

async function main() {
  const session = await chrome({ area: 'portal', signIn: 'required' });
  if (session.user.role === 'customer' && session.user.access !== 'approved') {
    window.location.replace('/');
    return;
  }
  const { items } = await api('GET', '/api/request-types');
  const topic = items.find((t) => t.key === params.get('type') || t.id === params.get('type')) || items[0];
  $('topic-name').textContent = topic.name;
  $('title').textContent = topic.name;
  $('topic-description').textContent = topic.description;
  if (!session.user.organization) $('share-option').hidden = true;
  else $('share-option').lastChild.textContent = ` Share with ${session.user.organization.name}`;
  const quote = params.get('quote');
  if (quote) $('description').value = `Follows up ${quote}.\n\n`;
  const form = $('raise');
  attachmentArea($('attachments-box'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(form, null);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const body = {
        request_type: topic.id,
        summary: form.summary.value,
        description: form.description.value,
        visibility: form.visibility.value,
      };
      const ids = form.dataset.attachmentIds ? JSON.parse(form.dataset.attachmentIds) : [];
      if (ids.length) body.attachment_ids = ids;
      const created = await api('POST', '/api/requests', body);
      window.location.assign(`/request?key=${encodeURIComponent(created.key)}`);
    } catch (err) {
      showError(form, err);
      button.disabled = false;
    }
  });
  form.summary.focus();
}

main();
