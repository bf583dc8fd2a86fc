// Operators raise a request for a customer, or for a whole organization.
import { api, showError } from '/assets/api.js';
import { chrome, el } from '/assets/chrome.js';

const $ = (id) => document.getElementById(id);

async function main() {
  await chrome({ area: 'admin', signIn: 'required', operators: true });
  const [types, orgs] = await Promise.all([
    api('GET', '/api/request-types'), api('GET', '/api/admin/organizations?per_page=100'),
  ]);
  $('request_type').append(...types.items.map((t) => el('option', { value: t.id }, t.name)));
  $('orgs').append(...orgs.items.map((o) => el('option', { value: o.id }, `Organization: ${o.name}`)));
  const form = $('raise');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(form, null);
    try {
      const t = await api('POST', '/api/agent/requests', {
        on_behalf_of: form.on_behalf_of.value,
        request_type: form.request_type.value,
        summary: form.summary.value,
        description: form.description.value,
        visibility: form.shared.checked ? 'organization' : 'private',
      });
      window.location.assign(`/admin/request?key=${encodeURIComponent(t.key)}`);
    } catch (err) { showError(form, err); }
  });
}

main();
