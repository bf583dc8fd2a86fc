// /two-factor: the mandatory first setup (stage needs_2fa_setup) and the
// sign-in challenge (stage password_ok).
import { api, loadSession, resetCsrf } from '/assets/api.js';
import {
  METHODS, el, setupMethod, challengeForm, lockMessage, webauthnSupported,
} from '/assets/twofactor.js';

const $ = (id) => document.getElementById(id);

function show(id) {
  for (const s of ['loading', 'setup', 'backup', 'finished', 'challenge', 'locked']) $(s).hidden = s !== id;
}

function choiceButtons(container, kinds, onPick) {
  container.replaceChildren(...kinds.map((k) => el('button', {
    type: 'button', class: 'secondary method-choice', 'data-method': k,
    onclick: () => onPick(k),
  }, el('b', { text: METHODS[k].name }), el('span', { class: 'muted', text: METHODS[k].hint }))));
}

function locked(err) {
  $('locked-message').textContent = lockMessage(err);
  show('locked');
}

async function runSetup() {
  show('setup');
  const primaries = ['totp', 'email_otp'];
  if (webauthnSupported()) primaries.push('webauthn');
  const pick = async (kind) => {
    $('setup-primary-choice').hidden = true;
    const ok = await setupMethod(kind, $('setup-panel'), { onError: onSetupError });
    if (!ok) { $('setup-primary-choice').hidden = false; return; }
    resetCsrf(); // the session moved to "full" under a new token
    runBackup();
  };
  choiceButtons($('primary-choices'), primaries, pick);
}

function runBackup() {
  show('backup');
  const pick = async (kind) => {
    $('backup-choices').hidden = true;
    const ok = await setupMethod(kind, $('backup-panel'), { onError: onSetupError });
    if (!ok) { $('backup-choices').hidden = false; return; }
    show('finished');
  };
  choiceButtons($('backup-choices'), ['backup_codes', 'security_questions'], pick);
}

function onSetupError(err) {
  if (err.code === 'reauth_required' || err.code === 'second_factor_required') {
    // The setup took too long or another session configured a method first.
    window.location.reload();
    return;
  }
  if (err.code === 'not_signed_in') { window.location.assign('/login'); return; }
  alert(err.message);
}

async function runChallenge() {
  show('challenge');
  const info = await api('GET', '/api/2fa');
  const configured = info.methods.filter((m) => m.configured);
  configured.sort((a, b) => Number(b.primary) - Number(a.primary));
  const kinds = configured.map((m) => m.kind).filter((k) => k !== 'webauthn' || webauthnSupported());
  const opts = { remember: true, onLocked: locked };
  const ask = async (kind) => {
    $('other-methods').hidden = true;
    const others = kinds.filter((k) => k !== kind);
    $('other-method').hidden = others.length === 0;
    $('other-methods').replaceChildren(...others.map((k) => el('li', {}, el('button', {
      type: 'button', class: 'secondary', 'data-method': k, onclick: () => ask(k),
    }, METHODS[k].name))));
    await challengeForm(kind, $('challenge-panel'), opts);
    resetCsrf();
    window.location.assign(nextPath());
  };
  $('other-method').addEventListener('click', () => { $('other-methods').hidden = !$('other-methods').hidden; });
  if (kinds.length) ask(kinds[0]);
}

/** Where to go once signed in: the `next` page the sign-in page passed on (same site only). */
function nextPath() {
  const next = new URLSearchParams(window.location.search).get('next') || '/';
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

async function main() {
  $('nav-logout').addEventListener('click', async () => {
    try { await api('POST', '/api/auth/logout'); } catch { /* already signed out */ }
    resetCsrf();
    window.location.assign('/');
  });
  const session = await loadSession();
  if (!session) { window.location.replace('/login'); return; }
  if (session.stage === 'needs_2fa_setup') return runSetup();
  if (session.stage === 'password_ok') return runChallenge();
  window.location.replace('/');
}

main();
