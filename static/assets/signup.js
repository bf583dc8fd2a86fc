// /signup: create an account. The terms dialog must be accepted; the (i)
// button shows the password policy; invite mode shows a notice instead.
import { api } from '/assets/api.js';
import { $, onSubmit, policyToggle } from '/assets/auth-common.js';

let terms = null;

async function loadTerms() {
  if (!terms) terms = await api('GET', '/api/terms');
  $('terms-version').textContent = `(version ${terms.version})`;
  $('terms-text').textContent = terms.text;
  return terms;
}

function openTerms() {
  $('terms-dialog').showModal();
  loadTerms().catch(() => { $('terms-text').textContent = 'The terms could not be loaded. Try again later.'; });
}

async function main() {
  const form = $('signup-form');
  policyToggle($('policy-button'), $('policy'));

  try {
    const info = await api('GET', '/api/auth/signup');
    if (info.signup_mode !== 'open') {
      $('form-card').hidden = true;
      $('closed').hidden = false;
      return;
    }
  } catch { /* the form still works; the server answers signup_closed if need be */ }

  $('terms-open').addEventListener('click', openTerms);
  // Ticking the box opens the terms: they are accepted in the dialog.
  $('accept').addEventListener('click', (ev) => {
    if ($('accept').checked && !$('accept_terms_version').value) {
      ev.preventDefault();
      openTerms();
    } else if (!$('accept').checked) {
      $('accept_terms_version').value = '';
    }
  });
  $('terms-accept').addEventListener('click', async () => {
    const t = await loadTerms();
    $('accept_terms_version').value = t.version;
    $('accept').checked = true;
    $('terms-dialog').close();
  });
  $('terms-decline').addEventListener('click', () => $('terms-dialog').close());

  onSubmit(form, async (data) => {
    if (!data.accept || !data.accept_terms_version) {
      openTerms();
      throw { message: 'Read and accept the terms and conditions to create an account.', field: 'accept' };
    }
    const body = {
      email: data.email,
      full_name: data.full_name,
      password: data.password,
      accept_terms_version: data.accept_terms_version,
    };
    if (data.username.trim()) body.username = data.username.trim();
    try {
      await api('POST', '/api/auth/signup', body);
    } catch (err) {
      if (err.code === 'signup_closed') { $('form-card').hidden = true; $('closed').hidden = false; return; }
      if (err.field === 'accept_terms_version') err.field = 'accept';
      throw err;
    }
    $('done-email').textContent = data.email.trim();
    $('form-card').hidden = true;
    $('done').hidden = false;
  });
}

main();
