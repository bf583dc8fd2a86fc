// One request as its customer sees it: details, activity, comment, mute,
// share, and the rating once it is answered.
import { api, showError } from '/assets/api.js';
import { chrome, when } from '/assets/chrome.js';
import { activityItems, ticketBadge } from '/assets/ticket-view.js';
import { attachmentArea, fileItems } from '/assets/attachments.js';

const $ = (id) => document.getElementById(id);
const key = new URLSearchParams(window.location.search).get('key') || '';
const base = `/api/requests/${encodeURIComponent(key)}`;
const RATINGS = ['', 'Very poor', 'Poor', 'Neither good nor poor', 'Good', 'Very good'];

function render(t) {
  document.title = `${t.key} ${t.summary}`;
  $('request').hidden = false;
  $('activity-card').hidden = false;
  $('key').textContent = t.key;
  $('summary').textContent = t.summary;
  $('badge').replaceChildren(ticketBadge(t.status));
  $('topic').textContent = t.request_type ? t.request_type.name : '';
  $('reporter').textContent = t.reporter.full_name;
  $('created').textContent = when(t.created_at);
  $('resolution').textContent = t.resolution || 'Unresolved';
  const names = t.participants.map((p) => p.full_name);
  if (t.visibility === 'organization' && t.organization) names.push(t.organization.name);
  $('shared-with').textContent = names.join(', ');
  $('description').textContent = t.description || '—';
  $('mute').checked = t.muted;
  $('mute-box').hidden = !t.can_mute;
  $('share').hidden = !t.can_share;
  $('share').textContent = t.visibility === 'organization' ? 'Make private' : `Share with ${t.organization ? t.organization.name : 'my organization'}`;
  $('activity').replaceChildren(...activityItems(t.activity));
  $('files-box').hidden = !t.attachments.length;
  $('files').replaceChildren(...fileItems(t.attachments, { onRemove: removeFile }));
  $('comment').hidden = !t.can_comment;
  $('closed-note').hidden = t.can_comment;
  $('closed-key').textContent = t.key;
  $('raise-new').href = `/raise?type=${encodeURIComponent(t.request_type ? t.request_type.key : '')}&quote=${encodeURIComponent(t.key)}`;
  $('rating-card').hidden = !t.can_rate;
  $('rated').hidden = !t.rating;
  if (t.rating) $('rated-text').textContent = `${RATINGS[t.rating.score]}${t.rating.comment ? ` — ${t.rating.comment}` : ''}`;
}

async function reload() { render(await api('GET', base)); }

async function removeFile(f) {
  if (!window.confirm(`Remove ${f.filename}?`)) return;
  await api('DELETE', `/api/attachments/${encodeURIComponent(f.id)}`);
  await reload();
}

async function main() {
  await chrome({ area: 'portal', signIn: 'required' });
  let t;
  try { t = await api('GET', base); } catch { $('missing').hidden = false; return; }
  render(t);
  $('mute').addEventListener('change', async () => {
    await api('POST', `${base}/mute`, { muted: $('mute').checked });
  });
  $('share').addEventListener('click', async () => {
    const current = await api('GET', base);
    render(await api('POST', `${base}/visibility`, { visibility: current.visibility === 'organization' ? 'private' : 'organization' }));
  });
  const comment = $('comment');
  attachmentArea($('comment-attachments'));
  comment.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(comment, null);
    const button = comment.querySelector('button');
    button.disabled = true;
    try {
      const body = { body: comment.body.value };
      const ids = comment.dataset.attachmentIds ? JSON.parse(comment.dataset.attachmentIds) : [];
      if (ids.length) body.attachment_ids = ids;
      await api('POST', `${base}/comments`, body);
      comment.reset();
      await reload();
    } catch (err) { showError(comment, err); } finally { button.disabled = false; }
  });
  const rating = $('rating');
  rating.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(rating, null);
    const score = Number((rating.querySelector('input[name=score]:checked') || {}).value || 0);
    try {
      await api('POST', `${base}/rating`, { score, comment: rating.comment.value || undefined });
      await reload();
    } catch (err) { showError(rating, err); }
  });
}

main();
