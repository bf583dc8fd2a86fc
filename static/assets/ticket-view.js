// Pieces of a request shared by the portal and the operators' pages: the
// status badge and the activity list (comments and changes, oldest first).
// Every value is text: nothing a person typed becomes markup.
import { el, when } from '/assets/chrome.js';

const LABELS = { open: 'Open', in_progress: 'In progress', answered: 'Answered', closed: 'Closed' };

export function statusLabel(s) { return LABELS[s] || s; }

export function ticketBadge(status) {
  return el('span', { class: `badge badge-${status}`, 'data-status': status }, statusLabel(status));
}

/** The activity as list items; `onEdit(item)` adds an Edit button to the viewer's own comments. */
export function activityItems(items, { me = null, onEdit = null } = {}) {
  return items.map((a) => {
    const li = el('li', { 'data-kind': a.kind, 'data-id': a.id });
    if (a.internal) li.classList.add('internal');
    const meta = el('div', { class: 'meta' });
    if (a.kind === 'comment') {
      meta.textContent = `${a.author.full_name}${a.internal ? ' · internal note' : ''} · ${when(a.created_at)}${a.edited_at ? ' · edited' : ''}`;
      li.append(meta, el('div', { class: 'body' }, a.body));
      if (a.attachments && a.attachments.length) {
        const files = el('ul', { class: 'comment-files' });
        for (const f of a.attachments) {
          const item = el('li');
          item.append(el('a', { href: f.url, download: f.filename }, f.filename));
          files.append(item);
        }
        li.append(files);
      }
      if (onEdit && me && a.author.id === me) {
        const b = el('button', { type: 'button', class: 'secondary', 'data-action': 'edit' }, 'Edit');
        b.addEventListener('click', () => onEdit(a));
        li.append(b);
      }
    } else {
      li.classList.add('change');
      let text = a.text;
      if (a.kind === 'assignee') text = a.to ? 'Assigned' : 'Unassigned';
      meta.textContent = `${a.author.full_name} · ${when(a.created_at)}`;
      li.append(el('div', {}, text || a.kind), meta);
    }
    return li;
  });
}
