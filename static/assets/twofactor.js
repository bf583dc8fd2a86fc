// Shared second-factor UI: method names, the setup panels of every method, the
// sign-in challenge form, and WebAuthn base64url conversions. Used by
// /two-factor (first setup and sign-in) and /security (settings).
// Everything is built with createElement/textContent: no innerHTML anywhere.
import { api, ApiError } from '/assets/api.js';

export const METHODS = {
  totp: { name: 'Mobile authenticator app', hint: 'A 6-digit code from an app on your phone.' },
  email_otp: { name: 'Code by email', hint: 'A 6-digit code sent to your email address.' },
  webauthn: { name: 'Security key or this device', hint: 'Windows Hello, Touch ID, Face ID, a passkey or a USB security key.' },
  security_questions: { name: 'Security questions', hint: 'Answer two of your three questions.' },
  backup_codes: { name: 'Backup codes', hint: 'One of 15 single-use codes you keep somewhere safe.' },
};

export const AUTHENTICATOR_APPS = [
  ['Google Authenticator', 'iOS and Android'],
  ['Microsoft Authenticator', 'iOS and Android'],
  ['Authy (Twilio)', 'iOS and Android'],
  ['1Password', 'iOS, Android and desktop'],
  ['Bitwarden Authenticator', 'iOS and Android'],
  ['FreeOTP', 'iOS and Android'],
  ['Aegis Authenticator', 'Android'],
];

/** el('p', {class: 'muted'}, 'text', child) — a tiny DOM builder (text via textContent). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

export function errorBox() { return el('p', { class: 'error', 'data-role': 'error', role: 'alert', hidden: true }); }
export function statusBox() { return el('p', { class: 'status', 'data-role': 'status', role: 'status', hidden: true }); }

export function showErr(box, err) {
  box.textContent = err ? (err.message || String(err)) : '';
  box.hidden = !err;
}

/** Minutes and clock time until a lock ends, for 423 answers. */
export function lockMessage(err) {
  const secs = Number((err.details && err.details.retry_after_s) || 900);
  const until = new Date(Date.now() + secs * 1000);
  const mins = Math.ceil(secs / 60);
  return `Too many wrong answers: your account is locked for security. Try again in ${mins} minute${mins === 1 ? '' : 's'}, at ${until.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}. We have emailed you in case it was not you.`;
}

/** The message for a failed verification (attempts left, lock). */
export function verifyMessage(err) {
  if (err.status === 423) return lockMessage(err);
  return err.message;
}

// ------------------------------------------------------------ base64url

