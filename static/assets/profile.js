// /profile: name and phone, password change, the accepted terms, sign-out.
import { api, loadSession, resetCsrf, showStatus } from '/assets/api.js';
import { $, onSubmit, policyToggle } from '/assets/auth-common.js';

async function signOut() {
  try { await api('POST', '/api/auth/logout'); } finally {
    resetCsrf();
    window.location.assign('/login');
  }
}

function showProfile(p) {
  $('username').textContent = p.username;
  $('email').textContent = p.email;
  $('full_name').value = p.full_name;
  $('phone').value = p.phone || '';
  $('terms-accepted').textContent = p.terms_version_accepted || 'none';
  $('terms-accepted-at').textContent = p.terms_accepted_at
    ? ` on ${new Date(p.terms_accepted_at).toLocaleDateString()}` : '';
  const outdated = p.terms_version_accepted !== p.terms_current_version;
  $('terms-outdated').hidden = !outdated;
  $('terms-accept').hidden = !outdated;
}

async function main() {
  const session = await loadSession();
  if (!session) { window.location.replace('/login?next=/profile'); return; }
  if (session.stage !== 'full') { window.location.replace('/two-factor'); return; }
  let profile = await api('GET', '/api/profile');
  showProfile(profile);
  $('loading').hidden = true;
  $('content').hidden = false;

  $('nav-logout').addEventListener('click', signOut);
  $('logout').addEventListener('click', signOut);
  policyToggle($('policy-button'), $('policy'));

  const profileForm = $('profile-form');
  onSubmit(profileForm, async (data) => {
    profile = await api('PATCH', '/api/profile', { full_name: data.full_name, phone: data.phone });
    showProfile(profile);
    showStatus(profileForm, 'Saved.');
  });

  const pwForm = $('password-form');
  onSubmit(pwForm, async (data) => {
    await api('POST', '/api/profile/password', {
      current_password: data.current_password,
      new_password: data.new_password,
    });
    pwForm.reset();
    showStatus(pwForm, 'Password changed. Other devices were signed out.');
  });

  $('terms-open').addEventListener('click', async () => {
    $('terms-dialog').showModal();
    try {
      const t = await api('GET', '/api/terms');
      $('terms-version').textContent = `(version ${t.version})`;
      $('terms-text').textContent = t.text;
    } catch { $('terms-text').textContent = 'The terms could not be loaded.'; }
  });
  $('terms-close').addEventListener('click', () => $('terms-dialog').close());
  $('terms-accept').addEventListener('click', async () => {
    const t = await api('GET', '/api/terms');
    await api('POST', '/api/terms/accept', { version: t.version });
    profile = await api('GET', '/api/profile');
    showProfile(profile);
  });
}

main().catch(() => { $('loading').textContent = 'Your profile could not be loaded. Reload the page to try again.'; });
