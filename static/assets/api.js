// The JSON API client every page uses. Keeps the CSRF token from
// GET /api/session and sends it on every state-changing request.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `Request failed (${status})`);
    this.status = status;
    this.code = err.code || 'http_' + status;
    this.field = err.field || null;
    this.details = err;
  }
}

/** Calls the API. `body` is sent as JSON. Resolves to the parsed JSON (or null). */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    if (csrfToken === null) await loadSession();
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  }
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  // Stage changes rotate the session (and its CSRF token): refresh lazily.
  if (res.headers.has('x-session-changed')) csrfToken = null;
  return data;
}

/** The current session, or null when signed out. */
export async function loadSession() {
  try {
    const res = await fetch('/api/session', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (!res.ok) { csrfToken = ''; return null; }
    const s = await res.json();
    csrfToken = s.csrf_token || '';
    return s;
  } catch {
    csrfToken = '';
    return null;
  }
}

/** Forget the cached CSRF token (after sign-in, stage change or sign-out). */
export function resetCsrf() { csrfToken = null; }

/** Shows an error under a form (and marks the field) without using innerHTML. */
export function showError(form, err) {
  const box = form.querySelector('[data-role=error]');
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  if (err && err.field) {
    const input = form.querySelector(`[name="${CSS.escape(err.field)}"]`);
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  }
  if (box) {
    box.textContent = err ? err.message : '';
    box.hidden = !err;
  }
}

/** Shows a success/info message in a form's status box. */
export function showStatus(form, text) {
  const box = form.querySelector('[data-role=status]');
  if (box) { box.textContent = text; box.hidden = !text; }
}

/** Reads a form into a plain object of strings (checkboxes become booleans). */
export function formData(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
  }
  return out;
}

/** Fills `[data-portal-name]` elements with the portal name from /api/health-like config. */
export function setText(selector, text, root = document) {
  root.querySelectorAll(selector).forEach((el) => { el.textContent = text; });
}