export function b64urlToBytes(s) {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToB64url(buf) {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function webauthnSupported() {
  return !!(window.PublicKeyCredential && navigator.credentials);
}

/** Registers a new credential from the server's creation options. */
export async function webauthnCreate(options) {
  const publicKey = {
    ...options,
    challenge: b64urlToBytes(options.challenge),
    user: { ...options.user, id: b64urlToBytes(options.user.id) },
    excludeCredentials: (options.excludeCredentials || []).map((c) => ({ ...c, id: b64urlToBytes(c.id) })),
  };
  const cred = await navigator.credentials.create({ publicKey });
  return {
    id: cred.id,
    rawId: bytesToB64url(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: bytesToB64url(cred.response.clientDataJSON),
      attestationObject: bytesToB64url(cred.response.attestationObject),
    },
  };
}

/** Signs the server's request options with a registered credential. */
export async function webauthnGet(options) {
  const publicKey = {
    ...options,
    challenge: b64urlToBytes(options.challenge),
    allowCredentials: (options.allowCredentials || []).map((c) => ({ ...c, id: b64urlToBytes(c.id) })),
  };
  const cred = await navigator.credentials.get({ publicKey });
  return {
    id: cred.id,
    rawId: bytesToB64url(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: bytesToB64url(cred.response.clientDataJSON),
      authenticatorData: bytesToB64url(cred.response.authenticatorData),
      signature: bytesToB64url(cred.response.signature),
      userHandle: cred.response.userHandle ? bytesToB64url(cred.response.userHandle) : null,
    },
  };
}

// ------------------------------------------------------------ setup panels

function codeInput(name = 'code') {
  return el('input', {
    type: 'text', name, inputmode: 'numeric', autocomplete: 'one-time-code',
    pattern: '[0-9 ]{6,7}', maxlength: '7', required: true, 'aria-label': '6-digit code',
  });
}

/** The server's QR SVG as an inline <svg> node (parsed, never innerHTML). */
function qrNode(svgText) {
  const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
  const svg = doc.documentElement;
  if (svg.nodeName.toLowerCase() !== 'svg') return el('p', { class: 'muted', text: 'QR code unavailable: use the setup key.' });
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'QR code for your authenticator app');
  svg.setAttribute('class', 'qr');
  return document.importNode(svg, true);
}

/**
 * Builds the setup panel of `kind` inside `root`. Resolves `true` once the
 * method is configured, `false` when the user cancels. `onError(err)` gets
 * errors other than input mistakes (e.g. reauth_required).
 */
export function setupMethod(kind, root, { onError } = {}) {
  return new Promise((resolve) => {
    root.replaceChildren();
    const err = errorBox();
    const cancel = el('button', { type: 'button', class: 'secondary', text: 'Cancel', onclick: () => { root.replaceChildren(); resolve(false); } });
    const fail = (e) => {
      if (e instanceof ApiError && (e.code === 'reauth_required' || e.status === 401 || e.status === 423) && onError) {
        onError(e);
        return;
      }
      showErr(err, e);
    };
    const builders = { totp: setupTotp, email_otp: setupEmail, security_questions: setupQuestions, backup_codes: setupBackupCodes, webauthn: setupWebauthn };
    builders[kind](root, { err, cancel, fail, done: () => resolve(true) });
  });
}

function setupTotp(root, { err, cancel, fail, done }) {
  const dialog = el('dialog', { 'aria-labelledby': 'totp-title' });
  const apps = el('ul', {}, ...AUTHENTICATOR_APPS.map(([n, p]) => el('li', {}, el('b', { text: n }), ` (${p})`)));
  const qr = el('div', { class: 'qr-box' });
  const key = el('code', { class: 'setup-key', 'data-role': 'setup-key' });
  const input = codeInput();
  const form = el('form', {},
    el('h2', { id: 'totp-title', text: 'Set up a mobile authenticator' }),
    el('p', { text: 'Install one of these apps on your phone (any app that supports standard time-based codes works):' }),
    apps,
    el('p', { text: 'In the app, add an account and scan this QR code:' }),
    qr,
    el('p', { class: 'muted' }, "Can't scan it? Enter this setup key instead (time-based):"),
    el('p', {}, key),
    el('label', { for: 'totp-code', text: 'Enter the 6-digit code the app shows' }),
    input,
    err,
    el('div', { class: 'actions' }, el('button', { type: 'submit', text: 'Verify and turn on' }),
      el('button', { type: 'button', class: 'secondary', text: 'Cancel', onclick: () => { dialog.close(); cancel.click(); } })),
  );
  input.id = 'totp-code';
  dialog.append(form);
  root.append(el('p', { class: 'muted', text: 'Preparing your authenticator setup…' }), dialog);
  api('POST', '/api/2fa/totp/setup').then((s) => {
    qr.replaceChildren(qrNode(s.qr_svg));
    key.textContent = s.secret.replace(/(.{4})/g, '$1 ').trim();
    dialog.showModal();
    input.focus();
  }).catch(fail);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showErr(err, null);
    try {
      await api('POST', '/api/2fa/totp/confirm', { code: input.value });
      dialog.close();
      root.replaceChildren(el('p', { class: 'status', text: 'Your authenticator app is set up.' }));
      done();
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) showErr(err, e);
      else { dialog.close(); fail(e); }
    }
  });
}

