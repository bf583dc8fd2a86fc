// One request for operators: assign, change status (with a resolution to
// answer), reply publicly or add internal notes, edit their own comments.
import { api, showError } from '/assets/api.js';
import { chrome, desk, el, when } from '/assets/chrome.js';
import { activityItems, statusLabel, ticketBadge } from '/assets/ticket-view.js';
import { duration, workingMs } from '/assets/hours.js';
import { attachmentArea, fileItems } from '/assets/attachments.js';

const $ = (id) => document.getElementById(id);
const key = new URLSearchParams(window.location.search).get('key') || '';
const agentBase = `/api/agent/requests/${encodeURIComponent(key)}`;
const NEXT = {
  open: ['in_progress', 'answered', 'closed'],
  in_progress: ['answered', 'closed', 'open'],
  answered: ['closed', 'open'],
  closed: ['open'],
};
let me = null;
let hours = null;

async function removeFile(f) {
  if (!window.confirm(`Remove ${f.filename}?`)) return;
  await api('DELETE', `/api/attachments/${encodeURIComponent(f.id)}`);
  render(await api('GET', `/api/requests/${encodeURIComponent(key)}`));
}

async function editComment(a) {
  const body = window.prompt('Edit your comment', a.body);
  if (body === null) return;
  try {
    render(await api('PATCH', `${agentBase}/comments/${encodeURIComponent(a.id)}`, { body }));
  } catch (err) { window.alert(err.message); }
}

function render(t) {
  document.title = `${t.key} ${t.summary}`;
  for (const id of ['request', 'work', 'activity-card']) $(id).hidden = false;
  $('key').textContent = t.key;
  $('summary').textContent = t.summary;
  $('badge').replaceChildren(ticketBadge(t.status));
  $('topic').textContent = t.request_type ? t.request_type.name : '';
  $('reporter').textContent = t.reporter.full_name;
  $('org').textContent = t.organization ? t.organization.name : '—';
  $('visibility').textContent = t.visibility === 'organization' ? 'Shared with the organization' : 'Private';
  $('waiting').textContent = t.waiting_since
    ? `${duration(workingMs(t.waiting_since, Date.now(), hours))} in working hours (${duration(Date.now() - new Date(t.waiting_since).getTime())} wall-clock, since ${when(t.waiting_since)})`
    : 'Not waiting';
  $('resolution').textContent = t.resolution || 'Unresolved';
  $('rating').textContent = t.rating ? `${t.rating.score}/5${t.rating.comment ? ` — ${t.rating.comment}` : ''}` : '—';
  $('description').textContent = t.description || '—';
  $('assignee').value = t.assignee ? t.assignee.id : '';
  $('to').replaceChildren(...NEXT[t.status].map((s) => el('option', { value: s }, s === 'open' && t.status !== 'in_progress' ? 'Reopen' : statusLabel(s))));
  $('activity').replaceChildren(...activityItems(t.activity, { me, onEdit: editComment }));
  $('files-box').hidden = !t.attachments.length;
  $('files').replaceChildren(...fileItems(t.attachments, { onRemove: removeFile }));
  $('reply').hidden = t.status === 'closed';
}

async function main() {
  const session = await chrome({ area: 'admin', signIn: 'required', operators: true });
  me = session.user.id;
  hours = (await desk()).working_hours;
  let t;
  try { t = await api('GET', `/api/requests/${encodeURIComponent(key)}`); } catch { $('missing').hidden = false; return; }
  const ops = await api('GET', '/api/agent/operators');
  $('assignee').append(...ops.items.map((o) => el('option', { value: o.id }, o.full_name)));
  render(t);
  const assign = async (id) => {
    showError($('assign'), null);
    try { render(await api('POST', `${agentBase}/assign`, { assignee_id: id || null })); } catch (err) { showError($('assign'), err); }
  };
  $('assignee').addEventListener('change', () => assign($('assignee').value));
  $('assign-me').addEventListener('click', () => assign(me));
  $('transition').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    showError(form, null);
    try {
      render(await api('POST', `${agentBase}/transition`, { to: form.to.value, resolution: form.resolution.value || undefined }));
      form.resolution.value = '';
    } catch (err) { showError(form, err); }
  });
  $('internal').addEventListener('change', () => {
    $('reply-button').textContent = $('internal').checked ? 'Add internal note' : 'Reply';
  });
  attachmentArea($('reply-attachments'));
  $('reply').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    showError(form, null);
    try {
      const body = { body: form.body.value, internal: form.internal.checked };
      const ids = form.dataset.attachmentIds ? JSON.parse(form.dataset.attachmentIds) : [];
      if (ids.length) body.attachment_ids = ids;
      await api('POST', `${agentBase}/comments`, body);
      form.reset();
      $('reply-button').textContent = 'Reply';
      render(await api('GET', `/api/requests/${encodeURIComponent(key)}`));
    } catch (err) { showError(form, err); }
  });
}

main();
