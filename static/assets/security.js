// /security (Profile → Two-factor): each method with Configure, Reset, Set as
// primary and Show details; backup codes left and "Change backup codes";
// trusted devices with Remove. Changes at stage "full" need a second-factor
// check within 10 minutes: on `reauth_required` the page asks for one and
// then repeats the action.
import { api, ApiError, loadSession, resetCsrf } from '/assets/api.js';
import {
  METHODS, el, setupMethod, challengeForm, showBackupCodes, webauthnSupported,
} from '/assets/twofactor.js';

const $ = (id) => document.getElementById(id);
let state = null;

function message(id, text) {
  $(id).textContent = text || '';
  $(id).hidden = !text;
}

function fmt(ts) {
  return ts ? new Date(ts).toLocaleString() : '';
}

/** Runs `action`; on reauth_required asks for the second factor, then retries. */
async function guarded(action) {
  message('page-error', '');
  try {
    return await action();
  } catch (e) {
    if (e instanceof ApiError && e.code === 'reauth_required') {
      await reauth();
      return guarded(action);
    }
    if (e instanceof ApiError && e.code === 'not_signed_in') { window.location.assign('/login'); return undefined; }
    message('page-error', e.message);
    throw e;
  }
}

function reauth() {
  return new Promise((resolve) => {
    $('reauth').hidden = false;
    $('reauth').scrollIntoView({ block: 'start' });
    const kinds = state.methods.filter((m) => m.configured)
      .sort((a, b) => Number(b.primary) - Number(a.primary))
      .map((m) => m.kind)
      .filter((k) => k !== 'webauthn' || webauthnSupported());
    const ask = async (kind) => {
      await challengeForm(kind, $('reauth-panel'), {});
      resetCsrf();
      $('reauth').hidden = true;
      $('reauth-panel').replaceChildren();
      resolve();
    };
    $('reauth-methods').replaceChildren(...kinds.map((k) => el('button', {
      type: 'button', class: 'secondary', 'data-method': k, onclick: () => ask(k),
    }, METHODS[k].name)));
    if (kinds.length) ask(kinds[0]);
  });
}

async function configure(kind) {
  $('setup-card').hidden = false;
  $('setup-card').scrollIntoView({ block: 'start' });
  const run = () => new Promise((resolve, reject) => {
    setupMethod(kind, $('setup-panel'), { onError: reject }).then(resolve);
  });
  try {
    const ok = await guarded(run);
    if (ok) message('page-status', `${METHODS[kind].name}: set up.`);
  } catch { /* shown */ }
  $('setup-card').hidden = true;
  await refresh();
}

async function changeBackupCodes() {
  try {
    const { codes } = await guarded(() => api('POST', '/api/2fa/backup-codes'));
    $('setup-card').hidden = false;
    await new Promise((resolve) => showBackupCodes($('setup-panel'), codes, resolve));
    $('setup-card').hidden = true;
    message('page-status', 'New backup codes are ready; the old ones no longer work.');
  } catch { /* shown */ }
  await refresh();
}

async function reset(kind) {
  if (!window.confirm(`Reset ${METHODS[kind].name}? It stops working until you configure it again.`)) return;
  try {
    await guarded(() => api('DELETE', `/api/2fa/methods/${kind}`));
    message('page-status', `${METHODS[kind].name} was reset.`);
  } catch { /* shown */ }
  await refresh();
}

async function makePrimary(kind) {
  try {
    await guarded(() => api('POST', '/api/2fa/primary', { method: kind }));
    message('page-status', `${METHODS[kind].name} is now your primary method.`);
  } catch { /* shown */ }
  await refresh();
}

async function removeDevice(id) {
  try {
    await guarded(() => api('DELETE', `/api/2fa/devices/${encodeURIComponent(id)}`));
    message('page-status', 'The device is no longer trusted.');
  } catch { /* shown */ }
  await refresh();
}

function detailsOf(m) {
  const d = m.details || {};
  const rows = [el('li', { text: `Set up ${fmt(m.configured_at)}` })];
  if (d.email) rows.push(el('li', { text: `Codes go to ${d.email}` }));
  if (d.questions) for (const q of d.questions) rows.push(el('li', { text: q }));
  if (d.remaining !== undefined) rows.push(el('li', { text: `${d.remaining} unused codes` }));
  if (d.credentials) {
    for (const c of d.credentials) {
      rows.push(el('li', { text: `${c.label} (added ${fmt(c.created_at)}${c.last_used_at ? `, last used ${fmt(c.last_used_at)}` : ''})` }));
    }
  }
  return el('ul', { class: 'details', hidden: true }, ...rows);
}

function renderMethods() {
  const items = state.methods.map((m) => {
    const info = METHODS[m.kind];
    const badges = [];
    if (m.primary) badges.push(el('span', { class: 'badge', text: 'Primary' }));
    if (!m.configured) badges.push(el('span', { class: 'badge muted', text: 'Not set up' }));
    if (m.kind === state.backup_method) badges.push(el('span', { class: 'badge', text: 'Backup' }));
    const actions = el('div', { class: 'actions' });
    const details = m.configured ? detailsOf(m) : null;
    if (m.configured) {
      actions.append(el('button', {
        type: 'button', class: 'secondary', text: 'Show details',
        onclick: (ev) => { details.hidden = !details.hidden; ev.target.textContent = details.hidden ? 'Show details' : 'Hide details'; },
      }));
      if (!m.primary) actions.append(el('button', { type: 'button', class: 'secondary', text: 'Set as primary', onclick: () => makePrimary(m.kind) }));
      if (m.kind === 'backup_codes') {
        actions.append(el('button', { type: 'button', text: 'Change backup codes', onclick: changeBackupCodes }));
      } else {
        actions.append(el('button', { type: 'button', class: 'secondary', text: 'Configure', onclick: () => configure(m.kind) }));
      }
      actions.append(el('button', { type: 'button', class: 'danger', text: 'Reset', onclick: () => reset(m.kind) }));
    } else {
      actions.append(el('button', { type: 'button', text: 'Configure', onclick: () => configure(m.kind) }));
    }
    const extra = m.kind === 'backup_codes' && m.configured
      ? el('p', { 'data-role': 'codes-left', text: `${state.backup_codes_left} of 15 backup codes left.` })
      : null;
    return el('div', { class: 'method', 'data-method': m.kind },
      el('h3', {}, info.name, ' ', ...badges),
      el('p', { class: 'muted', text: info.hint }),
      extra, details, actions);
  });
  $('methods').replaceChildren(...items);
}

function renderDevices() {
  const rows = state.trusted_devices.map((d) => el('tr', { 'data-device': d.id },
    el('td', {}, d.label, d.current ? ' (this browser)' : ''),
    el('td', { text: fmt(d.created_at) }),
    el('td', { text: fmt(d.expires_at) }),
    el('td', {}, el('button', { type: 'button', class: 'secondary', text: 'Remove', onclick: () => removeDevice(d.id) }))));
  $('devices').replaceChildren(...rows);
  $('no-devices').hidden = rows.length > 0;
}

async function refresh() {
  state = await api('GET', '/api/2fa');
  renderMethods();
  renderDevices();
}

async function main() {
  $('nav-logout').addEventListener('click', async () => {
    try { await api('POST', '/api/auth/logout'); } catch { /* already signed out */ }
    resetCsrf();
    window.location.assign('/');
  });
  const session = await loadSession();
  if (!session) { window.location.replace('/login'); return; }
  if (session.stage !== 'full') { window.location.replace('/two-factor'); return; }
  await refresh();
}

main();