function setupEmail(root, { err, cancel, fail, done }) {
  const input = codeInput();
  const status = statusBox();
  const resend = el('button', { type: 'button', class: 'secondary', text: 'Resend code' });
  const form = el('form', {},
    el('h2', { text: 'Codes by email' }),
    el('p', { text: 'We sent a 6-digit code to your email address. It is valid for 10 minutes.' }),
    el('label', { for: 'email-code', text: 'Code from the email' }),
    input, err, status,
    el('div', { class: 'actions' }, el('button', { type: 'submit', text: 'Verify and turn on' }), resend, cancel),
  );
  input.id = 'email-code';
  root.append(form);
  const send = () => api('POST', '/api/2fa/email/setup').then(() => {
    status.textContent = 'Code sent. Check your inbox.'; status.hidden = false;
  }).catch((e) => showErr(err, e));
  send();
  resend.addEventListener('click', () => { showErr(err, null); send(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showErr(err, null);
    try {
      await api('POST', '/api/2fa/email/confirm', { code: input.value });
      root.replaceChildren(el('p', { class: 'status', text: 'Codes by email are turned on.' }));
      done();
    } catch (e) { fail(e); }
  });
}

function setupQuestions(root, { err, cancel, fail, done }) {
  const selects = [0, 1].map((i) => el('select', { name: `q${i}`, id: `q${i}`, required: true }));
  const answers = [0, 1, 2].map((i) => el('input', { type: 'text', name: `a${i}`, id: `a${i}`, maxlength: '200', required: true, autocomplete: 'off' }));
  const custom = el('input', { type: 'text', name: 'custom_question', id: 'custom-q', maxlength: '200', required: true, minlength: '5' });
  const form = el('form', {},
    el('h2', { text: 'Security questions' }),
    el('p', { class: 'muted', text: 'Choose two questions from the list and write one of your own. At sign-in we ask two of the three. Answers ignore upper/lower case and extra spaces.' }),
    el('label', { for: 'q0', text: 'Question 1' }), selects[0],
    el('label', { for: 'a0', text: 'Answer 1' }), answers[0],
    el('label', { for: 'q1', text: 'Question 2' }), selects[1],
    el('label', { for: 'a1', text: 'Answer 2' }), answers[1],
    el('label', { for: 'custom-q', text: 'Your own question' }), custom,
    el('label', { for: 'a2', text: 'Answer 3' }), answers[2],
    err,
    el('div', { class: 'actions' }, el('button', { type: 'submit', text: 'Save questions' }), cancel),
  );
  root.append(form);
  api('GET', '/api/2fa/questions/catalog').then(({ questions }) => {
    for (const s of selects) {
      s.append(el('option', { value: '', text: 'Choose a question…' }));
      for (const q of questions) s.append(el('option', { value: q.id, text: q.text }));
    }
  }).catch(fail);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showErr(err, null);
    if (selects[0].value === selects[1].value) { showErr(err, new Error('Choose two different questions.')); return; }
    try {
      await api('POST', '/api/2fa/questions', {
        answers: [
          { question_id: selects[0].value, answer: answers[0].value },
          { question_id: selects[1].value, answer: answers[1].value },
          { custom_question: custom.value, answer: answers[2].value },
        ],
      });
      root.replaceChildren(el('p', { class: 'status', text: 'Your security questions are saved.' }));
      done();
    } catch (e) { fail(e); }
  });
}

/** Shows a fresh set of backup codes with "Download codes". */
export function showBackupCodes(root, codes, onDone) {
  const list = el('ol', { class: 'codes', 'data-role': 'backup-codes' }, ...codes.map((c) => el('li', { text: c })));
  const download = el('button', {
    type: 'button', class: 'secondary', text: 'Download codes',
    onclick: () => {
      const text = `Backup codes for ${location.host}\nEach code works once. Keep them somewhere safe.\n\n${codes.join('\n')}\n`;
      const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
      const a = el('a', { href: url, download: 'backup-codes.txt' });
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    },
  });
  root.replaceChildren(
    el('h2', { text: 'Your backup codes' }),
    el('p', { text: 'Each code works once. Save them now: they will not be shown again.' }),
    list,
    el('div', { class: 'actions' }, download, el('button', { type: 'button', text: "I've saved them", onclick: onDone })),
  );
}

function setupBackupCodes(root, { err, cancel, fail, done }) {
  const go = el('button', { type: 'button', text: 'Create backup codes' });
  root.append(
    el('h2', { text: 'Backup codes' }),
    el('p', { text: 'We create 15 single-use codes. Use one when you cannot use your usual method. Creating new codes makes the old ones stop working.' }),
    err, el('div', { class: 'actions' }, go, cancel),
  );
  go.addEventListener('click', async () => {
    showErr(err, null);
    try {
      const { codes } = await api('POST', '/api/2fa/backup-codes');
      showBackupCodes(root, codes, () => { root.replaceChildren(el('p', { class: 'status', text: 'Backup codes are ready.' })); done(); });
    } catch (e) { fail(e); }
  });
}

function setupWebauthn(root, { err, cancel, fail, done }) {
  const label = el('input', { type: 'text', name: 'label', id: 'wa-label', maxlength: '60', placeholder: 'e.g. My laptop' });
  const go = el('button', { type: 'button', text: 'Register this device or key' });
  root.append(
    el('h2', { text: 'Security key or this device' }),
    el('p', { text: 'Use Windows Hello, Touch ID, Face ID, a passkey or a USB/NFC security key. Your browser will ask you to confirm.' }),
    webauthnSupported() ? null : el('p', { class: 'error', text: 'This browser does not support Web Authentication.' }),
    el('label', { for: 'wa-label', text: 'Name (optional)' }), label,
    err, el('div', { class: 'actions' }, go, cancel),
  );
  go.addEventListener('click', async () => {
    showErr(err, null);
    go.disabled = true;
    try {
      const options = await api('POST', '/api/2fa/webauthn/register/options');
      const credential = await webauthnCreate(options);
      await api('POST', '/api/2fa/webauthn/register', { credential, label: label.value || undefined });
      root.replaceChildren(el('p', { class: 'status', text: 'Your device is registered.' }));
      done();
    } catch (e) {
      if (e instanceof ApiError) fail(e);
      else showErr(err, new Error('The browser did not finish the registration (cancelled or not allowed).'));
    } finally { go.disabled = false; }
  });
}

