// Attachments on pages: the upload area under a form (drop, paste, browse;
// several files; a progress bar and a cancel button per file; files over the
// limit refused before sending), and the list of a request's files.
// Every name is text: nothing a person typed becomes markup.
import { api, loadSession } from '/assets/api.js';
import { el, when } from '/assets/chrome.js';

let limitsPromise = null;

/** This module's styles, added to the page once. */
function styles() {
  if (document.querySelector('link[data-attachments-css]')) return;
  document.head.append(el('link', { rel: 'stylesheet', href: '/assets/attachments.css', 'data-attachments-css': '' }));
}

/** `GET /api/attachments/limits`, once per page. */
export function limits() {
  if (!limitsPromise) {
    limitsPromise = api('GET', '/api/attachments/limits').catch(() => ({
      attachment_max_bytes: 25 * 1024 * 1024, max_files: 50,
    }));
  }
  return limitsPromise;
}

/** "1.2 MB", "640 KB", "12 bytes". */
export function size(n) {
  if (n < 1000) return `${n} bytes`;
  if (n < 1000 * 1000) return `${(n / 1000).toFixed(n < 10000 ? 1 : 0)} KB`;
  return `${(n / 1000 / 1000).toFixed(1)} MB`;
}

/** A screenshot pasted from the clipboard has no useful name. */
function pastedName(file) {
  if (file.name && file.name !== 'image.png') return file.name;
  const ext = (file.type.split('/')[1] || 'png').replace(/[^a-z0-9]/g, '');
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  return `screenshot-${stamp}.${ext}`;
}

/**
 * Turns `box` (inside a form) into an upload area. The ids of finished
 * uploads are kept in `form.dataset.attachmentIds` (JSON), which the page's
 * submit handler sends as `attachment_ids`; the submit button waits while
 * files are still uploading; the form's `reset` clears the list.
 */
export function attachmentArea(box) {
  styles();
  const form = box.closest('form');
  const input = el('input', { type: 'file', multiple: '', hidden: '', 'data-role': 'file-input' });
  const browse = el('button', { type: 'button', class: 'secondary', 'data-action': 'browse' }, 'Browse…');
  const zone = el('div', { class: 'dropzone', 'data-role': 'dropzone', tabindex: '0' });
  zone.append(el('span', {}, 'Drop files here, paste a screenshot, or '), browse, input);
  const list = el('ul', { class: 'uploads', 'data-role': 'uploads' });
  box.replaceChildren(zone, list);
  const entries = [];

  const sync = () => {
    const ids = entries.filter((e) => e.id).map((e) => e.id);
    form.dataset.attachmentIds = JSON.stringify(ids);
    const busy = entries.some((e) => e.xhr);
    const submit = form.querySelector('button[type=submit]');
    if (submit) submit.disabled = busy;
    form.toggleAttribute('data-uploading', busy);
  };

  const drop = (entry) => {
    entries.splice(entries.indexOf(entry), 1);
    entry.li.remove();
    sync();
  };

  async function add(file, name) {
    const li = el('li', { class: 'upload', 'data-name': name });
    const label = el('span', { class: 'name' }, `${name} (${size(file.size)})`);
    const bar = el('progress', { max: '100', value: '0' });
    const action = el('button', { type: 'button', class: 'secondary', 'data-action': 'cancel' }, 'Cancel');
    const note = el('span', { class: 'note', role: 'status' });
    li.append(label, bar, action, note);
    list.append(li);
    const entry = { li, id: null, xhr: null };
    entries.push(entry);
    const { attachment_max_bytes: max } = await limits();
    if (file.size > max) {
      bar.remove();
      li.classList.add('refused');
      note.textContent = `Too large: the limit is ${size(max)} per file. This file was not sent.`;
      action.textContent = 'Dismiss';
      action.addEventListener('click', () => drop(entry));
      sync();
      return;
    }
    const session = await loadSession();
    const xhr = new XMLHttpRequest();
    entry.xhr = xhr;
    xhr.open('POST', '/api/attachments');
    xhr.setRequestHeader('X-CSRF-Token', (session && session.csrf_token) || '');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (ev) => {
      if (ev.lengthComputable) bar.value = Math.round((ev.loaded / ev.total) * 100);
    });
    const finish = () => { entry.xhr = null; sync(); };
    xhr.addEventListener('load', () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status === 201 && body && body.items && body.items[0]) {
        entry.id = body.items[0].id;
        bar.value = 100;
        li.classList.add('done');
        note.textContent = 'Uploaded';
        action.textContent = 'Remove';
        action.dataset.action = 'remove';
      } else {
        li.classList.add('failed');
        note.textContent = (body && body.error && body.error.message) || `Upload failed (${xhr.status}).`;
        action.textContent = 'Dismiss';
      }
      finish();
    });
    xhr.addEventListener('error', () => { li.classList.add('failed'); note.textContent = 'Upload failed: the connection dropped.'; action.textContent = 'Dismiss'; finish(); });
    xhr.addEventListener('abort', () => finish());
    action.addEventListener('click', async () => {
      if (entry.xhr) { entry.xhr.abort(); drop(entry); return; }
      if (entry.id) {
        // Not linked yet: removing it now saves waiting for the daily cleanup.
        try { await api('DELETE', `/api/attachments/${encodeURIComponent(entry.id)}`); } catch { /* cleanup takes it */ }
      }
      drop(entry);
    });
    const data = new FormData();
    data.append('file', file, name);
    sync();
    xhr.send(data);
  }

  const addAll = (files) => { for (const f of files) add(f, f.name || 'file'); };
  browse.addEventListener('click', () => input.click());
  input.addEventListener('change', () => { addAll(input.files); input.value = ''; });
  zone.addEventListener('dragover', (ev) => { ev.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    zone.classList.remove('over');
    if (ev.dataTransfer && ev.dataTransfer.files) addAll(ev.dataTransfer.files);
  });
  // Screenshots pasted anywhere in the form (e.g. into the text box).
  form.addEventListener('paste', (ev) => {
    const files = [...((ev.clipboardData && ev.clipboardData.files) || [])];
    if (!files.length) return;
    ev.preventDefault();
    for (const f of files) add(f, pastedName(f));
  });
  form.addEventListener('reset', () => {
    for (const e of [...entries]) { if (e.xhr) e.xhr.abort(); e.li.remove(); }
    entries.length = 0;
    sync();
  });
  sync();
}

/**
 * A request's files as list items: name (a download link), size, who added
 * it and when, an image preview for raster images, and Remove where allowed
 * (`onRemove(file)`).
 */
export function fileItems(files, { onRemove = null } = {}) {
  styles();
  return files.map((f) => {
    const li = el('li', { class: 'file', 'data-id': f.id });
    const a = el('a', { href: f.url, download: f.filename }, f.filename);
    li.append(a, el('span', { class: 'muted' }, ` ${size(f.size)} · ${f.uploader.full_name} · ${when(f.created_at)}`));
    if (['image/png', 'image/jpeg', 'image/gif', 'image/webp'].includes(f.content_type)) {
      li.append(el('img', { class: 'thumb', src: `${f.url}?inline=1`, alt: f.filename, loading: 'lazy' }));
    }
    if (onRemove && f.can_remove) {
      const b = el('button', { type: 'button', class: 'secondary', 'data-action': 'remove' }, 'Remove');
      b.addEventListener('click', () => onRemove(f));
      li.append(b);
    }
    return li;
  });
}
