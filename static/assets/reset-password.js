// /reset-password?token=…: sets a new password from the emailed link and signs
// in (the second factor is still asked on /two-factor).
import { api, resetCsrf } from '/assets/api.js';
import { $, onSubmit, param, policyToggle } from '/assets/auth-common.js';

$('token').value = param('token');
policyToggle($('policy-button'), $('policy'));
// The token is in the form now; keep it out of the address bar and history.
window.history.replaceState(null, '', '/reset-password');

onSubmit($('reset-form'), async (data) => {
  const res = await api('POST', '/api/auth/password/reset', {
    token: data.token,
    new_password: data.new_password,
  });
  resetCsrf();
  window.location.assign(res.stage === 'full' ? '/' : '/two-factor');
});