// ------------------------------------------------------------ challenge

/**
 * The second-factor challenge for `kind` inside `root`. Resolves when verified.
 * `opts.remember` adds "Remember me on this device"; `opts.onLocked(err)` is called on 423.
 */
export function challengeForm(kind, root, opts = {}) {
  return new Promise((resolve) => {
    root.replaceChildren();
    const err = errorBox();
    const status = statusBox();
    const remember = el('input', { type: 'checkbox', name: 'remember_device', id: 'remember-device' });
    const rememberRow = opts.remember ? el('label', { class: 'inline', for: 'remember-device' }, remember, 'Remember me on this device for 14 days') : null;
    const form = el('form', { 'data-method': kind });
    const submit = el('button', { type: 'submit', text: 'Verify' });
    let body = () => ({});
    const fields = el('div');
    form.append(el('h2', { text: METHODS[kind].name }), fields, rememberRow, err, status, el('div', { class: 'actions' }, submit));
    root.append(form);
    const onFail = (e) => {
      if (e instanceof ApiError && e.status === 423) {
        if (opts.onLocked) opts.onLocked(e);
        showErr(err, new Error(lockMessage(e)));
        submit.disabled = true;
        return;
      }
      showErr(err, e instanceof ApiError ? e : new Error('The browser did not finish (cancelled or not allowed).'));
    };
    const start = () => api('POST', '/api/2fa/challenge', { method: kind });
    if (kind === 'totp' || kind === 'email_otp') {
      const input = codeInput();
      input.id = 'challenge-code';
      fields.append(
        el('p', { text: kind === 'totp' ? 'Enter the 6-digit code from your authenticator app.' : 'We emailed you a 6-digit code. It is valid for 10 minutes.' }),
        el('label', { for: 'challenge-code', text: 'Code' }), input,
      );
      body = () => ({ code: input.value });
      if (kind === 'email_otp') {
        const resend = el('button', { type: 'button', class: 'secondary', text: 'Resend OTP' });
        resend.addEventListener('click', async () => {
          showErr(err, null);
          try { await api('POST', '/api/2fa/resend'); status.textContent = 'A new code is on its way.'; status.hidden = false; } catch (e) {
            if (e instanceof ApiError && e.status === 429) {
              const s = Number((e.details && e.details.retry_after_s) || 60);
              showErr(err, new Error(`You can ask for a new code in ${s} seconds.`));
            } else onFail(e);
          }
        });
        fields.append(el('div', { class: 'actions' }, resend));
      }
      start().catch(onFail);
      setTimeout(() => input.focus(), 0);
    } else if (kind === 'backup_codes') {
      const input = el('input', { type: 'text', name: 'code', id: 'challenge-code', autocomplete: 'off', maxlength: '20', required: true });
      fields.append(el('p', { text: 'Enter one of your backup codes. Each code works once.' }), el('label', { for: 'challenge-code', text: 'Backup code' }), input);
      body = () => ({ code: input.value });
    } else if (kind === 'security_questions') {
      let asked = [];
      const inputs = [];
      start().then(({ questions }) => {
        asked = questions;
        questions.forEach((q, i) => {
          const input = el('input', { type: 'text', name: `answer${i}`, id: `answer${i}`, maxlength: '200', required: true, autocomplete: 'off' });
          inputs.push(input);
          fields.append(el('label', { for: `answer${i}`, text: q.text }), input);
        });
      }).catch(onFail);
      body = () => ({ answers: asked.map((q, i) => ({ question_id: q.id, answer: inputs[i].value })) });
    } else if (kind === 'webauthn') {
      fields.append(el('p', { text: 'Use your security key or this device (Windows Hello, Touch ID, Face ID) when your browser asks.' }));
      submit.textContent = 'Use my security key or device';
    }
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      showErr(err, null);
      submit.disabled = true;
      try {
        let payload = { method: kind, ...body() };
        if (kind === 'webauthn') payload.credential = await webauthnGet(await start());
        if (remember.checked) payload.remember_device = true;
        await api('POST', '/api/2fa/verify', payload);
        resolve(true);
      } catch (e) {
        onFail(e);
        // Security questions: the asked pair is used up; ask again.
        if (kind === 'security_questions' && !(e instanceof ApiError && e.status === 423)) {
          challengeForm(kind, root, opts).then(resolve);
          const box = root.querySelector('[data-role=error]');
          if (box) showErr(box, e instanceof ApiError ? e : null);
        }
      } finally { if (!(err.textContent || '').startsWith('Too many')) submit.disabled = false; }
    });
  });
}
